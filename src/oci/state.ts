// hull-oci state: the runtime-spec state JSON.
import type { Verb } from './cli';
import { runtimeFor } from './cli';
import { writeOut } from './output';

const state: Verb = {
  usage: 'state <container-id>',
  description: 'Print the state of a container as JSON.',
  flags: [],
  args: [1, 1],
  run({ positionals }, globals) {
    writeOut(JSON.stringify(runtimeFor(globals).state(positionals[0]), null, 2) + '\n');
  },
};
export default state;
