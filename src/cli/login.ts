// `hull login [-u USER] [-p PASS | --password-stdin] [SERVER]`: checks the credentials against the
// registry, then stores them in hull's auth file (never printed).
import type { Command } from 'commander';
import { readStdin } from '../image/cli-support';
import { saveCredentials } from '../image/auth';
import { RegistryClient } from '../image/registry';

export function define(cmd: Command): Command {
  return cmd
    .description('Log in to a registry (default: Docker Hub)')
    .argument('[server]', 'registry host[:port]', 'docker.io')
    .option('-u, --username <username>', 'username')
    .option('-p, --password <password>', 'password (insecure: prefer --password-stdin)')
    .option('--password-stdin', 'read the password from stdin')
    .action(async (server: string, opts: { username?: string; password?: string; passwordStdin?: boolean }) => {
      const registry = server.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
      if (opts.password && opts.passwordStdin) throw new Error('login: --password and --password-stdin are mutually exclusive');
      let password = opts.password;
      if (opts.passwordStdin) {
        if (!opts.username) throw new Error('login: --password-stdin needs --username');
        password = (await readStdin()).toString('utf8').replace(/\r?\n$/, '');
      } else if (password) {
        process.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
      }
      if (!opts.username || !password) throw new Error('login: give --username and --password-stdin (interactive prompts are not supported)');
      const creds = { username: opts.username, password };
      const registryName = registry === 'index.docker.io' ? 'docker.io' : registry;
      await new RegistryClient({ registry: registryName, credentials: creds }).login();
      saveCredentials(registryName, creds);
      process.stdout.write('Login Succeeded\n');
    });
}

export function register(program: Command): void {
  define(program.command('login'));
}
