// hull-oci ps: processes of a container (`ps` output filtered to them, or --format json pids).
import { execFileSync } from 'node:child_process';
import type { Verb } from './cli';
import { runtimeFor, str } from './cli';
import { writeOut } from './output';

const ps: Verb = {
  usage: 'ps [--format table|json] <container-id> [ps options]',
  description: 'List the processes running in a container.',
  flags: [{ name: 'format', alias: 'f', type: 'string', description: 'table or json', valueName: 'format' }],
  args: [1, Infinity],
  run({ flags, positionals }, globals) {
    const [id, ...psArgs] = positionals;
    const pids = runtimeFor(globals).ps(id);
    const format = str(flags.format) ?? 'table';
    if (format === 'json') {
      writeOut(JSON.stringify(pids) + '\n');
      return;
    }
    if (format !== 'table') throw new Error(`invalid format option: ${format}`);
    const out = execFileSync('ps', psArgs.length ? psArgs : ['-ef'], { encoding: 'utf8' });
    const [header, ...lines] = out.split('\n');
    const pidColumn = header.trim().split(/\s+/).indexOf('PID');
    if (pidColumn < 0) throw new Error("couldn't find PID field in ps output");
    const wanted = new Set(pids);
    const rows = lines.filter((l) => wanted.has(Number(l.trim().split(/\s+/)[pidColumn])));
    writeOut([header, ...rows].join('\n') + '\n');
  },
};
export default ps;
