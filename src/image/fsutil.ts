// Small filesystem helpers for crash-safe state: atomic writes and inter-process locks.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { native } from '../native';

/** fsync a directory so a rename inside it survives a crash. */
export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** A name no other process or call will pick: "<prefix><pid>-<random>". Pid first so leftovers of dead processes are recognisable. */
export function uniqueName(prefix = ''): string {
  return `${prefix}${process.pid}-${randomBytes(6).toString('hex')}`;
}

/** The pid a uniqueName() was made by, or null. */
export function ownerPid(name: string, prefix = ''): number | null {
  if (!name.startsWith(prefix)) return null;
  const m = /^(\d+)-[0-9a-f]+/.exec(name.slice(prefix.length));
  return m ? Number(m[1]) : null;
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** temp + fsync + rename + dir fsync: readers see the old or the new file, never a torn one. */
export function writeFileAtomic(file: string, data: string | Buffer, mode = 0o644): void {
  const dir = path.dirname(file);
  const tmp = path.join(dir, uniqueName(`.tmp-${path.basename(file)}-`));
  const fd = fs.openSync(tmp, 'wx', mode);
  try {
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, file);
  fsyncDir(dir);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type NativeFlock = (fd: number, op: 'sh' | 'ex' | 'un', nonblock: boolean) => boolean;

function nativeFlock(): NativeFlock | null {
  try {
    const n = native() as unknown as { flock?: NativeFlock };
    return typeof n.flock === 'function' ? n.flock.bind(n) : null;
  } catch {
    return null;
  }
}

/**
 * Try to take an exclusive flock on an open fd without waiting: true = ours (released when the fd
 * closes or the process dies), false = another holder, null = no flock in this build.
 */
export function tryLockFd(fd: number): boolean | null {
  const flock = nativeFlock();
  return flock ? flock(fd, 'ex', true) : null;
}

/**
 * Run `fn` holding an exclusive lock on `lockFile`. Uses flock(2) (the kernel frees it when the
 * process dies); until the addon has flock, an O_EXCL lock file holding our pid, taken over when
 * its owner is dead.
 */
export async function withFileLock<T>(lockFile: string, fn: () => Promise<T> | T): Promise<T> {
  fs.mkdirSync(path.dirname(lockFile), { recursive: true });
  const flock = nativeFlock();
  if (flock) {
    const fd = fs.openSync(lockFile, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
    try {
      while (!flock(fd, 'ex', true)) await sleep(10);
      return await fn();
    } finally {
      fs.closeSync(fd); // closing the only fd releases the flock
    }
  }
  const pidFile = `${lockFile}.pid`;
  for (;;) {
    try {
      fs.writeFileSync(pidFile, String(process.pid), { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(fs.readFileSync(pidFile, { encoding: 'utf8', flag: 'r' }) || 'NaN');
      // An empty file is a lock being written right now; only a dead owner's file is stale.
      if (Number.isInteger(owner) && owner !== process.pid && !pidAlive(owner)) {
        fs.rmSync(pidFile, { force: true });
        continue;
      }
      await sleep(10);
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(pidFile, { force: true });
  }
}
