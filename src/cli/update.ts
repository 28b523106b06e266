// `hull update [--memory M] [--memory-swap M] [--cpus N] [--cpu-shares N] [--pids-limit N] CONTAINER...`.
import type { Command } from 'commander';
import { forEachTarget, managerFor } from '../container/cli-support';
import { parseSize } from '../container/options';
import type { Resources } from '../runtime/spec';

function usage(message: string): Error {
  return Object.assign(new Error(message), { exitCode: 125 });
}

export function register(program: Command): void {
  program
    .command('update')
    .description('Update configuration of one or more containers')
    .argument('<container...>')
    .option('-m, --memory <bytes>', 'memory limit')
    .option('--memory-swap <bytes>', 'swap limit equal to memory plus swap: -1 to enable unlimited swap')
    .option('--memory-reservation <bytes>', 'memory soft limit')
    .option('--cpus <number>', 'number of CPUs')
    .option('-c, --cpu-shares <n>', 'CPU shares (relative weight)')
    .option('--cpuset-cpus <list>', 'CPUs in which to allow execution (0-3, 0,1)')
    .option('--pids-limit <n>', 'tune container pids limit (-1 for unlimited)')
    .action(async (targets: string[], flags: Record<string, string | undefined>, self: Command) => {
      const resources: Resources = {};
      if (flags.memory) resources.memory = { ...resources.memory, limit: parseSize(flags.memory, '--memory') };
      if (flags.memorySwap) resources.memory = { ...resources.memory, swap: flags.memorySwap === '-1' ? -1 : parseSize(flags.memorySwap, '--memory-swap') };
      if (flags.memoryReservation) resources.memory = { ...resources.memory, reservation: parseSize(flags.memoryReservation, '--memory-reservation') };
      if (flags.cpus) {
        const cpus = Number(flags.cpus);
        if (!(cpus > 0)) throw usage(`invalid --cpus: ${flags.cpus}`);
        resources.cpu = { ...resources.cpu, period: 100_000, quota: Math.round(cpus * 100_000) };
      }
      if (flags.cpuShares) {
        if (!/^\d+$/.test(flags.cpuShares)) throw usage(`invalid --cpu-shares: ${flags.cpuShares}`);
        resources.cpu = { ...resources.cpu, shares: Number(flags.cpuShares) };
      }
      if (flags.cpusetCpus) {
        if (!/^[0-9,-]+$/.test(flags.cpusetCpus)) throw usage(`invalid --cpuset-cpus: ${flags.cpusetCpus}`);
        resources.cpu = { ...resources.cpu, cpus: flags.cpusetCpus };
      }
      if (flags.pidsLimit) {
        if (!/^-?\d+$/.test(flags.pidsLimit)) throw usage(`invalid --pids-limit: ${flags.pidsLimit}`);
        const n = Number(flags.pidsLimit);
        resources.pids = { limit: n <= 0 ? -1 : n };
      }
      if (!Object.keys(resources).length) throw usage('you must provide one or more flags when using this command');
      const manager = managerFor(self);
      await forEachTarget(targets, async (t) => {
        await manager.update(t, resources);
        return t;
      });
    });
}
