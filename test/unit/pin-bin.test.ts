// scripts/pin-bin.js: bin/hull and bin/hull-oci are bin/*.js with the building Node in their #! line.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { pinBin, interpreterLine, COMMANDS } = require('../../scripts/pin-bin.js') as {
  pinBin: (opts?: { dir?: string; execPath?: string; names?: string[] }) => string[];
  interpreterLine: (execPath: string) => string;
  COMMANDS: string[];
};

const repoBin = path.resolve(__dirname, '../../bin');

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hull-pin-bin-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('pin-bin', () => {
  it('pins an absolute Node path and falls back to env for one a #! line cannot hold', () => {
    expect(interpreterLine('/usr/bin/node')).toBe('#!/usr/bin/node');
    expect(interpreterLine('/root/.nvm/versions/node/v20.20.2/bin/node')).toBe('#!/root/.nvm/versions/node/v20.20.2/bin/node');
    expect(interpreterLine('node')).toBe('#!/usr/bin/env node');
    expect(interpreterLine('/opt/my node/bin/node')).toBe('#!/usr/bin/env node');
    expect(interpreterLine(`/${'x'.repeat(250)}/node`)).toBe('#!/usr/bin/env node');
  });

  it('writes each command as its source with the #! line replaced, executable, and nothing else', () => {
    fs.writeFileSync(path.join(dir, 'a.js'), "#!/usr/bin/env node\n'use strict';\nconsole.log(1);\n");
    fs.writeFileSync(path.join(dir, 'b.js'), 'console.log(2);\n'); // no #! line: one is added
    const old = process.umask(0o077);
    try {
      expect(pinBin({ dir, execPath: '/opt/node/bin/node', names: ['a', 'b'] })).toEqual([path.join(dir, 'a'), path.join(dir, 'b')]);
    } finally {
      process.umask(old);
    }
    expect(fs.readFileSync(path.join(dir, 'a'), 'utf8')).toBe("#!/opt/node/bin/node\n'use strict';\nconsole.log(1);\n");
    expect(fs.readFileSync(path.join(dir, 'b'), 'utf8')).toBe('#!/opt/node/bin/node\nconsole.log(2);\n');
    expect(fs.statSync(path.join(dir, 'a')).mode & 0o777).toBe(0o755);
    expect(fs.readdirSync(dir).sort()).toEqual(['a', 'a.js', 'b', 'b.js']); // no temp file left
  });

  it("has built bin/hull and bin/hull-oci from today's sources with this Node (else: npm run build:ts)", () => {
    for (const name of COMMANDS) {
      const source = fs.readFileSync(path.join(repoBin, `${name}.js`), 'utf8');
      const built = fs.readFileSync(path.join(repoBin, name), 'utf8');
      expect(built.slice(built.indexOf('\n'))).toBe(source.slice(source.indexOf('\n')));
      expect(built.slice(0, built.indexOf('\n'))).toBe(interpreterLine(process.execPath));
    }
  });
});
