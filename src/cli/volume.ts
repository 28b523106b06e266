// `hull volume create|ls|inspect|rm|prune`: local volumes under <root>/volumes.
import type { Command } from 'commander';
import { forEachTarget, managerFor } from '../container/cli-support';
import { renderTemplate, table } from '../container/format';
import { parseLabels } from '../container/options';

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function register(program: Command): void {
  const group = program.command('volume').description('Manage volumes');
  group
    .command('create')
    .description('Create a volume')
    .argument('[name]')
    .option('--label <k=v>', 'set metadata for a volume', collect, [])
    .option('-d, --driver <driver>', 'volume driver name', 'local')
    .action(async (name: string | undefined, flags: { label: string[]; driver: string }, self: Command) => {
      if (flags.driver !== 'local') throw Object.assign(new Error(`volume driver "${flags.driver}" is not supported`), { exitCode: 1 });
      const v = await managerFor(self).volumes.create(name, { labels: parseLabels(flags.label) });
      process.stdout.write(`${v.Name}\n`);
    });
  group
    .command('ls')
    .alias('list')
    .description('List volumes')
    .option('-q, --quiet', 'only display volume names')
    .option('--format <template>', 'format output using a Go-style template')
    .option('-f, --filter <filter>', 'filter (dangling=true|false, name=…, label=…)', collect, [])
    .action(async (flags: { quiet?: boolean; format?: string; filter: string[] }, self: Command) => {
      const volumes = managerFor(self).volumes;
      let list = volumes.list();
      for (const f of flags.filter) {
        const [k, v] = [f.slice(0, f.indexOf('=')), f.slice(f.indexOf('=') + 1)];
        if (k === 'name') list = list.filter((x) => x.Name.includes(v));
        else if (k === 'dangling') list = list.filter((x) => (volumes.users(x.Name).length === 0) === (v === 'true' || v === '1'));
        else if (k === 'label') list = list.filter((x) => { const [lk, lv] = v.split('=', 2); return lk in x.Labels && (lv === undefined || x.Labels[lk] === lv); });
        else throw Object.assign(new Error(`invalid filter '${k}'`), { exitCode: 125 });
      }
      if (flags.quiet) {
        for (const v of list) process.stdout.write(`${v.Name}\n`);
      } else if (flags.format) {
        for (const v of list) process.stdout.write(`${renderTemplate(flags.format, { ...v })}\n`);
      } else {
        process.stdout.write(table(['DRIVER', 'VOLUME NAME'], list.map((v) => [v.Driver, v.Name])));
      }
    });
  group
    .command('inspect')
    .description('Display detailed information on one or more volumes')
    .argument('<volume...>')
    .option('-f, --format <template>', 'format output using a Go-style template')
    .action(async (names: string[], flags: { format?: string }, self: Command) => {
      const volumes = managerFor(self).volumes;
      const out: object[] = [];
      let failed = false;
      for (const n of names) {
        try {
          const { Anonymous: _a, Populated: _p, ...v } = volumes.inspect(n);
          out.push(v);
        } catch (err) {
          failed = true;
          process.stderr.write(`Error: ${(err as Error).message}\n`);
        }
      }
      if (flags.format) for (const v of out) process.stdout.write(`${renderTemplate(flags.format, v as Record<string, unknown>)}\n`);
      else process.stdout.write(`${JSON.stringify(out, null, 4)}\n`);
      if (failed) process.exitCode = 1;
    });
  group
    .command('rm')
    .alias('remove')
    .description('Remove one or more volumes (a volume in use is refused)')
    .argument('<volume...>')
    .option('-f, --force', 'do not fail on a missing volume')
    .action(async (names: string[], flags: { force?: boolean }, self: Command) => {
      const volumes = managerFor(self).volumes;
      await forEachTarget(names, async (n) => {
        await volumes.remove(n, { force: flags.force });
        return n;
      });
    });
  group
    .command('prune')
    .description('Remove unused volumes (anonymous ones; all unused with -a)')
    .option('-a, --all', 'remove all unused volumes, not just anonymous ones')
    .option('-f, --force', 'do not prompt for confirmation')
    .action(async (flags: { all?: boolean }, self: Command) => {
      const removed = await managerFor(self).volumes.prune({ all: flags.all });
      process.stdout.write('Deleted Volumes:\n');
      for (const n of removed) process.stdout.write(`${n}\n`);
      process.stdout.write('\nTotal reclaimed space: 0B\n');
    });
}
