// wasmfs.mjs: the host-to-WebAssembly file copy that harness.mjs and ota.mjs share.
import fs from "node:fs";
import path from "node:path";

// Copy the host folder `src` into the interpreter's in-memory filesystem at `dst`.
export function copyTree(mp, src, dst) {
  try { mp.FS.mkdir(dst); } catch (e) { /* exists */ }
  for (const name of fs.readdirSync(src)) {
    const p = path.join(src, name);
    if (fs.statSync(p).isDirectory()) copyTree(mp, p, `${dst}/${name}`);
    else mp.FS.writeFile(`${dst}/${name}`, fs.readFileSync(p));
  }
}
