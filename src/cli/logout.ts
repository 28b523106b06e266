// `hull logout [SERVER]`: forget stored credentials for a registry.
import type { Command } from 'commander';
import { removeCredentials } from '../image/auth';

export function define(cmd: Command): Command {
  return cmd
    .description('Log out from a registry (default: Docker Hub)')
    .argument('[server]', 'registry host[:port]', 'docker.io')
    .action((server: string) => {
      const registry = server.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
      if (removeCredentials(registry)) process.stdout.write(`Removing login credentials for ${registry}\n`);
      else process.stdout.write(`Not logged in to ${registry}\n`);
    });
}

export function register(program: Command): void {
  define(program.command('logout'));
}
