// harness.mjs: heap use of the device image on MicroPython 1.27 built 32-bit (WebAssembly).
//
//   node harness.mjs --device DIR --fake DIR --stream FILE --baud B --mode NAME
//                    [--phase probe|run] [--heap BYTES] [--ballast BYTES] [--first N] [--frames N]
//                    [--scenario tic|mqtt|web] [--settle N] [--page-every N] [--mjs FILE]
//                    MODULE...
//
// --device: a device image laid out as on the board (lib/, firmware/) with the ESP32 HAL
// selected (tools/mem32.py prepares it); --fake: the fake `machine` and mem32_steps.py
// (tests/mem32_fake). The TIC stream FILE is replayed on the fake UART at B baud, and a state
// file says the meter's mode NAME was detected before. MODULEs are imported one by one, in
// the app's import order, before the app is built (mem32_steps.boot).
// Phases (one interpreter per process: two in one Node process share globals and break):
//   probe: what the harness itself keeps (fake machine, steps module), the imports, the boot,
//          then the boot's objects part by part (mem32_steps.TEARDOWN);
//   run:   imports, boot, N frames (in use after each of the first --first), largest heap.
// tools/mem32.py gives the run a first heap area larger than an ESP32's by exactly what the
// probe found the harness keeps, so the app meets the room it has on a board; --ballast (the
// same bytes) is allocated when the heap first grows, so the second area is a board's too.
// Scenario mqtt (run phase): config.json sets Wi-Fi and a broker, the harness also loads the
// fake clock, socket and broker (tests/mem32_fake/mem32_*.py) before its first reading; after
// --settle frames it starts the Wi-Fi and MQTT tasks (runPythonAsync: the port's asyncio runs
// on the JavaScript loop), runs the publisher's first step (availability, discovery round,
// state, diagnostics), then N frames each followed by one publisher step.
// Scenario web: scenario mqtt plus the web server (issue 10), through an in-memory stream at
// the socket edge: after the discovery round the Server is made (mem32_web.web_start), then
// each frame is followed by the publisher's step and one GET /api/state (the status page's
// poll), and every --page-every frames by a whole page load (the page, its CSS and script,
// /api/session, /api/history, /api/state: one request per call). At the end, the web part is
// dropped in stages to measure what it keeps (mem32_web.web_drop). Before that, the room an
// application update makes (mem32_steps.room: firmware/ota_boot.py make_room), then the
// update refused (mem32_steps.room_back: give_back, MQTT started again).
// --mjs: another build of the same port instead of the npm package: tools/frozen_wasm.py's,
// with the firmware frozen in (code and names in the image, as with the linky image on a
// board). Frozen modules find their data files (www/, lib/ha_tpl.bin) from the current folder,
// the filesystem's root on a board: the image's files that are not code are copied there too.
// Prints one JSON object. Every step runs in its own runPython call and every reading in
// another one after it: within one call the WebAssembly GC can keep garbage alive through
// stale stack slots.
import fs from "node:fs";
import path from "node:path";
import { copyTree } from "./wasmfs.mjs";

function parseArgs(argv) {
  const opts = {
    heap: 56 * 1024, ballast: 0, first: 100, frames: 1000, phase: "run", scenario: "tic", settle: 5,
    "qstr-excess": 0,
    "page-every": 10, modules: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith("--")) {
      const v = argv[++i];
      if (v === undefined) throw new Error(`missing value for ${a}`);
      opts[a.slice(2)] = v;
    } else {
      if (!/^[\w.]+$/.test(a)) throw new Error(`bad module name ${a}`);
      opts.modules.push(a);
    }
  }
  for (const k of ["device", "fake", "stream", "baud", "mode"]) {
    if (!opts[k]) throw new Error(`--${k} is required`);
  }
  for (const k of ["heap", "ballast", "first", "frames", "baud", "settle", "page-every",
                   "qstr-excess"]) {
    opts[k] = Number(opts[k]);
  }
  if (!["tic", "mqtt", "web"].includes(opts.scenario)) {
    throw new Error(`bad scenario ${opts.scenario}`);
  }
  opts.mqtt = opts.scenario !== "tic"; // scenario web includes mqtt
  if (!/^\w+$/.test(opts.mode)) throw new Error(`bad mode ${opts.mode}`);
  if (!["probe", "run"].includes(opts.phase)) throw new Error(`bad phase ${opts.phase}`);
  return opts;
}

