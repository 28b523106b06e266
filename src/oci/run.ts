// hull-oci run: create + start; in the foreground it exits with the container's exit code.
import type { Verb } from './cli';
import { runtimeFor } from './cli';
import { CREATE_FLAGS, createOptions } from './create';
import { forwardSignals } from './signals';

const run: Verb = {
  usage: 'run [options] <container-id>',
  description: 'Create and start a container.',
  flags: [
    ...CREATE_FLAGS,
    { name: 'detach', alias: 'd', type: 'boolean', description: 'detach from the container' },
    { name: 'keep', type: 'boolean', description: 'keep the container state after it exits' },
    { name: 'no-subreaper', type: 'boolean', description: 'ignored (the helper is the subreaper)' },
  ],
  args: [1, 1],
  async run({ flags, positionals }, globals) {
    let stopForwarding = () => {};
    try {
      return await runtimeFor(globals).run({
        ...createOptions(flags, positionals[0]),
        detach: flags.detach === true,
        keep: flags.keep === true,
        onStarted: (pid) => (stopForwarding = forwardSignals(pid)),
      });
    } finally {
      stopForwarding();
    }
  },
};
export default run;
