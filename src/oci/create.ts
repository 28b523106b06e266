// hull-oci create: set the container up; its process waits for `start`.
import type { Verb } from './cli';
import { runtimeFor, str } from './cli';

export const CREATE_FLAGS: Verb['flags'] = [
  { name: 'bundle', alias: 'b', type: 'string', description: 'path to the bundle directory (default: cwd)', valueName: 'dir' },
  { name: 'console-socket', type: 'string', description: 'unix socket that receives the pty master', valueName: 'path' },
  { name: 'pid-file', type: 'string', description: 'file to write the container pid to', valueName: 'file' },
  { name: 'no-pivot', type: 'boolean', description: 'use chroot instead of pivot_root' },
  { name: 'no-new-keyring', type: 'boolean', description: 'do not create a session keyring' },
  { name: 'preserve-fds', type: 'string', description: 'pass N extra fds (3..3+N-1) to the container', valueName: 'N' },
  { name: 'pidfd-socket', type: 'string', description: 'not supported', valueName: 'path' },
];

export function createOptions(flags: Record<string, unknown>, id: string) {
  if (flags['pidfd-socket']) throw new Error('--pidfd-socket is not supported');
  const preserve = str(flags['preserve-fds']);
  if (preserve !== undefined && !/^\d+$/.test(preserve)) throw new Error(`invalid --preserve-fds: ${preserve}`);
  return {
    id,
    bundle: str(flags.bundle) ?? process.cwd(),
    consoleSocket: str(flags['console-socket']),
    pidFile: str(flags['pid-file']),
    noPivot: flags['no-pivot'] === true,
    noNewKeyring: flags['no-new-keyring'] === true,
    preserveFds: preserve ? Number(preserve) : undefined,
  };
}

const create: Verb = {
  usage: 'create [options] <container-id>',
  description: 'Create a container from a bundle; its process waits until `start`.',
  flags: CREATE_FLAGS,
  args: [1, 1],
  async run({ flags, positionals }, globals) {
    await runtimeFor(globals).create(createOptions(flags, positionals[0]));
  },
};
export default create;
