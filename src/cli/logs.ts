// `hull logs [-f] [--tail N] [-t] [--since T] [--until T] CONTAINER`.
import type { Command } from 'commander';
import { managerFor } from '../container/cli-support';
import { parseLogTime, readLogs } from '../container/logs';

export function register(program: Command): void {
  program
    .command('logs')
    .description('Fetch the logs of a container')
    .argument('<container>')
    .option('-f, --follow', 'follow log output')
    .option('-n, --tail <n>', 'number of lines to show from the end of the logs', 'all')
    .option('-t, --timestamps', 'show timestamps')
    .option('--since <time>', 'show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m)')
    .option('--until <time>', 'show logs before a timestamp or relative time')
    .action(async (target: string, flags: { follow?: boolean; tail: string; timestamps?: boolean; since?: string; until?: string }, self: Command) => {
      const manager = managerFor(self);
      const rec = await manager.get(target);
      let tail: number | undefined;
      if (flags.tail !== 'all') {
        if (!/^-?\d+$/.test(flags.tail)) throw Object.assign(new Error(`invalid --tail: ${flags.tail}`), { exitCode: 125 });
        tail = Number(flags.tail) < 0 ? undefined : Number(flags.tail);
      }
      await readLogs(
        rec.LogPath,
        {
          follow: flags.follow,
          tail,
          timestamps: flags.timestamps,
          since: flags.since ? parseLogTime(flags.since) : undefined,
          until: flags.until ? parseLogTime(flags.until) : undefined,
        },
        (s) => process.stdout.write(s),
        (s) => process.stderr.write(s),
        async () => {
          const now = await manager.refresh(rec.Id).catch(() => undefined);
          return now?.State.Status === 'running' || now?.State.Status === 'paused';
        },
      );
    });
}
