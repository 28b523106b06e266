// hull-oci pause: freeze every process of the container (cgroup freezer).
import type { Verb } from './cli';
import { runtimeFor } from './cli';

const pause: Verb = {
  usage: 'pause <container-id>',
  description: 'Suspend all processes in a container.',
  flags: [],
  args: [1, 1],
  async run({ positionals }, globals) {
    await runtimeFor(globals).pause(positionals[0]);
  },
};
export default pause;
