// `hull history [--no-trunc] [-q] [--format json] IMAGE`
import type { Command } from 'commander';
import { dockerSize, storeFor, table, timeAgo } from '../image/cli-support';
import { shortId } from '../image/store';

export function define(cmd: Command): Command {
  return cmd
    .description('Show the history of an image')
    .argument('<image>', 'image name or ID')
    .option('--no-trunc', 'do not truncate output')
    .option('-q, --quiet', 'only image IDs')
    .option('--format <format>', 'table (default) or json')
    .action((name: string, opts: { trunc: boolean; quiet?: boolean; format?: string }, command: Command) => {
      const store = storeFor(command);
      const image = store.getImage(name);
      const config = store.configOf(image);
      const history = config.history?.length ? config.history : image.layers.map(() => ({} as { created?: string; created_by?: string; comment?: string; empty_layer?: boolean }));
      // Layer sizes go to the history entries that made a layer, in order.
      let layerIndex = 0;
      const entries = history.map((h) => {
        const layer = h.empty_layer ? undefined : image.layers[layerIndex++];
        return { h, size: layer ? store.layerMeta(layer.chainId)?.size ?? 0 : 0 };
      }).reverse();
      const ids = entries.map((_e, i) => (i === 0 ? (opts.trunc ? shortId(image.id) : image.id) : '<missing>'));
      if (opts.quiet) {
        process.stdout.write(ids.map((i) => `${i}\n`).join(''));
        return;
      }
      if (opts.format === 'json') {
        entries.forEach((e, i) => process.stdout.write(JSON.stringify({ ID: ids[i], CreatedAt: e.h.created ?? '', CreatedBy: e.h.created_by ?? '', Size: dockerSize(e.size), Comment: e.h.comment ?? '' }) + '\n'));
        return;
      }
      const cut = (s: string) => (opts.trunc && s.length > 45 ? `${s.slice(0, 44)}…` : s);
      process.stdout.write(table(['IMAGE', 'CREATED', 'CREATED BY', 'SIZE', 'COMMENT'], entries.map((e, i) => [
        ids[i], e.h.created ? timeAgo(e.h.created) : 'N/A', cut(e.h.created_by ?? ''), dockerSize(e.size), e.h.comment ?? '',
      ])));
    });
}

export function register(program: Command): void {
  define(program.command('history'));
}
