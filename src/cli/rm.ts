// `hull rm [-f] [-v] CONTAINER...`: remove containers (a running one only with -f, which kills it).
import type { Command } from 'commander';
import { forEachTarget, managerFor } from '../container/cli-support';

export function register(program: Command): void {
  program
    .command('rm')
    .description('Remove one or more containers')
    .argument('<container...>')
    .option('-f, --force', 'force the removal of a running container (uses SIGKILL)')
    .option('-v, --volumes', 'remove anonymous volumes associated with the container')
    .action(async (targets: string[], flags: { force?: boolean; volumes?: boolean }, self: Command) => {
      const manager = managerFor(self);
      await forEachTarget(targets, async (t) => {
        await manager.remove(t, { force: flags.force, volumes: flags.volumes });
        return t;
      });
    });
}
