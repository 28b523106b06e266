// hull-oci exec: run another process in a running container (`--process FILE` or args).
import type { Verb } from './cli';
import { readFileOrStdin, runtimeFor, str } from './cli';
import { forwardSignals } from './signals';

/** "uid[:gid]" → ids. runc only takes numbers here. */
function parseUser(user: string): { uid: number; gid: number } {
  const m = /^(\d+)(?::(\d+))?$/.exec(user);
  if (!m) throw new Error(`invalid --user ${user}: expected UID[:GID]`);
  return { uid: Number(m[1]), gid: Number(m[2] ?? 0) };
}

const exec: Verb = {
  usage: 'exec [options] <container-id> [command [args...]]',
  description: 'Run a process in a running container.',
  flags: [
    { name: 'process', alias: 'p', type: 'string', description: 'process.json with the process to run', valueName: 'file' },
    { name: 'detach', alias: 'd', type: 'boolean', description: 'detach from the process' },
    { name: 'pid-file', type: 'string', description: 'file to write the process pid to', valueName: 'file' },
    { name: 'console-socket', type: 'string', description: 'unix socket that receives the pty master', valueName: 'path' },
    { name: 'tty', alias: 't', type: 'boolean', description: 'allocate a pty' },
    { name: 'cwd', type: 'string', description: 'working directory', valueName: 'dir' },
    { name: 'env', alias: 'e', type: 'list', description: 'add KEY=VALUE to the environment', valueName: 'KEY=VALUE' },
    { name: 'user', alias: 'u', type: 'string', description: 'UID[:GID]', valueName: 'uid[:gid]' },
    { name: 'additional-gids', alias: 'g', type: 'list', description: 'additional gids', valueName: 'gid' },
    { name: 'cap', alias: 'c', type: 'list', description: 'add a capability', valueName: 'CAP' },
    { name: 'no-new-privs', type: 'boolean', description: 'set no_new_privs' },
    { name: 'preserve-fds', type: 'string', description: 'pass N extra fds', valueName: 'N' },
    { name: 'ignore-paused', type: 'boolean', description: 'not supported' },
    { name: 'cgroup', type: 'list', description: 'not supported', valueName: 'path' },
  ],
  args: [1, Infinity],
  async run({ flags, positionals }, globals) {
    const [id, ...args] = positionals;
    const runtime = runtimeFor(globals);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { execProcessFromArgs } = require('../runtime/container') as typeof import('../runtime/container');
    let proc;
    const processFile = str(flags.process);
    if (processFile) {
      proc = JSON.parse(readFileOrStdin(processFile));
    } else {
      if (!args.length) throw new Error('exec needs a command or --process');
      const user = str(flags.user) ? parseUser(str(flags.user)!) : undefined;
      const gids = (flags['additional-gids'] as string[] | undefined)?.map(Number);
      proc = execProcessFromArgs(runtime.record(id).config.process, {
        args,
        env: flags.env as string[] | undefined,
        cwd: str(flags.cwd),
        user: user ? { ...user, additionalGids: gids } : undefined,
        tty: flags.tty === true,
        caps: flags.cap as string[] | undefined,
        noNewPrivileges: flags['no-new-privs'] === true,
      });
    }
    let stop = () => {};
    try {
      return await runtime.exec(id, proc, {
        detach: flags.detach === true,
        pidFile: str(flags['pid-file']),
        consoleSocket: str(flags['console-socket']),
        preserveFds: str(flags['preserve-fds']) ? Number(flags['preserve-fds']) : undefined,
        onStarted: (pid) => (stop = forwardSignals(pid)),
      });
    } finally {
      stop();
    }
  },
};
export default exec;
