// `hull tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]`
import type { Command } from 'commander';
import { storeFor } from '../image/cli-support';

export function define(cmd: Command): Command {
  return cmd
    .description('Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE')
    .argument('<source>', 'image name or ID')
    .argument('<target>', 'new name[:tag]')
    .action(async (source: string, target: string, _opts: unknown, command: Command) => {
      await storeFor(command).tag(source, target);
    });
}

export function register(program: Command): void {
  define(program.command('tag'));
}
