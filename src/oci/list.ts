// hull-oci list: every container under --root.
import type { Verb } from './cli';
import { runtimeFor, str } from './cli';
import { writeOut } from './output';

const list: Verb = {
  usage: 'list [--format table|json] [--quiet]',
  description: 'List containers.',
  flags: [
    { name: 'format', alias: 'f', type: 'string', description: 'table or json', valueName: 'format' },
    { name: 'quiet', alias: 'q', type: 'boolean', description: 'only ids' },
  ],
  args: [0, 0],
  run({ flags }, globals) {
    const containers = runtimeFor(globals).list();
    const format = str(flags.format) ?? 'table';
    if (flags.quiet) {
      writeOut(containers.map((c) => c.id + '\n').join(''));
    } else if (format === 'json') {
      const rows = containers.map((c) => ({ ociVersion: '1.2.0', id: c.id, pid: c.pid, status: c.status, bundle: c.bundle, rootfs: '', created: c.created, owner: c.owner }));
      writeOut(JSON.stringify(rows) + '\n');
    } else if (format === 'table') {
      const header = ['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED', 'OWNER'];
      const rows = containers.map((c) => [c.id, String(c.pid), c.status, c.bundle, c.created, c.owner || 'root']);
      const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
      const fmt = (r: string[]) => r.map((v, i) => v.padEnd(widths[i])).join('   ').trimEnd() + '\n';
      writeOut([header, ...rows].map(fmt).join(''));
    } else {
      throw new Error(`invalid format option: ${format}`);
    }
  },
};
export default list;
