// `hull run [OPTIONS] IMAGE [COMMAND] [ARG...]`: create + start; foreground passes the exit code through.
import type { Command } from 'commander';
import { addCreateFlags, createOptionsFrom, forwardSignals, managerFor } from '../container/cli-support';

export function register(program: Command): void {
  const cmd = program
    .command('run')
    .description('Create and run a new container from an image')
    .argument('<image>')
    .argument('[command...]')
    .option('-d, --detach', 'run container in background and print container ID')
    .option('--explain', 'print every kernel step in plain words on stderr (as HULL_TRACE=1)')
    .passThroughOptions();
  addCreateFlags(cmd).action(async (image: string, command: string[], flags, self: Command) => {
    const manager = managerFor(self);
    const options = createOptionsFrom(image, command, flags);
    if (flags.detach) {
      const { record } = await manager.run({ ...options, detach: true });
      process.stdout.write(`${record.Id}\n`);
      return;
    }
    let id = '';
    const stopForwarding = forwardSignals((sig) => {
      if (id) manager.kill(id, sig).catch(() => undefined);
    });
    try {
      const { exitCode } = await manager.run({ ...options, onCreated: (rec) => (id = rec.Id) });
      process.exit(exitCode);
    } finally {
      stopForwarding();
    }
  });
}
