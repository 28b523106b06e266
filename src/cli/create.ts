// `hull create [OPTIONS] IMAGE [COMMAND] [ARG...]`: the container without starting it; prints its id.
import type { Command } from 'commander';
import { addCreateFlags, createOptionsFrom, managerFor } from '../container/cli-support';

export function register(program: Command): void {
  const cmd = program
    .command('create')
    .description('Create a new container')
    .argument('<image>')
    .argument('[command...]')
    .passThroughOptions();
  addCreateFlags(cmd).action(async (image: string, command: string[], flags, self: Command) => {
    const record = await managerFor(self).create(createOptionsFrom(image, command, flags));
    process.stdout.write(`${record.Id}\n`);
  });
}
