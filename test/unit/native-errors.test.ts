// Native errors are shaped like Node's SystemError: code, positive errno, syscall, optional path.
import { describe, it, expect } from 'vitest';
import * as os from 'node:os';
import { native, type HullNative, type NativeError } from '../../src/native';

// Test-only exports of native/errors.cc (not part of the HullNative contract).
interface ErrorTestExports {
  errnoName(errno: number): string;
  systemError(errno: number, syscall: string, path?: string): NativeError;
}
const addon = native() as HullNative & ErrorTestExports;

describe('native errors', () => {
  it('formats "<syscall> <path>: <CODE> (<strerror>)" with every property', () => {
    const err = addon.systemError(1, 'mount', '/x/rootfs/proc');
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toBe('mount /x/rootfs/proc: EPERM (Operation not permitted)');
    expect(err.code).toBe('EPERM');
    expect(err.errno).toBe(1);
    expect(err.syscall).toBe('mount');
    expect(err.path).toBe('/x/rootfs/proc');
  });

  it('leaves out path (message and property) when there is none', () => {
    const err = addon.systemError(110, 'accept');
    expect(err.message).toBe('accept: ETIMEDOUT (Connection timed out)');
    expect(err.code).toBe('ETIMEDOUT');
    expect(err).not.toHaveProperty('path');
  });

  it('names errno values like Node does', () => {
    for (const [name, value] of Object.entries(os.constants.errno)) {
      // Aliases share a value; the kernel value maps to one canonical name.
      if (['EWOULDBLOCK', 'EDEADLOCK', 'EOPNOTSUPP'].includes(name)) continue;
      expect(addon.errnoName(value)).toBe(name);
    }
    expect(addon.errnoName(95)).toBe('ENOTSUP');
    expect(addon.errnoName(11)).toBe('EAGAIN');
    expect(addon.errnoName(61)).toBe('ENODATA');
    expect(addon.errnoName(4095)).toBe('E4095');
  });

  it('throws real SystemError-shaped errors from syscalls', () => {
    let caught: NativeError | undefined;
    try {
      addon.statfsType('/nonexistent-hull-errors-test');
    } catch (e) {
      caught = e as NativeError;
    }
    expect(caught).toBeInstanceOf(Error);
    expect(caught).toMatchObject({
      code: 'ENOENT',
      errno: 2,
      syscall: 'statfs',
      path: '/nonexistent-hull-errors-test',
      message: 'statfs /nonexistent-hull-errors-test: ENOENT (No such file or directory)',
    });
  });

  it('rejects wrong argument types with a TypeError before any syscall', () => {
    expect(() => addon.statfsType(42 as unknown as string)).toThrow(TypeError);
    expect(() => addon.kill('1' as unknown as number, 0)).toThrow(TypeError);
  });
});
