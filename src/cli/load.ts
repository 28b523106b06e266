// `hull load [-i FILE] [-q] [--platform P]`: docker-archive, oci-archive (plain or gzip).
import type { Command } from 'commander';
import { storeFor } from '../image/cli-support';
import { loadArchive } from '../image/archive';
import { parsePlatform } from '../image/platform';

export function define(cmd: Command): Command {
  return cmd
    .description('Load images from a tar archive (docker-archive or oci-archive, plain or gzip)')
    .option('-i, --input <file>', 'read from a file instead of stdin')
    .option('-q, --quiet', 'print nothing')
    .option('--platform <os/arch[/variant]>', 'platform to load from a multi-platform archive')
    .action(async (opts: { input?: string; quiet?: boolean; platform?: string }, command: Command) => {
      const store = storeFor(command);
      if (!opts.input && process.stdin.isTTY) throw new Error('load: requested load from stdin, but stdin is empty; use -i FILE');
      await loadArchive(store, opts.input ?? process.stdin, {
        platform: opts.platform ? parsePlatform(opts.platform) : undefined,
        progress: opts.quiet ? undefined : (line) => process.stdout.write(`${line}\n`),
      });
    });
}

export function register(program: Command): void {
  define(program.command('load'));
}
