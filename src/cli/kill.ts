// `hull kill [-s SIGNAL] CONTAINER...`: signal the container's main process (default SIGKILL).
import type { Command } from 'commander';
import { forEachTarget, managerFor } from '../container/cli-support';

export function register(program: Command): void {
  program
    .command('kill')
    .description('Kill one or more running containers')
    .argument('<container...>')
    .option('-s, --signal <signal>', 'signal to send to the container', 'SIGKILL')
    .action(async (targets: string[], flags: { signal: string }, self: Command) => {
      const manager = managerFor(self);
      await forEachTarget(targets, async (t) => {
        await manager.kill(t, flags.signal);
        return t;
      });
    });
}
