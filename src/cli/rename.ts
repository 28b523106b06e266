// `hull rename CONTAINER NEW_NAME`.
import type { Command } from 'commander';
import { managerFor } from '../container/cli-support';

export function register(program: Command): void {
  program
    .command('rename')
    .description('Rename a container')
    .argument('<container>')
    .argument('<new-name>')
    .action(async (target: string, newName: string, _flags, self: Command) => {
      await managerFor(self).rename(target, newName);
    });
}
