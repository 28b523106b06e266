// `hull system df [-v]` and `hull system prune` (images only here).
import type { Command } from 'commander';
import { dockerSize, storeFor, table } from '../image/cli-support';

export function register(program: Command): void {
  const system = program.command('system').description('Manage hull');
  system
    .command('df')
    .description('Show disk usage of images and layers')
    .option('--format <format>', 'table (default) or json')
    .action(async (opts: { format?: string }, command: Command) => {
      const store = storeFor(command);
      const usage = store.diskUsage();
      const inUse = await store.imagesInUse();
      const images = store.listImages();
      const active = images.filter((i) => inUse.has(i.id)).length;
      const rows = [
        { Type: 'Images', TotalCount: usage.images, Active: active, Size: dockerSize(usage.layersSize), Reclaimable: dockerSize(usage.reclaimable) },
        { Type: 'Image blobs', TotalCount: '', Active: '', Size: dockerSize(usage.blobsSize), Reclaimable: '' },
      ];
      if (opts.format === 'json') {
        for (const r of rows) process.stdout.write(JSON.stringify(r) + '\n');
        return;
      }
      process.stdout.write(table(['TYPE', 'TOTAL', 'ACTIVE', 'SIZE', 'RECLAIMABLE'], rows.map((r) => [r.Type, String(r.TotalCount), String(r.Active), r.Size, r.Reclaimable])));
    });
  system
    .command('prune')
    .description('Remove unused images (untagged; with -a every image no container uses)')
    .option('-a, --all', 'remove all unused images, not just untagged ones')
    .option('-f, --force', 'do not prompt (hull never prompts)')
    .action(async (opts: { all?: boolean }, command: Command) => {
      const { deleted, reclaimed } = await storeFor(command).prune({ all: opts.all });
      for (const id of deleted) process.stdout.write(`deleted: ${id}\n`);
      process.stdout.write(`Total reclaimed space: ${dockerSize(reclaimed)}\n`);
    });
}
