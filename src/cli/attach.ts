// `hull attach [--no-stdin] [--detach-keys KEYS] CONTAINER`: a detached container's terminal (-t),
// or its stdout and stderr (and stdin with -i), through its monitor's attach socket; exits with
// the container's code, or 1 on detach.
import type { Command } from 'commander';
import { managerFor } from '../container/cli-support';

export function register(program: Command): void {
  program
    .command('attach')
    .description("Attach local standard input, output, and error streams to a running container")
    .argument('<container>')
    .option('--no-stdin', 'do not attach STDIN')
    .option('--detach-keys <keys>', 'override the key sequence for detaching a container (default "ctrl-p,ctrl-q")')
    .action(async (target: string, flags: { stdin: boolean; detachKeys?: string }, self: Command) => {
      const code = await managerFor(self).attach(target, { stdin: flags.stdin, detachKeys: flags.detachKeys });
      process.exit(code);
    });
}
