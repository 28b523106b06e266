// `hull images [-q] [--digests] [--no-trunc] [-f FILTER]... [--format table|json] [REPOSITORY[:TAG]]`
import type { Command } from 'commander';
import { collect, dockerSize, storeFor, table, timeAgo } from '../image/cli-support';
import { familiarName, parseReference } from '../image/reference';
import { ImageRecord, shortId } from '../image/store';

interface Row {
  repository: string;
  tag: string;
  digest: string;
  image: ImageRecord;
}

function rowsOf(images: ImageRecord[], filter?: string): Row[] {
  // "busybox" lists every busybox tag; "busybox:1" only that one.
  let wanted: { repo: string; tag?: string } | null = null;
  if (filter) {
    const ref = parseReference(filter);
    const tagGiven = /:[^/]+$/.test(filter.split('@')[0]);
    wanted = { repo: `${ref.domain}/${ref.path}`, tag: tagGiven ? ref.tag : undefined };
  }
  const rows: Row[] = [];
  for (const image of images) {
    const digestsByRepo = new Map(image.repoDigests.map((d) => [d.slice(0, d.indexOf('@')), d.slice(d.indexOf('@') + 1)]));
    if (image.repoTags.length === 0) {
      if (!wanted) rows.push({ repository: '<none>', tag: '<none>', digest: '<none>', image });
      continue;
    }
    for (const full of image.repoTags) {
      const ref = parseReference(full);
      const repo = `${ref.domain}/${ref.path}`;
      if (wanted && (wanted.repo !== repo || (wanted.tag && wanted.tag !== ref.tag))) continue;
      rows.push({ repository: familiarName(ref), tag: ref.tag ?? '<none>', digest: digestsByRepo.get(repo) ?? '<none>', image });
    }
  }
  return rows;
}

/** `-f dangling=true|false`, `-f reference=PATTERN` (glob over the familiar name[:tag]). */
function applyFilters(rows: Row[], filters: string[]): Row[] {
  let out = rows;
  for (const filter of filters) {
    const eq = filter.indexOf('=');
    const key = eq < 0 ? filter : filter.slice(0, eq);
    const value = eq < 0 ? '' : filter.slice(eq + 1);
    if (key === 'dangling') {
      if (value !== 'true' && value !== 'false') throw new Error(`images: invalid filter "${filter}": dangling takes true or false`);
      out = out.filter((r) => (r.repository === '<none>') === (value === 'true'));
    } else if (key === 'reference') {
      const pattern = new RegExp('^' + value.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*') + '$');
      out = out.filter((r) => pattern.test(r.repository) || pattern.test(`${r.repository}:${r.tag}`));
    } else {
      throw new Error(`images: unsupported filter "${filter}" (supported: dangling=true|false, reference=PATTERN)`);
    }
  }
  return out;
}

export function define(cmd: Command): Command {
  return cmd
    .description('List images')
    .argument('[repository]', 'only this repository[:tag]')
    .option('-q, --quiet', 'only image IDs')
    .option('--digests', 'show digests')
    .option('--no-trunc', 'do not truncate IDs')
    .option('-a, --all', 'show all images (hull has no intermediate images: same as default)')
    .option('--format <format>', 'table (default) or json (one object per line)')
    .option('-f, --filter <filter>', 'dangling=true|false or reference=PATTERN (repeatable)', collect, [])
    .action((repository: string | undefined, opts: { quiet?: boolean; digests?: boolean; trunc: boolean; format?: string; filter: string[] }, command: Command) => {
      const store = storeFor(command);
      const rows = applyFilters(rowsOf(store.listImages(), repository), opts.filter);
      const id = (image: ImageRecord) => (opts.trunc ? shortId(image.id) : image.id);
      if (opts.quiet) {
        const seen = new Set<string>();
        for (const row of rows) {
          if (seen.has(row.image.id)) continue;
          seen.add(row.image.id);
          process.stdout.write(`${id(row.image)}\n`);
        }
        return;
      }
      if (opts.format === 'json' || opts.format === '{{json .}}') {
        for (const row of rows) {
          process.stdout.write(JSON.stringify({
            Containers: 'N/A', CreatedAt: row.image.created, CreatedSince: timeAgo(row.image.created), Digest: row.digest,
            ID: id(row.image), Repository: row.repository, SharedSize: 'N/A', Size: dockerSize(row.image.size), Tag: row.tag,
            UniqueSize: 'N/A', VirtualSize: dockerSize(row.image.size),
          }) + '\n');
        }
        return;
      }
      if (opts.format && opts.format !== 'table') throw new Error(`images: unknown --format "${opts.format}" (use table or json)`);
      const header = ['REPOSITORY', 'TAG', ...(opts.digests ? ['DIGEST'] : []), 'IMAGE ID', 'CREATED', 'SIZE'];
      process.stdout.write(table(header, rows.map((r) => [
        r.repository, r.tag, ...(opts.digests ? [r.digest] : []), id(r.image), timeAgo(r.image.created), dockerSize(r.image.size),
      ])));
    });
}

export function register(program: Command): void {
  define(program.command('images'));
}
