// native/proc.cc: pidfds, kill, the subreaper flag and close-on-exec marking. Runs as root.
import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { native } from '../../src/native';
import { O_CLOEXEC, caught, fdFlags } from '../setup/native-fds';

const SIGTERM = os.constants.signals.SIGTERM;
const SIGKILL = os.constants.signals.SIGKILL;

/** A `sleep` child; the odd duration makes it easy to spot if a test ever leaks it. */
function spawnSleeper(): ChildProcess {
  return spawn('sleep', ['31.4159'], { stdio: 'ignore' });
}

/** Pid of a process that has exited and been reaped (not reused this quickly in practice). */
async function deadPid(): Promise<number> {
  const child = spawn('true', [], { stdio: 'ignore' });
  await once(child, 'exit');
  return child.pid!;
}

describe('pidfd', () => {
  it('opens a close-on-exec pidfd and signals through it', async () => {
    const child = spawnSleeper();
    const exited = once(child, 'exit');
    const pidfd = native().pidfdOpen(child.pid!);
    try {
      expect(fdFlags(pidfd) & O_CLOEXEC).toBe(O_CLOEXEC);
      native().pidfdSendSignal(pidfd, SIGTERM);
      const [code, signal] = await exited;
      expect(code).toBeNull();
      expect(signal).toBe('SIGTERM');
      // The pidfd keeps naming the dead process: signalling it now is ESRCH, never another process.
      expect(caught(() => native().pidfdSendSignal(pidfd, SIGTERM))).toMatchObject({
        code: 'ESRCH',
        syscall: 'pidfd_send_signal',
      });
    } finally {
      fs.closeSync(pidfd);
      child.kill('SIGKILL');
    }
  });

  it('reports ESRCH for a pid that does not exist', async () => {
    const pid = await deadPid();
    expect(caught(() => native().pidfdOpen(pid))).toMatchObject({ code: 'ESRCH', syscall: 'pidfd_open' });
  });
});

describe('kill', () => {
  it('checks existence with signal 0 and delivers signals', async () => {
    const child = spawnSleeper();
    const exited = once(child, 'exit');
    try {
      expect(native().kill(child.pid!, 0)).toBe(true);
      expect(native().kill(child.pid!, SIGKILL)).toBe(true);
      const [, signal] = await exited;
      expect(signal).toBe('SIGKILL');
    } finally {
      child.kill('SIGKILL');
    }
    expect(native().kill(await deadPid(), 0)).toBe(false);
  });

  it('throws other errors (EINVAL for a bad signal)', () => {
    expect(caught(() => native().kill(process.pid, 12345))).toMatchObject({ code: 'EINVAL', syscall: 'kill' });
  });
});

describe('setChildSubreaper', () => {
  it('adopts orphaned grandchildren while set', async () => {
    native().setChildSubreaper(true);
    let grandchild = 0;
    try {
      // sh starts a background sleep and exits at once: the sleep is orphaned.
      const sh = spawn('sh', ['-c', 'sleep 31.4159 & echo $!'], { stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      sh.stdout!.on('data', (d) => (out += d));
      await once(sh, 'exit');
      grandchild = parseInt(out.trim(), 10);
      const stat = fs.readFileSync(`/proc/${grandchild}/stat`, 'utf8');
      const ppid = parseInt(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1], 10);
      expect(ppid).toBe(process.pid);
    } finally {
      native().setChildSubreaper(false);
      if (grandchild > 0) native().kill(grandchild, SIGKILL);
    }
  });
});

describe('cloexecFrom', () => {
  it('leaves every fd from minFd up close-on-exec', () => {
    const fd = fs.openSync('/dev/null', 'r');
    try {
      native().cloexecFrom(3);
      for (const name of fs.readdirSync('/proc/self/fd')) {
        const n = Number(name);
        // The directory fd readdirSync used is already closed; skip fds that vanished.
        if (n < 3 || !fs.existsSync(`/proc/self/fdinfo/${n}`)) continue;
        expect(fdFlags(n) & O_CLOEXEC).toBe(O_CLOEXEC);
      }
      expect(fdFlags(fd) & O_CLOEXEC).toBe(O_CLOEXEC);
    } finally {
      fs.closeSync(fd);
    }
  });

  it('rejects a negative minFd', () => {
    expect(() => native().cloexecFrom(-1)).toThrow(RangeError);
  });
});
