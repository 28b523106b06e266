// `hull save [-o FILE] IMAGE...`: a docker-archive that is also an OCI layout.
import type { Command } from 'commander';
import { storeFor } from '../image/cli-support';
import { saveArchive } from '../image/archive';

export function define(cmd: Command): Command {
  return cmd
    .description('Save images to a tar archive (docker-archive with an OCI layout inside)')
    .argument('<image...>', 'image names or IDs')
    .option('-o, --output <file>', 'write to a file instead of stdout')
    .action(async (images: string[], opts: { output?: string }, command: Command) => {
      const store = storeFor(command);
      if (!opts.output && process.stdout.isTTY) throw new Error('save: refusing to write a tar archive to a terminal; use -o FILE or redirect stdout');
      await saveArchive(store, images, opts.output ?? process.stdout);
    });
}

export function register(program: Command): void {
  define(program.command('save'));
}
