// `hull wait CONTAINER...`: block until each container stops, print its exit code.
import type { Command } from 'commander';
import { forEachTarget, managerFor } from '../container/cli-support';

export function register(program: Command): void {
  program
    .command('wait')
    .description('Block until one or more containers stop, then print their exit codes')
    .argument('<container...>')
    .action(async (targets: string[], _flags, self: Command) => {
      const manager = managerFor(self);
      await forEachTarget(targets, async (t) => String(await manager.wait(t)));
    });
}
