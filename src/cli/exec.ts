// `hull exec [OPTIONS] CONTAINER COMMAND [ARG...]`: run another process in a running container.
import type { Command } from 'commander';
import { forwardSignals, managerFor } from '../container/cli-support';

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function register(program: Command): void {
  program
    .command('exec')
    .description('Execute a command in a running container')
    .argument('<container>')
    .argument('<command...>')
    .option('-d, --detach', 'detached mode: run command in the background')
    .option('-e, --env <KEY=VALUE>', 'set environment variables', collect, [])
    .option('-i, --interactive', 'keep STDIN open')
    .option('-t, --tty', 'allocate a pseudo-TTY')
    .option('-u, --user <user>', 'username or UID (format: <name|uid>[:<group|gid>])')
    .option('-w, --workdir <dir>', 'working directory inside the container')
    .option('--privileged', 'give extended privileges to the command')
    .option('--explain', 'print every kernel step in plain words on stderr (as HULL_TRACE=1)')
    .passThroughOptions()
    .action(async (target: string, command: string[], flags: { detach?: boolean; env: string[]; interactive?: boolean; tty?: boolean; user?: string; workdir?: string; privileged?: boolean }, self: Command) => {
      const manager = managerFor(self);
      let pid = 0;
      const stop = forwardSignals((sig) => {
        if (pid) try { process.kill(pid, sig); } catch { /* gone */ }
      });
      try {
        const code = await manager.exec(target, {
          command,
          env: flags.env,
          user: flags.user,
          workdir: flags.workdir,
          tty: flags.tty,
          interactive: flags.interactive,
          detach: flags.detach,
          privileged: flags.privileged,
          onStarted: (p) => (pid = p),
        });
        process.exit(code);
      } finally {
        stop();
      }
    });
}
