// `hull restart [-t SECONDS] CONTAINER...`: stop (signal, then SIGKILL) and start again.
import type { Command } from 'commander';
import { forEachTarget, managerFor, parseIntStrict } from '../container/cli-support';

export function register(program: Command): void {
  program
    .command('restart')
    .description('Restart one or more containers')
    .argument('<container...>')
    .option('-t, --time <seconds>', 'seconds to wait before killing the container', (v) => parseIntStrict(v, '--time'))
    .action(async (targets: string[], flags: { time?: number }, self: Command) => {
      const manager = managerFor(self);
      await forEachTarget(targets, async (t) => {
        await manager.restart(t, { timeout: flags.time });
        return t;
      });
    });
}