// One interpreter with the image, the fake and the stream in its filesystem.
async function interpreter(opts, heap) {
  // keys: reading number -> name (numbers in the Python code: a string literal there would
  // be interned and stay in the heap)
  const st = { readings: {}, keys: [], perFrame: [], names: {}, other: [], capture: null,
               qtot: {} };
  const onLine = (line) => {
    for (const l of String(line).split("\n")) {
      if (st.capture !== null) { st.capture.push(l); continue; }
      let m = /^MEM32([AP]?) (\S+) (-?\d+)$/.exec(l);
      if (m) {
        const v = Number(m[3]);
        let key = /^\d+$/.test(m[2]) ? st.keys[Number(m[2])] : m[2];
        if (m[1]) key = `${m[1] === "A" ? "area" : "peak"}_${key}`;
        if (process.env.MEM32_TRACE) process.stderr.write(`${key} ${v}\n`);  // a debugging aid
        if (key === "frame") st.perFrame.push(v);
        else st.readings[key] = v;
      } else if ((m = /^MEM32T (\d+) (.*)$/.exec(l))) {
        st.names[m[1]] = m[2];
      } else if (l.length) {
        if (process.env.MEM32_TRACE) process.stderr.write(`> ${l}\n`);
        st.other.push(l);
        if (st.other.length > 50) st.other.shift();
      }
    }
  };
  const { loadMicroPython } = await import(
    opts.mjs ? path.resolve(opts.mjs) : "@micropython/micropython-webassembly-pyscript");
  const mp = await loadMicroPython({ heapsize: heap, stdout: onLine, stderr: onLine });
  copyTree(mp, opts.device, "/flash");
  copyTree(mp, opts.fake, "/fake");
  mp.FS.mkdir("/tic");
  mp.FS.writeFile("/tic/stream", fs.readFileSync(opts.stream));
  mp.FS.mkdir("/state");
  if (opts.mjs) copyTree(mp, opts.device, "/state", true);
  st.py = (code) => {
    try {
      mp.runPython(code);
    } catch (e) {
      throw new Error(`runPython failed: ${code}\n${e}\n${st.other.slice(-20).join("\n")}`);
    }
  };
  // runPythonAsync hands JavaScript a proxy of the call's coroutine: the port keeps the
  // Python object (~150 B) alive until V8 finalizes the proxy, which it does only after one of
  // its own collections (measured: +155 B per call, for ever, without them). So after each
  // async call, a V8 collection (node --expose-gc) and a turn of the loop for the finalizers.
  st.pyAsync = async (code) => {
    try {
      await mp.runPythonAsync(code);
    } catch (e) {
      throw new Error(`runPythonAsync failed: ${code}\n${e}\n${st.other.slice(-20).join("\n")}`);
    }
    if (typeof globalThis.gc !== "function") throw new Error("run node with --expose-gc");
    globalThis.gc();
    await new Promise((resolve) => setTimeout(resolve, 0));
  };
  st.inUse = (name) => {
    // The first collection after a step still finds some of its garbage through the stack
    // (measured: a freed 1.6 KB list is reclaimed one call later): collect in a call of its
    // own, then read.
    st.keys.push(name);
    st.py("S.collect()");
    st.py(`S.in_use(${st.keys.length - 1})`);
    // the run-time names' bytes at each reading but the frames' (tools/mem32.py summarize())
    if (name !== "frame") st.qtot[name] = st.qstrs(false).total;
    return st.readings[name];
  };
  // micropython.qstr_info(): the run-time names' count and bytes (pools and text), and with
  // `names` the names themselves (tools/mem32.py qstr_excess()).
  st.qstrs = (names) => {
    st.capture = [];
    st.py(`import micropython\nmicropython.qstr_info(${names ? 1 : 0})`);
    const lines = st.capture.map((l) => l.replace(/\r$/, ""));
    st.capture = null;
    const m = /n_qstr=(\d+), n_str_data_bytes=(\d+), n_total_bytes=(\d+)/.exec(lines.join(" "));
    if (!m) throw new Error(`no qstr_info summary:\n${lines.slice(0, 5).join("\n")}`);
    const q = { n: Number(m[1]), text: Number(m[2]), total: Number(m[3]) };
    if (names) q.names = lines.filter((l) => l.startsWith("Q(")).map((l) => l.slice(2, -1));
    return q;
  };
  st.memInfo = () => {
    st.capture = [];
    st.py("import micropython; micropython.mem_info()");
    const text = st.capture.join("\n");
    st.capture = null;
    const m = /GC: total: (\d+)/.exec(text);
    if (!m) throw new Error(`no GC total in mem_info:\n${text}`);
    return { total: Number(m[1]), text };
  };
  // Bare interpreter, then the fake machine (ROM on a board) and the steps module.
  st.py("import sys, os, gc\nsys.path[:] = ['', '.frozen', '/flash/lib', '/flash', '/fake']");
  st.py("os.chdir('/state')");
  st.py("gc.collect(); gc.collect(); print('MEM32 bare', gc.mem_alloc())");
  st.py("import machine, network, mem32_steps as S\nS.collect_each_step = True");
  if (opts.mqtt) st.py("import mem32_clock, mem32_socket, mem32_broker");
  if (opts.scenario === "web") st.py("import mem32_web as W");
  st.py("for i in range(len(S.TEARDOWN)): print('MEM32T %d %s' % (i, S.TEARDOWN[i][0]))");
  st.start = st.memInfo();
  st.py(`S.calibrate(${st.start.total})`);
  st.py(`S.BALLAST_SIZE = ${opts.ballast}`); // see mem32_steps: the growth's ballast
  st.inUse("base");
  st.qstrBase = st.qstrs(false);
  st.S = mp.pyimport("mem32_steps");
  return st;
}

