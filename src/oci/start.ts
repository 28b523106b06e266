// hull-oci start: let a created container's process exec its program.
import type { Verb } from './cli';
import { runtimeFor } from './cli';

const start: Verb = {
  usage: 'start <container-id>',
  description: 'Start a created container.',
  flags: [],
  args: [1, 1],
  async run({ positionals }, globals) {
    await runtimeFor(globals).start(positionals[0]);
  },
};
export default start;
