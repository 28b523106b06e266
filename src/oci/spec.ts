// hull-oci spec: write a default config.json (same content as `runc spec`).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Verb } from './cli';
import { str } from './cli';
import { defaultSpec } from '../runtime/spec';

const spec: Verb = {
  usage: 'spec [--bundle dir] [--rootless]',
  description: 'Create a new config.json in the bundle directory.',
  flags: [
    { name: 'bundle', alias: 'b', type: 'string', description: 'bundle directory (default: cwd)', valueName: 'dir' },
    { name: 'rootless', type: 'boolean', description: 'not supported' },
  ],
  args: [0, 0],
  run({ flags }) {
    if (flags.rootless) throw new Error('spec --rootless is not supported');
    const file = path.join(str(flags.bundle) ?? '.', 'config.json');
    if (fs.existsSync(file)) throw new Error('File config.json exists. Remove it first');
    fs.writeFileSync(file, JSON.stringify(defaultSpec(), null, '\t'));
  },
};
export default spec;
