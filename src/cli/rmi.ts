// `hull rmi [-f] IMAGE...`
import type { Command } from 'commander';
import { storeFor } from '../image/cli-support';
import { pruneShiftedLayers } from '../container/userns';

export function define(cmd: Command): Command {
  return cmd
    .description('Remove images (a tag, or the image by ID); content no image uses is deleted')
    .argument('<image...>', 'image names or IDs')
    .option('-f, --force', 'untag an image even when containers use it')
    .action(async (images: string[], opts: { force?: boolean }, command: Command) => {
      const store = storeFor(command);
      const errors: string[] = [];
      for (const image of images) {
        try {
          for (const line of await store.removeImage(image, { force: opts.force })) process.stdout.write(`${line}\n`);
        } catch (err) {
          errors.push((err as Error).message);
        }
      }
      // `--userns remap` copies of layers that are gone now (made only without idmapped mounts).
      pruneShiftedLayers(store.root);
      if (errors.length) throw new Error(errors.join('\nhull: '));
    });
}

export function register(program: Command): void {
  define(program.command('rmi'));
}
