// hull-oci update: change the resource limits of a running container (`-r FILE` or `-r -`).
import type { Verb } from './cli';
import { readFileOrStdin, runtimeFor, str } from './cli';
import type { Resources } from '../runtime/spec';

const update: Verb = {
  usage: 'update [options] <container-id>',
  description: 'Update container resource constraints.',
  flags: [
    { name: 'resources', alias: 'r', type: 'string', description: 'linux.resources JSON file, "-" for stdin', valueName: 'file' },
    { name: 'memory', type: 'string', description: 'memory limit in bytes', valueName: 'bytes' },
    { name: 'memory-swap', type: 'string', description: 'memory+swap limit in bytes', valueName: 'bytes' },
    { name: 'memory-reservation', type: 'string', description: 'memory soft limit in bytes', valueName: 'bytes' },
    { name: 'cpu-shares', type: 'string', description: 'CPU shares', valueName: 'n' },
    { name: 'cpu-quota', type: 'string', description: 'CFS quota in µs', valueName: 'n' },
    { name: 'cpu-period', type: 'string', description: 'CFS period in µs', valueName: 'n' },
    { name: 'cpuset-cpus', type: 'string', description: 'CPUs', valueName: 'list' },
    { name: 'cpuset-mems', type: 'string', description: 'memory nodes', valueName: 'list' },
    { name: 'pids-limit', type: 'string', description: 'maximum number of pids', valueName: 'n' },
  ],
  args: [1, 1],
  run({ flags, positionals }, globals) {
    let resources: Resources = {};
    const file = str(flags.resources);
    if (file) resources = JSON.parse(readFileOrStdin(file)) as Resources;
    const num = (name: string) => (str(flags[name]) !== undefined ? Number(flags[name]) : undefined);
    const memory = { limit: num('memory'), swap: num('memory-swap'), reservation: num('memory-reservation') };
    const cpu = { shares: num('cpu-shares'), quota: num('cpu-quota'), period: num('cpu-period'), cpus: str(flags['cpuset-cpus']), mems: str(flags['cpuset-mems']) };
    const defined = <T extends object>(o: T) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
    if (Object.keys(defined(memory)).length) resources.memory = { ...resources.memory, ...defined(memory) };
    if (Object.keys(defined(cpu)).length) resources.cpu = { ...resources.cpu, ...defined(cpu) };
    if (num('pids-limit') !== undefined) resources.pids = { limit: num('pids-limit')! };
    runtimeFor(globals).update(positionals[0], resources);
  },
};
export default update;
