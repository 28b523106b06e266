// `hull import [-c CHANGE]... [-m MESSAGE] [--platform P] FILE|- [REPOSITORY[:TAG]]`
import type { Command } from 'commander';
import { collect, storeFor } from '../image/cli-support';
import { importRootfs } from '../image/archive';
import { parsePlatform } from '../image/platform';

export function define(cmd: Command): Command {
  return cmd
    .description('Create an image from a root filesystem tarball')
    .argument('<file>', 'tarball (plain or gzip), or - for stdin')
    .argument('[reference]', 'repository[:tag] for the new image')
    .option('-c, --change <instruction>', 'Dockerfile instruction: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR', collect, [])
    .option('-m, --message <message>', 'commit message for the image history')
    .option('--platform <os/arch[/variant]>', 'platform to record (default: this host)')
    .action(async (file: string, reference: string | undefined, opts: { change: string[]; message?: string; platform?: string }, command: Command) => {
      const store = storeFor(command);
      const image = await importRootfs(store, file === '-' ? process.stdin : file, {
        reference,
        changes: opts.change,
        message: opts.message,
        platform: opts.platform ? parsePlatform(opts.platform) : undefined,
      });
      process.stdout.write(`${image.id}\n`);
    });
}

export function register(program: Command): void {
  define(program.command('import'));
}
