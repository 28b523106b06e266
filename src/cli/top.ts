// `hull top CONTAINER [ps OPTIONS]`: the container's processes, through the host's ps.
import { spawnSync } from 'node:child_process';
import type { Command } from 'commander';
import { managerFor } from '../container/cli-support';

export function register(program: Command): void {
  program
    .command('top')
    .description('Display the running processes of a container')
    .argument('<container>')
    .argument('[ps-options...]')
    .passThroughOptions()
    .action(async (target: string, psOptions: string[], _flags, self: Command) => {
      const pids = await managerFor(self).processes(target);
      const args = psOptions.length ? psOptions : ['-f'];
      const out = spawnSync('ps', [...args, '-p', pids.join(',') || '0'], { encoding: 'utf8' }).stdout.trimEnd();
      const [header, ...lines] = out.split('\n');
      // ps -p with our own options may print extra lines; keep only the container's pids.
      const pidColumn = header.trim().split(/\s+/).indexOf('PID');
      const mine = lines.filter((l) => pidColumn < 0 || pids.includes(Number(l.trim().split(/\s+/)[pidColumn])));
      process.stdout.write(`${[header, ...mine].join('\n')}\n`);
    });
}
