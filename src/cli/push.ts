// `hull push [-q] NAME[:TAG]`
import type { Command } from 'commander';
import { progressFor, storeFor } from '../image/cli-support';
import { pushImage } from '../image/push';

export function define(cmd: Command): Command {
  return cmd
    .description('Upload an image to a registry')
    .argument('<name>', 'image reference with the target registry, e.g. registry.lan:5000/app:1')
    .option('-q, --quiet', 'print nothing but errors')
    .option('--chunked', 'upload blobs in chunks (PATCH) instead of one request each')
    .action(async (name: string, opts: { quiet?: boolean; chunked?: boolean }, command: Command) => {
      await pushImage(storeFor(command), name, { progress: progressFor(Boolean(opts.quiet)), chunked: opts.chunked });
    });
}

export function register(program: Command): void {
  define(program.command('push'));
}
