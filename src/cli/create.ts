// `hull create [OPTIONS] IMAGE [COMMAND] [ARG...]`: the container without starting it; prints its id.
import type { Command } from 'commander';
import { addCreateFlags, createOptionsFrom, managerFor } from '../container/cli-support';
import { addLimitFlags, limitFlagsFrom } from './run';

export function register(program: Command): void {
  const cmd = program
    .command('create')
    .description('Create a new container')
    .argument('<image>')
    .argument('[command...]')
    .passThroughOptions();
  addLimitFlags(addCreateFlags(cmd)).action(async (image: string, command: string[], flags, self: Command) => {
    const record = await managerFor(self).create({ ...createOptionsFrom(image, command, flags), limits: limitFlagsFrom(flags), userns: flags.userns as string | undefined });
    process.stdout.write(`${record.Id}\n`);
  });
}
