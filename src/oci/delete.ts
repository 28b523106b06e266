// hull-oci delete: remove a stopped container (--force: any container).
import type { Verb } from './cli';
import { runtimeFor } from './cli';

const del: Verb = {
  usage: 'delete [--force] <container-id>',
  description: 'Delete a container and everything it holds (cgroups, state).',
  flags: [{ name: 'force', alias: 'f', type: 'boolean', description: 'kill the container first if it still runs' }],
  args: [1, 1],
  async run({ flags, positionals }, globals) {
    await runtimeFor(globals).delete(positionals[0], { force: flags.force === true });
  },
};
export default del;
