// `hull pause CONTAINER...`: freeze every process of the container (cgroup freezer).
import type { Command } from 'commander';
import { forEachTarget, managerFor } from '../container/cli-support';

export function register(program: Command): void {
  program
    .command('pause')
    .description('Pause all processes within one or more containers')
    .argument('<container...>')
    .action(async (targets: string[], _flags, self: Command) => {
      const manager = managerFor(self);
      await forEachTarget(targets, async (t) => {
        await manager.pause(t);
        return t;
      });
    });
}
