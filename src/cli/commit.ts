// `hull commit [-m MSG] [-a AUTHOR] [-c CHANGE] [-p] CONTAINER [REPOSITORY[:TAG]]`.
import type { Command } from 'commander';
import { managerFor } from '../container/cli-support';

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function register(program: Command): void {
  program
    .command('commit')
    .description("Create a new image from a container's changes")
    .argument('<container>')
    .argument('[repository]')
    .option('-m, --message <msg>', 'commit message')
    .option('-a, --author <author>', 'author')
    .option('-c, --change <instruction>', 'apply Dockerfile instruction to the created image', collect, [])
    .option('-p, --pause', 'pause container during commit (default true)', true)
    .option('--no-pause', 'do not pause the container')
    .action(async (target: string, repository: string | undefined, flags: { message?: string; author?: string; change: string[]; pause: boolean }, self: Command) => {
      const image = await managerFor(self).commit(target, {
        reference: repository,
        message: flags.message,
        author: flags.author,
        changes: flags.change,
        pause: flags.pause,
      });
      process.stdout.write(`${image.id}\n`);
    });
}
