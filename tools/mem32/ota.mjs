// ota.mjs: heap use of one application update on MicroPython 1.27 built 32-bit (WebAssembly).
//
//   node --expose-gc ota.mjs --device DIR --fake DIR --rel DIR --relfw DIR --upload PATH
//        --key HEX [--heap BYTES]
//
// DIR: the device image (lib/, firmware/), tests/mem32_fake (mem32_ota_steps.py) and a
// release directory made by tools/ota.py build (served by the fake HTTP edge as /rel).
// Steps (each its own runPython call, each reading in another call after a collection):
// the bare interpreter, the steps module and the firmware's resident modules (the base); the
// check phase by phase (mem32_ota_steps.verify_phase); then a whole ota.from_url() update,
// stopped at the first reads and every 32nd read of the fake server (the update waits on an
// Event, the call returns to JavaScript, which collects and reads, then lets it go on).
// Readings are bytes in use above the base. Prints one JSON object. tools/mem32_ota.py runs it.
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";
import fs from "node:fs";
import { copyTree } from "./wasmfs.mjs";

const opts = { heap: 1024 * 1024 };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) opts[argv[i].slice(2)] = argv[i + 1];
opts.heap = Number(opts.heap);
if (!/^[0-9a-f]{64}$/.test(opts.key)) throw new Error("--key: 64 hex digits");

const readings = {};
const other = [];
let ok = null;
let qtot = null; // the run-time names' bytes (micropython.qstr_info()), at the last reading
const onLine = (line) => {
  for (const l of String(line).split("\n")) {
    let m = /^qstr pool: .*n_total_bytes=(\d+)/.exec(l);
    if (m) { qtot = Number(m[1]); continue; }
    m = /^MEM32 (\d+) (-?\d+)$/.exec(l);
    if (m) { readings[Number(m[1])] = Number(m[2]); continue; }
    m = /^MEM32OK (\d) (.*)$/.exec(l);
    if (m) { ok = { ok: m[1] === "1", error: m[2] }; continue; }
    if (l.length) { other.push(l); if (other.length > 60) other.shift(); }
  }
};
process.on("uncaughtException", (e) => {
  process.stderr.write(`ota.mjs: ${String(e && e.stack ? e.stack : e).slice(0, 4000)}\n` +
                       other.slice(-30).join("\n") + "\n");
  process.exit(1);
});
const mp = await loadMicroPython({ heapsize: opts.heap, stdout: onLine, stderr: onLine });
copyTree(mp, opts.device, "/flash");
copyTree(mp, opts.fake, "/fake");
copyTree(mp, opts.rel, "/rel");
copyTree(mp, opts.relfw, "/relfw");
mp.FS.mkdir("/state");
const py = (code) => {
  try { mp.runPython(code); } catch (e) {
    throw new Error(`runPython failed: ${code}\n${e}\n${other.slice(-20).join("\n")}`);
  }
};
const pyAsync = async (code) => {
  try { await mp.runPythonAsync(code); } catch (e) {
    throw new Error(`runPythonAsync failed: ${code}\n${e}\n${other.slice(-20).join("\n")}`);
  }
  globalThis.gc();
  await new Promise((resolve) => setTimeout(resolve, 0));
};
let nkey = 0;
// Bytes in use, and beside them (qs) the interned names' bytes at that reading: a board holds
// those names in the pools the firmware already has (tools/mem32_ota.py, qstr-pools.md).
const qs = [];
const inUse = () => {
  py("S.collect()");
  py(`S.in_use(${nkey})`);
  py("import micropython\nmicropython.qstr_info()");
  qs.push(qtot);
  return readings[nkey++];
};

py("import sys, os, gc\nsys.path[:] = ['', '.frozen', '/flash/lib', '/flash', '/fake']");
py("os.chdir('/state')");
py("import asyncio, mem32_ota_steps as S");
// resident in the firmware: not the update's (httpd and firmware.web: the web server's)
py("import firmware, log, firmware.version, httpd, firmware.web");
py(`S.setup('${opts.key}')`);
py("S.collect()"); // the setup's garbage
const out = { base: inUse(), verify: [] };
py("print('MEM32 998', S.PHASES)");
for (let i = 0; i < readings[998]; i++) {
  py(`S.verify_phase(${i})`);
  out.verify.push(inUse() - out.base);
}
// The same phases with what an upload's request holds too (POST /api/ota/upload)
py("S.upload_code(True)");
out.upload_verify = [];
for (let i = 0; i < readings[998]; i++) {
  py(`S.verify_phase(${i})`);
  out.upload_verify.push(inUse() - out.base);
}
py("S.upload_code(False)");
py("S.collect()");
out.before_update = inUse() - out.base;
// The readings at every gated read until the update is done; the last is after it.
const run = async (start) => {
  await pyAsync(start);
  const chunks = [];
  for (let i = 0; i < 100000; i++) {
    chunks.push(inUse() - out.base);
    py("print('MEM32 999', 1 if S.DONE[0] else 0)");
    if (readings[999]) break;
    await pyAsync("await S.next_chunk()");
  }
  return chunks;
};
out.chunks = await run("await S.start()");
out.after_update = out.chunks.pop();
out.download_peak = Math.max(...out.chunks);
out.result = ok;
// Then the same release uploaded (POST /api/ota/upload): what the upload's request holds too.
ok = null;
out.upload_chunks = await run(`await S.start_upload('${opts.upload}')`);
out.after_upload = out.upload_chunks.pop();
out.upload_peak = Math.max(...out.upload_chunks);
out.upload_result = ok;
// Then a release that also carries a MicroPython image (firmware/ota_fw.py into the fake
// esp32.Partition): the app's files, then the image.
ok = null;
out.fw_chunks = await run("await S.start('http://rel.local/f')");
out.after_fw = out.fw_chunks.pop();
out.fw_peak = Math.max(...out.fw_chunks);
out.fw_result = ok;
out.qstr = qs; // in reading order: base, the check's phases, before_update, the chunks
out.log = other.slice(-12);
console.log(JSON.stringify(out));
