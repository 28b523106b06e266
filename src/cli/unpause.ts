// `hull unpause CONTAINER...`: thaw a paused container.
import type { Command } from 'commander';
import { forEachTarget, managerFor } from '../container/cli-support';

export function register(program: Command): void {
  program
    .command('unpause')
    .description('Unpause all processes within one or more containers')
    .argument('<container...>')
    .action(async (targets: string[], _flags, self: Command) => {
      const manager = managerFor(self);
      await forEachTarget(targets, async (t) => {
        await manager.unpause(t);
        return t;
      });
    });
}
