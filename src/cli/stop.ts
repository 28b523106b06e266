// `hull stop [-t SECONDS] [-s SIGNAL] CONTAINER...`: the stop signal, then SIGKILL after the timeout.
import type { Command } from 'commander';
import { forEachTarget, managerFor, parseIntStrict } from '../container/cli-support';

export function register(program: Command): void {
  program
    .command('stop')
    .description('Stop one or more running containers')
    .argument('<container...>')
    .option('-t, --time <seconds>', 'seconds to wait before killing the container', (v) => parseIntStrict(v, '--time'))
    .option('-s, --signal <signal>', 'signal to send to the container')
    .action(async (targets: string[], flags: { time?: number; signal?: string }, self: Command) => {
      const manager = managerFor(self);
      await forEachTarget(targets, async (t) => {
        await manager.stop(t, { timeout: flags.time, signal: flags.signal });
        return t;
      });
    });
}
