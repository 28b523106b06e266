// `hull login [-u USER] [-p PASS | --password-stdin] [SERVER]`: checks the credentials against the
// registry, then stores them in hull's auth file (never printed). On a terminal it asks for what is
// missing, without echoing the password.
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
      let username = opts.username;
      if ((!username || !password) && process.stdin.isTTY) {
        username ||= await prompt('Username: ', false);
        password ||= await prompt('Password: ', true);
      }
      if (!username || !password) throw new Error('login: give --username and --password-stdin (stdin is not a terminal to ask on)');
      const creds = { username, password };
      const registryName = registry === 'index.docker.io' ? 'docker.io' : registry;
      await new RegistryClient({ registry: registryName, credentials: creds }).login();
      saveCredentials(registryName, creds);
      process.stdout.write('Login Succeeded\n');
    });
}

/** Ask on the terminal; with `secret`, keystrokes are not echoed. */
function prompt(question: string, secret: boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(question);
    let answer = '';
    const done = (err?: Error) => {
      stdin.removeListener('data', onData);
      if (secret) stdin.setRawMode(false);
      stdin.pause();
      if (secret) process.stderr.write('\n'); // the terminal echoed the Enter of a visible answer
      if (err) reject(err);
      else resolve(answer);
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new Error('login: interrupted'));
        if (ch === '\u007f' || ch === '\b') answer = answer.slice(0, -1);
        else answer += ch;
      }
    };
    if (secret) stdin.setRawMode(true);
    stdin.resume();
    stdin.on('data', onData);
  });
}

export function register(program: Command): void {
  define(program.command('login'));
}
