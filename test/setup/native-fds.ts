// Small helpers the native addon's unit tests share: catching a NativeError and looking at fds.
import * as fs from 'node:fs';
import type { NativeError } from '../../src/native';

/** O_CLOEXEC as it shows in /proc/self/fdinfo flags (fs.constants does not export it). */
export const O_CLOEXEC = 0o2000000;

/** The error `fn` throws; fails the test if it does not throw. */
export function caught(fn: () => unknown): NativeError {
  try {
    fn();
  } catch (e) {
    return e as NativeError;
  }
  throw new Error('expected a throw');
}

/** The open flags the kernel reports for one of our fds. */
export function fdFlags(fd: number): number {
  const info = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
  return parseInt(/flags:\s+([0-7]+)/.exec(info)![1], 8);
}

/** Up to 4 KiB read from the start of `fd`. */
export function readFd(fd: number): string {
  const buffer = Buffer.alloc(4096);
  const n = fs.readSync(fd, buffer, 0, buffer.length, 0);
  return buffer.subarray(0, n).toString();
}
