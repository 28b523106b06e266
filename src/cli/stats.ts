// `hull stats [--no-stream] [-a] [CONTAINER...]`: docker's columns from the cgroup counters.
import type { Command } from 'commander';
import type { CgroupRecord } from '../cgroup';
import { managerFor } from '../container/cli-support';
import { table } from '../container/format';
import { collectSample, statsColumns, ZERO_SAMPLE, type StatsSample } from '../container/stats';

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
      const previous = new Map<string, StatsSample>();
      const sample = async () => {
        const rows: string[][] = [];
        for (const t of ids) {
          const { record, stats } = await manager.stats(t);
          const live = record.State.Status === 'running' || record.State.Status === 'paused';
          let cur = ZERO_SAMPLE;
          if (live) {
            let cg: CgroupRecord | undefined;
            try {
              cg = manager.runtime.record(record.Id).cgroup;
            } catch {
              cg = undefined; // exited between the two reads
            }
            cur = collectSample(stats, cg, record.State.Pid);
          }
          const prev = previous.get(record.Id);
          previous.set(record.Id, cur);
          rows.push([
            flags.trunc === false ? record.Id : record.Id.slice(0, 12),
            record.Name.replace(/^\//, ''),
            ...statsColumns(live ? prev : undefined, cur),
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
