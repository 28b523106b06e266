// `hull export [-o FILE] CONTAINER`: the container's merged filesystem as a tar archive.
import * as fs from 'node:fs';
import type { Command } from 'commander';
import { managerFor } from '../container/cli-support';

export function register(program: Command): void {
  program
    .command('export')
    .description("Export a container's filesystem as a tar archive")
    .argument('<container>')
    .option('-o, --output <file>', 'write to a file, instead of STDOUT')
    .action(async (target: string, flags: { output?: string }, self: Command) => {
      if (!flags.output && process.stdout.isTTY) {
        throw Object.assign(new Error('cowardly refusing to save to a terminal. Use the -o flag or redirect'), { exitCode: 1 });
      }
      const out = flags.output ? fs.createWriteStream(flags.output, { mode: 0o600 }) : process.stdout;
      await managerFor(self).export(target, out);
    });
}
