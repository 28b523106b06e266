// `import { ... } from 'hull'` must work from ESM and CJS, typed (issue 5). Runs against dist/,
// which `npm install` builds.
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { removeTree, tempDir } from '../setup/rootfs';

const repo = path.resolve(__dirname, '../..');
const consumer = tempDir('hull-consumer-');
fs.mkdirSync(path.join(consumer, 'node_modules'));
fs.symlinkSync(repo, path.join(consumer, 'node_modules/hull'));
afterAll(() => removeTree(consumer));

function node(args: string[]): string {
  return execFileSync(process.execPath, args, { cwd: consumer, encoding: 'utf8' }).trim();
}

describe('package entry points', () => {
  it('ESM named imports', () => {
    const out = node(['--input-type=module', '-e',
      "import { runSandbox, Sandbox, ContainerManager, Runtime, oci, explainStep } from 'hull';" +
      'console.log([runSandbox, Sandbox, ContainerManager, Runtime, oci.Runtime, explainStep].map((x) => typeof x).join())']);
    expect(out).toBe('function,function,function,function,function,function');
  });

  it('CommonJS require', () => {
    expect(node(['-e', "const h = require('hull'); console.log(typeof h.runSandbox, typeof h.Sandbox)"])).toBe('function function');
  });

  it('ships type declarations', () => {
    expect(fs.existsSync(path.join(repo, 'dist/index.d.ts'))).toBe(true);
  });
});