// Imports and boot, the same in both interpreters.
function boot(st, opts) {
  const py = st.py;
  py("S.asyncio_import()");
  st.inUse("asyncio");
  if (opts.mqtt) {
    py("S.edge_mqtt()");
    st.inUse("edge");
  }
  for (const m of opts.modules) {
    py(`S.import_module('${m}')`);
    st.inUse(`import:${m}`);
  }
  if (opts.mqtt) py("S.edge_socket()");
  py(`S.save_state('${opts.mode}', ${opts.baud})`);
  py(`S.plug('/tic/stream', ${opts.baud})`);
  if (opts.phase === "probe") py("S.SNAPSHOT = True");
  py("S.boot()");
  for (let i = 0; i < 12; i++) { // S.BOOT_STEPS_MAX
    py(`S.boot_step(${i})`);
    st.inUse(`boot_step${i}`); // in use, heap size and peak after each step of the build
  }
  // The names are in: from here on readings leave out what only the harness interned.
  if (opts.phase === "run") py(`S.QSTR_EXCESS = ${opts["qstr-excess"]}`);
  st.inUse("boot");
  if (opts.phase === "probe") st.qstrBoot = st.qstrs(true);
}

// An error inside the minified runtime makes Node print a megabyte of source: say it short.
process.on("uncaughtException", (e) => {
  process.stderr.write(`harness.mjs: ${String(e && e.stack ? e.stack : e).slice(0, 4000)}\n`);
  process.exit(1);
});

