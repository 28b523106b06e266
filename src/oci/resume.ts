// hull-oci resume: thaw a paused container.
import type { Verb } from './cli';
import { runtimeFor } from './cli';

const resume: Verb = {
  usage: 'resume <container-id>',
  description: 'Resume all processes in a paused container.',
  flags: [],
  args: [1, 1],
  async run({ positionals }, globals) {
    await runtimeFor(globals).resume(positionals[0]);
  },
};
export default resume;
