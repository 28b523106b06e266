// `hull image <subcommand>`: inspect, ls, rm, prune, history, save, load, import, pull, push, tag.
import type { Command } from 'commander';
import { dockerSize, storeFor } from '../image/cli-support';
import { define as defineHistory } from './history';
import { define as defineImages } from './images';
import { define as defineImport } from './import';
import { define as defineLoad } from './load';
import { define as definePull } from './pull';
import { define as definePush } from './push';
import { define as defineRmi } from './rmi';
import { define as defineSave } from './save';
import { define as defineTag } from './tag';

export function register(program: Command): void {
  const image = program.command('image').description('Manage images');
  defineImages(image.command('ls').alias('list'));
  defineRmi(image.command('rm').alias('remove'));
  defineHistory(image.command('history'));
  defineSave(image.command('save'));
  defineLoad(image.command('load'));
  defineImport(image.command('import'));
  definePull(image.command('pull'));
  definePush(image.command('push'));
  defineTag(image.command('tag'));

  image
    .command('inspect')
    .description('Show image details as JSON')
    .argument('<image...>', 'image names or IDs')
    .option('-f, --format <template>', 'only "{{.Id}}"-style single fields are supported')
    .action((names: string[], opts: { format?: string }, command: Command) => {
      const store = storeFor(command);
      const results = names.map((name) => {
        const record = store.getImage(name);
        const config = store.configOf(record);
        return {
          Id: record.id,
          RepoTags: record.repoTags,
          RepoDigests: record.repoDigests,
          Created: config.created ?? record.created,
          Author: config.author ?? '',
          Config: config.config ?? {},
          Architecture: config.architecture,
          Variant: config.variant,
          Os: config.os,
          Size: record.size,
          RootFS: { Type: 'layers', Layers: config.rootfs.diff_ids },
          GraphDriver: { Name: 'overlay', Data: { LowerDir: store.imageLowerDirs(record).join(':') } },
          Metadata: { LastTagTime: record.added },
          Descriptor: { mediaType: record.manifestMediaType, digest: record.manifestDigest, size: store.blobSize(record.manifestDigest) },
        };
      });
      if (opts.format) {
        const field = /^\{\{\s*\.([A-Za-z.]+)\s*\}\}$/.exec(opts.format)?.[1];
        if (!field) throw new Error(`image inspect: unsupported --format "${opts.format}" (use {{.Field}})`);
        for (const r of results) {
          const value = field.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], r);
          process.stdout.write(`${typeof value === 'object' ? JSON.stringify(value) : String(value)}\n`);
        }
        return;
      }
      process.stdout.write(JSON.stringify(results, null, 4) + '\n');
    });

  image
    .command('prune')
    .description('Remove untagged images (with -a: every image no container uses)')
    .option('-a, --all', 'remove all unused images')
    .option('-f, --force', 'do not prompt (hull never prompts)')
    .action(async (opts: { all?: boolean }, command: Command) => {
      const { deleted, reclaimed } = await storeFor(command).prune({ all: opts.all });
      if (deleted.length) process.stdout.write('Deleted Images:\n' + deleted.map((d) => `deleted: ${d}\n`).join(''));
      process.stdout.write(`Total reclaimed space: ${dockerSize(reclaimed)}\n`);
    });
}
