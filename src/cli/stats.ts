// `hull stats [--no-stream] [-a] [CONTAINER...]`: docker's columns from the cgroup counters.
import type { Command } from 'commander';
import { managerFor } from '../container/cli-support';
import { table } from '../container/format';

function bytes(n: number | undefined): string {
  if (n === undefined) return '--';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 && i ? 2 : i ? 1 : 0)}${units[i]}`;
}

export function register(program: Command): void {
  program
    .command('stats')
    .description('Display a live stream of container(s) resource usage statistics')
    .argument('[container...]')
    .option('-a, --all', 'show all containers (default shows just running)')
    .option('--no-stream', 'disable streaming stats and only pull the first result')
    .option('--no-trunc', 'do not truncate output')
    .action(async (targets: string[], flags: { all?: boolean; stream: boolean; trunc: boolean }, self: Command) => {
      const manager = managerFor(self);
      const ids = targets.length ? targets : (await manager.list({ all: flags.all })).map((c) => c.id);
      const cpuBefore = new Map<string, { cpu: number; at: number }>();
      const sample = async () => {
        const rows: string[][] = [];
        for (const t of ids) {
          const { record, stats } = await manager.stats(t);
          const now = Date.now();
          const cpu = stats.cpu?.usageNanoseconds ?? 0;
          const prev = cpuBefore.get(record.Id);
          cpuBefore.set(record.Id, { cpu, at: now });
          const cpuPct = prev && now > prev.at ? ((cpu - prev.cpu) / 1e6 / (now - prev.at)) * 100 : 0;
          const mem = stats.memory;
          const limit = mem?.limit && mem.limit < 2 ** 62 ? mem.limit : undefined;
          rows.push([
            flags.trunc === false ? record.Id : record.Id.slice(0, 12),
            record.Name.replace(/^\//, ''),
            `${cpuPct.toFixed(2)}%`,
            `${bytes(mem?.usage)} / ${limit ? bytes(limit) : '--'}`,
            limit && mem ? `${((mem.usage / limit) * 100).toFixed(2)}%` : '--',
            '-- / --',
            '-- / --',
            String(stats.pids?.current ?? 0),
          ]);
        }
        return table(['CONTAINER ID', 'NAME', 'CPU %', 'MEM USAGE / LIMIT', 'MEM %', 'NET I/O', 'BLOCK I/O', 'PIDS'], rows);
      };
      if (!flags.stream) {
        await sample();
        await new Promise((r) => setTimeout(r, 500)); // a CPU % needs two readings
        process.stdout.write(await sample());
        return;
      }
      for (;;) {
        const out = await sample();
        process.stdout.write(`\x1b[2J\x1b[H${out}`);
        await new Promise((r) => setTimeout(r, 1000));
      }
    });
}
