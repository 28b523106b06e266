// hull-oci kill: send a signal (name or number, default SIGTERM) to the init or, with --all, every process.
import type { Verb } from './cli';
import { runtimeFor } from './cli';

const kill: Verb = {
  usage: 'kill [--all] <container-id> [signal]',
  description: 'Send a signal to a container.',
  flags: [{ name: 'all', alias: 'a', type: 'boolean', description: 'signal every process in the container' }],
  args: [1, 2],
  async run({ flags, positionals }, globals) {
    await runtimeFor(globals).kill(positionals[0], positionals[1] ?? 'SIGTERM', { all: flags.all === true });
  },
};
export default kill;
