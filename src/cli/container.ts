// `hull container <verb>`: docker's management group. Every container verb is available under it
// (registered from its own module), plus `container ls` (= ps) and `container prune`.
import type { Command } from 'commander';
import { managerFor } from '../container/cli-support';

const VERBS = ['run', 'create', 'start', 'stop', 'kill', 'restart', 'pause', 'unpause', 'rm', 'ps', 'logs', 'exec',
  'wait', 'inspect', 'top', 'diff', 'commit', 'export', 'cp', 'rename', 'update', 'stats', 'attach'];

export function register(program: Command): void {
  const group = program.command('container').description('Manage containers').enablePositionalOptions();
  for (const verb of VERBS) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      (require(`./${verb}.js`) as { register(p: Command): void }).register(group);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw err;
    }
  }
  const ps = group.commands.find((c) => c.name() === 'ps');
  ps?.alias('ls').alias('list');
  // Hidden: the exit command the monitor of a `--rm` container runs once it has exited
  // (docs/containers.md, "Detached --rm"). Quiet and exit 0 when the container is gone already.
  group
    .command('cleanup', { hidden: true })
    .description('Record the exit of an auto-remove container and remove it (run by its monitor)')
    .argument('<container>')
    .action(async (target: string, _flags, self: Command) => {
      await managerFor(self).cleanup(target);
    });
  group
    .command('prune')
    .description('Remove all stopped containers')
    .option('-f, --force', 'do not prompt for confirmation')
    .action(async (_flags, self: Command) => {
      const removed = await managerFor(self).prune();
      process.stdout.write('Deleted Containers:\n');
      for (const id of removed) process.stdout.write(`${id}\n`);
      process.stdout.write('\nTotal reclaimed space: 0B\n');
    });
}
