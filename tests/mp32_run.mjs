// mp32_run.mjs PACKAGE_JS ROOT TEST FILE...: run a dual test module (tests/mpunit.py protocol)
// on the WebAssembly port of MicroPython 1.27, built 32-bit like an ESP32's (31-bit small ints,
// 16-bit big-int digits). FILEs (paths relative to ROOT) are copied into its filesystem first;
// ROOT is its current directory. Used by tests/test_ed25519_32bit.py.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [pkg, root, test, ...files] = process.argv.slice(2);
const { loadMicroPython } = await import(pathToFileURL(pkg).href);
const mp = await loadMicroPython({
  heapsize: 4 * 1024 * 1024,
  stdout: (l) => console.log(l),
  stderr: (l) => console.log(l),
});
for (const rel of [...files, test]) {
  let dir = "";
  for (const part of rel.split("/").slice(0, -1)) {
    dir += "/" + part;
    try { mp.FS.mkdir(dir); } catch (e) { /* exists */ }
  }
  mp.FS.writeFile("/" + rel, fs.readFileSync(path.join(root, rel)));
}
mp.runPython("import os, sys\nos.chdir('/')\nsys.path[:0] = ['/lib', '/tests']\n" +
             "print('MP32', sys.implementation.version[:3], sys.maxsize)");
const src = fs.readFileSync(path.join(root, test), "utf8");
try {
  mp.runPython(src.replace('if __name__ == "__main__":', "if True:"));
} catch (e) {
  if (e.type !== "SystemExit") console.log("ERROR " + String(e));
}
