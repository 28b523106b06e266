// `hull start [-a] [-i] CONTAINER...`: start stopped containers (detached unless -a).
import type { Command } from 'commander';
import { forEachTarget, forwardSignals, managerFor } from '../container/cli-support';

export function register(program: Command): void {
  program
    .command('start')
    .description('Start one or more stopped containers')
    .argument('<container...>')
    .option('-a, --attach', "attach STDOUT/STDERR and forward signals")
    .option('-i, --interactive', "attach container's STDIN")
    .option('--explain', 'print every kernel step in plain words on stderr (as HULL_TRACE=1)')
    .action(async (targets: string[], flags: { attach?: boolean; interactive?: boolean }, self: Command) => {
      const manager = managerFor(self);
      if (flags.attach || flags.interactive) {
        if (targets.length > 1) throw Object.assign(new Error('you cannot start and attach multiple containers at once'), { exitCode: 1 });
        const rec = await manager.get(targets[0]);
        const stop = forwardSignals((sig) => manager.kill(rec.Id, sig).catch(() => undefined));
        try {
          const code = await manager.start(rec.Id, {
            attach: true,
            interactive: flags.interactive ?? false,
          });
          process.exit(code);
        } finally {
          stop();
        }
      }
      await forEachTarget(targets, async (t) => {
        await manager.start(t);
        return t;
      });
    });
}
