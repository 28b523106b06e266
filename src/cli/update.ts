// `hull update [--memory M] [--memory-swap M] [--cpus N] [--cpu-shares N] [--pids-limit N] CONTAINER...`.
import type { Command } from 'commander';
import { forEachTarget, managerFor } from '../container/cli-support';
import { parseLimitFlags } from '../container/options';
import { limitResources } from '../container/spec';
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
      // The same grammar and ranges as run/create; memory-swap may come alone (it keeps the old limit).
      const limits = parseLimitFlags({
        memory: flags.memory, memorySwap: flags.memorySwap, memoryReservation: flags.memoryReservation, cpus: flags.cpus,
        cpuShares: flags.cpuShares, cpusetCpus: flags.cpusetCpus, pidsLimit: flags.pidsLimit,
      }, { update: true });
      const resources: Resources = limitResources(limits);
      if (!Object.keys(resources).length) throw usage('you must provide one or more flags when using this command');
      const manager = managerFor(self);
      await forEachTarget(targets, async (t) => {
        await manager.update(t, resources);
        return t;
      });
    });
}
