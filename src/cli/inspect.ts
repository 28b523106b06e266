// `hull inspect [-f TEMPLATE] CONTAINER...`: docker-shaped JSON (or a template per container).
import type { Command } from 'commander';
import { managerFor } from '../container/cli-support';
import { inspectView, renderTemplate } from '../container/format';

export function register(program: Command): void {
  program
    .command('inspect')
    .description('Return low-level information on containers')
    .argument('<container...>')
    .option('-f, --format <template>', 'format the output using the given Go-style template')
    .option('-s, --size', 'display total file sizes (ignored)')
    .action(async (targets: string[], flags: { format?: string }, self: Command) => {
      const manager = managerFor(self);
      const views: Record<string, unknown>[] = [];
      let failed = false;
      for (const t of targets) {
        try {
          const rec = await manager.get(t);
          const p = manager.paths(rec);
          views.push(inspectView(rec, { ...p, work: p.upper.replace(/upper$/, 'work') }));
        } catch (err) {
          failed = true;
          process.stderr.write(`Error: ${(err as Error).message}\n`);
        }
      }
      if (flags.format) for (const v of views) process.stdout.write(`${renderTemplate(flags.format, v)}\n`);
      else process.stdout.write(`${JSON.stringify(views, null, 4)}\n`);
      if (failed) process.exitCode = 1;
    });
}
