#!/usr/bin/env node
// Writes the commands bin/hull and bin/hull-oci: bin/hull.js and bin/hull-oci.js with the Node
// that runs this script in their #! line instead of `/usr/bin/env node`.
//
// Why: `env` is one more exec, and it searches PATH, on every command: ~1.5 ms of a `hull-oci
// run` here, and containerd runs hull-oci 4-5 times per container. The Node that runs `npm
// install` is also the one the addon was built for (its ABI), so the command keeps to it, as
// pip's console scripts keep to their Python. A path a #! line can't hold (relative, with
// whitespace, longer than the kernel reads) keeps `/usr/bin/env node`.
//
// Run by `npm install` (package.json "install", after the addon's build) and by every build of the
// bundles (scripts/build-bundle.js), so the commands follow their sources.
'use strict';
const fs = require('fs');
const path = require('path');

const BIN = path.join(__dirname, '..', 'bin');
const COMMANDS = ['hull', 'hull-oci'];

/** The #! line for `execPath`. */
function interpreterLine(execPath) {
  // Linux reads 255 bytes of a #! line (BINPRM_BUF_SIZE 256) and splits it at the first blank.
  const pinnable = path.isAbsolute(execPath) && !/\s/.test(execPath) && execPath.length <= 200;
  return pinnable ? `#!${execPath}` : '#!/usr/bin/env node';
}

/**
 * <dir>/<name> for each command: <dir>/<name>.js with its first (#!) line replaced, mode 0755,
 * written atomically (a running `hull-oci` never reads half a file). Returns the paths written.
 */
function pinBin({ dir = BIN, execPath = process.execPath, names = COMMANDS } = {}) {
  return names.map((name) => {
    const source = fs.readFileSync(path.join(dir, `${name}.js`), 'utf8');
    const body = source.startsWith('#!') ? source.slice(source.indexOf('\n') + 1) : source;
    const out = path.join(dir, name);
    const tmp = `${out}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, `${interpreterLine(execPath)}\n${body}`, { mode: 0o755 });
    fs.chmodSync(tmp, 0o755); // the umask may have taken bits off
    fs.renameSync(tmp, out);
    return out;
  });
}

module.exports = { pinBin, interpreterLine, COMMANDS };

if (require.main === module) pinBin();
