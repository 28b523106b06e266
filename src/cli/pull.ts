// `hull pull [--platform os/arch[/variant]] [-q] NAME[:TAG|@DIGEST]`
import type { Command } from 'commander';
import { progressFor, storeFor } from '../image/cli-support';
import { pullImage } from '../image/pull';
import { fullString, parseReference } from '../image/reference';

export function define(cmd: Command): Command {
  return cmd
    .description('Download an image from a registry')
    .argument('<name>', 'image reference, e.g. busybox, ghcr.io/org/app:1.2, app@sha256:…')
    .option('--platform <os/arch[/variant]>', 'platform to pull from a multi-platform image (default: this host)')
    .option('-q, --quiet', 'print only the image reference')
    .option('--concurrency <n>', 'parallel layer downloads', '3')
    .action(async (name: string, opts: { platform?: string; quiet?: boolean; concurrency: string }, command: Command) => {
      const store = storeFor(command);
      await pullImage(store, name, {
        platform: opts.platform,
        progress: progressFor(Boolean(opts.quiet)),
        concurrency: Math.max(1, Number(opts.concurrency) || 3),
      });
      // Like docker: the fully qualified reference, also with --quiet (scripts read it).
      process.stdout.write(`${fullString(parseReference(name))}\n`);
    });
}

export function register(program: Command): void {
  define(program.command('pull'));
}
