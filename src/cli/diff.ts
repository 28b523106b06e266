// `hull diff CONTAINER`: A/C/D lines for the container's writable layer.
import type { Command } from 'commander';
import { managerFor } from '../container/cli-support';

export function register(program: Command): void {
  program
    .command('diff')
    .description("Inspect changes to files or directories on a container's filesystem")
    .argument('<container>')
    .action(async (target: string, _flags, self: Command) => {
      for (const c of await managerFor(self).diff(target)) process.stdout.write(`${c.kind} ${c.path}\n`);
    });
}