const opts = parseArgs(process.argv.slice(2));
const st = await interpreter(opts, opts.heap);
const py = st.py;
const out = {
  phase: opts.phase,
  heap_start: st.start.total, // the first heap area
  harness: st.readings.base - st.readings.bare, // kept by the fake machine and steps module
};
boot(st, opts);
if (opts.phase === "probe") {
  out.qstr = { base: st.qstrBase, boot: st.qstrBoot };
  // What boot keeps, part by part.
  out.boot_parts = [];
  let prev = st.readings.boot;
  for (let i = 0; st.names[i] !== undefined; i++) {
    py(`S.teardown(${i})`);
    const v = st.inUse(`teardown${i}`);
    out.boot_parts.push([st.names[i], prev - v]);
    prev = v;
  }
} else if (opts.mqtt) {
  const web = opts.scenario === "web";
  const step = st.S.step;
  let polls = 0;
  let frames = 0;
  const until = (target) => {
    while ((frames = step()) < target) {
      if (++polls > 1e7) throw new Error(`no frames after ${polls} polls`);
    }
  };
  const pick = () => {
    const o = {};
    for (const [k, v] of Object.entries(st.readings)) {
      if (/^(broker_|pub_|entities)/.test(k)) o[k] = v;
    }
    return o;
  };
  until(opts.settle); // the meter id confirmed, indexes too (mqtt_pub.SETTLE_FRAMES)
  st.inUse("settled");
  py("S.broker_watch(True)");
  await st.pyAsync("await S.mqtt_start()");
  st.inUse("connected");
  py("S.mqtt_report()");
  out.connect = pick();
  py("S.broker_watch(True)");
  // The first step after connecting: availability, the discovery round, state, diagnostics.
  await st.pyAsync("await S.mqtt_step()");
  st.inUse("discovery");
  py("S.mqtt_report()");
  out.round = pick();
  py("S.broker_watch(False)");
  py("S.mqtt_alloc_reset()");
  if (web) {
    py("W.web_start()");
    st.inUse("web_built");
  }
  const pages = [];
  const f0 = frames;
  for (let i = 1; i <= opts.frames; i++) {
    until(f0 + i);
    await st.pyAsync("await S.mqtt_step()");
    if (web) {
      if (i % opts["page-every"] === 0) {
        for (let k = 0; k < 6; k++) await st.pyAsync(`await W.web_page(${k})`);
        if (pages.length < 20) pages.push(st.inUse("page"));
      } else {
        await st.pyAsync("await W.web_get(0)");
      }
    }
    if (i <= opts.first) st.inUse("frame");
    if (i === opts.first) {
      st.inUse("first");
      py("S.frames_report()");
      py("S.mqtt_report()");
      out.first = {
        frames: st.readings.frames,
        area_max: st.readings.area_max,
        peak: st.readings.peak,
        in_use: st.perFrame,
        mqtt: pick(),
      };
    }
  }
  st.inUse("steady");
  py("S.frames_report()");
  py("S.mqtt_report()");
  out.mqtt = pick();
  out.frames_mqtt = frames - f0;
  if (web) {
    py("W.web_report()");
    out.pages = pages;
    out.web = {};
    for (const [k, v] of Object.entries(st.readings)) if (k.startsWith("web_")) out.web[k] = v;
    out.web.area_max = st.readings.area_steady;
    out.web.peak = st.readings.peak_steady;
    // An application update from a URL: the room it makes before its heavy phases (the same
    // function the firmware calls: MQTT stopped and dropped; the web server stays), a page
    // poll meanwhile; then the update refused: MQTT started again as at boot, its round, and
    // a few frames with polls, after which the firmware holds what it held before.
    await st.pyAsync("await S.room_kept()"); // room enough: MQTT keeps publishing
    st.inUse("room_kept");
    py("S.peak_reset()"); // a frame published meanwhile (in use at its writes, garbage included)
    until(frames + 1);
    await st.pyAsync("await S.mqtt_step()");
    st.inUse("room_kept_pub");
    py("S.peak_reset()"); // a page poll meanwhile: the held server's 503 (lib/httpd_hold.py)
    await st.pyAsync("await W.web_get(0)");
    st.inUse("room_kept_poll");
    await st.pyAsync("await S.room()"); // no room: MQTT stopped for the update
    st.inUse("room");
    py("S.peak_reset()"); // the poll's own peak (in use at its writes, garbage included)
    await st.pyAsync("await W.web_get(0)");
    st.inUse("room_poll");
    await st.pyAsync("await S.room_back()");
    await st.pyAsync("await S.room_connected()");
    st.inUse("restored");
    py("S.broker_watch(False)");
    await st.pyAsync("await S.mqtt_step()");
    st.inUse("restored_round");
    const f2 = frames;
    for (let i = 1; i <= 5; i++) {
      until(f2 + i);
      await st.pyAsync("await S.mqtt_step()");
      await st.pyAsync("await W.web_get(0)");
    }
    st.inUse("restored_after");
    for (let k = 0; k < 3; k++) {
      py(`W.web_drop(${k})`);
      st.inUse(`web_drop${k}`);
    }
  }
  // A second round (the `rediscover` command): what the first one left for good is not kept
  // twice.
  py("S.rediscover()");
  py("S.broker_watch(True)");
  await st.pyAsync("await S.mqtt_step()");
  st.inUse("rediscovery");
  py("S.mqtt_report()");
  out.round2 = pick();
  // ... and a few frames later (what a round leaves may be held until the next steps)
  const f1 = frames;
  for (let i = 1; i <= 5; i++) {
    until(f1 + i);
    await st.pyAsync("await S.mqtt_step()");
  }
  st.inUse("rediscovery_after");
  out.polls = polls;
  const end = st.memInfo();
  out.heap_end = end.total;
  out.mem_info_end = end.text;
  out.log_tail = st.other.slice(-3);
} else {
  // One poll per call from JavaScript: the port can collect only between calls.
  const step = st.S.step;
  let polls = 0;
  const until = (target) => {
    while (step() < target) {
      if (++polls > 1e7) throw new Error(`no frames after ${polls} polls`);
    }
  };
  for (let i = 1; i <= opts.first; i++) {
    until(i);
    st.inUse("frame");
  }
  st.inUse("first");
  py("S.frames_report()");
  out.first = {
    frames: st.readings.frames,
    area_max: st.readings.area_max,
    peak: st.readings.peak,
    in_use: st.perFrame,
  };
  until(opts.frames);
  st.inUse("steady");
  py("S.frames_report()");
  out.polls = polls;
  const end = st.memInfo();
  out.heap_end = end.total;
  out.mem_info_end = end.text;
  out.log_tail = st.other.slice(-3);
}
out.readings = st.readings;
out.qtot = st.qtot;
// exit when written: the MQTT tasks' timers would keep Node running
process.stdout.write(JSON.stringify(out) + "\n", () => process.exit(0));
