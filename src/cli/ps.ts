// `hull ps [-a] [-q] [--filter K=V] [--format T] [--no-trunc] [-l] [-n N]`: list containers.
import type { Command } from 'commander';
import { managerFor } from '../container/cli-support';
import { psFields, renderTemplate, table } from '../container/format';
import type { ContainerSummary } from '../container/manager';

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function register(program: Command): void {
  program
    .command('ps')
    .description('List containers')
    .option('-a, --all', 'show all containers (default shows just running)')
    .option('-q, --quiet', 'only display container IDs')
    .option('-f, --filter <filter>', 'filter output based on conditions provided', collect, [])
    .option('--format <template>', 'format output using a Go-style template')
    .option('--no-trunc', "don't truncate output")
    .option('-l, --latest', 'show the latest created container')
    .option('-n, --last <n>', 'show n last created containers', (v) => Number(v))
    .action(async (flags: { all?: boolean; quiet?: boolean; filter: string[]; format?: string; trunc: boolean; latest?: boolean; last?: number }, self: Command) => {
      const manager = managerFor(self);
      let list = await manager.list({ all: flags.all || flags.latest || flags.last !== undefined || flags.filter.some((f) => f.startsWith('status=')) });
      for (const f of flags.filter) list = list.filter(filterFor(f));
      if (flags.latest) list = list.slice(0, 1);
      if (flags.last !== undefined && flags.last >= 0) list = list.slice(0, flags.last);
      const noTrunc = flags.trunc === false;
      if (flags.quiet) {
        for (const c of list) process.stdout.write(`${noTrunc ? c.id : c.id.slice(0, 12)}\n`);
        return;
      }
      if (flags.format && flags.format !== 'table') {
        const tableMode = flags.format.startsWith('table ');
        const template = tableMode ? flags.format.slice(6) : flags.format;
        if (tableMode) {
          const headers = [...template.matchAll(/\{\{\s*\.(\w+)\s*\}\}/g)].map((m) => m[1].replace(/([a-z])([A-Z])/g, '$1 $2').toUpperCase());
          const rows = list.map((c) => renderTemplate(template, psFields(c, noTrunc)).split('\t'));
          process.stdout.write(table(headers, rows));
          return;
        }
        for (const c of list) process.stdout.write(`${renderTemplate(template, psFields(c, noTrunc))}\n`);
        return;
      }
      const rows = list.map((c) => {
        const f = psFields(c, noTrunc);
        return [f.ID, f.Image, f.Command, f.RunningFor, f.Status, f.Ports, f.Names] as string[];
      });
      process.stdout.write(table(['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES'], rows));
    });
}

/** docker's --filter keys: id, name, label, status, ancestor, exited, volume. */
function filterFor(spec: string): (c: ContainerSummary) => boolean {
  const eq = spec.indexOf('=');
  if (eq < 0) throw Object.assign(new Error(`bad format of filter (expected name=value): ${spec}`), { exitCode: 125 });
  const key = spec.slice(0, eq);
  const value = spec.slice(eq + 1);
  switch (key) {
    case 'id':
      return (c) => c.id.startsWith(value);
    case 'name':
      return (c) => new RegExp(value).test(c.name);
    case 'status':
      if (!['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'].includes(value)) {
        throw Object.assign(new Error(`invalid filter 'status=${value}'`), { exitCode: 125 });
      }
      return (c) => c.status === value;
    case 'label': {
      const [k, v] = value.split('=', 2);
      return (c) => k in c.labels && (v === undefined || c.labels[k] === v);
    }
    case 'ancestor':
      return (c) => c.image === value || c.imageId === value || c.imageId.replace(/^sha256:/, '').startsWith(value.replace(/^sha256:/, ''));
    case 'exited':
      return (c) => c.status === 'exited' && String(c.exitCode) === value;
    case 'volume':
      return (c) => c.mounts.includes(value);
    default:
      throw Object.assign(new Error(`invalid filter '${key}'`), { exitCode: 125 });
  }
}
