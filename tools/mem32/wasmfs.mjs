// wasmfs.mjs: the host-to-WebAssembly file copy that harness.mjs and ota.mjs share.
import fs from "node:fs";
import path from "node:path";

const isCode = (name) => /\.m?py$/.test(name);

// Does the host folder `src` hold a file that is not code, at any depth?
function holdsData(src) {
  return fs.readdirSync(src).some((name) => {
    const p = path.join(src, name);
    return fs.statSync(p).isDirectory() ? holdsData(p) : !isCode(name);
  });
}

// Copy the host folder `src` into the interpreter's in-memory filesystem at `dst`; with
// `dataOnly`, only the files that are not code (.py, .mpy) and the folders that hold one (an
// empty `firmware/` on the import path would hide the frozen package).
export function copyTree(mp, src, dst, dataOnly = false) {
  if (dataOnly && !holdsData(src)) return;
  try { mp.FS.mkdir(dst); } catch (e) { /* exists */ }
  for (const name of fs.readdirSync(src)) {
    const p = path.join(src, name);
    if (fs.statSync(p).isDirectory()) copyTree(mp, p, `${dst}/${name}`, dataOnly);
    else if (!dataOnly || !isCode(name)) mp.FS.writeFile(`${dst}/${name}`, fs.readFileSync(p));
  }
}
