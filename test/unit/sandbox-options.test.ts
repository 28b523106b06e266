// Option validation: every bad option is refused with a message naming it, before anything exists.
import { describe, expect, it } from 'vitest';
import * as os from 'node:os';
import { parseSize, resolveProcessOptions, resolveSandboxOptions } from '../../src/sandbox/options';

const rootfs = os.tmpdir(); // any directory: these tests stop at validation

describe('parseSize', () => {
  it.each([
    [1048576, 1048576],
    ['64m', 64 * 1024 ** 2],
    ['64M', 64 * 1024 ** 2],
    ['64MiB', 64 * 1024 ** 2],
    ['64mb', 64 * 1024 ** 2],
    ['1.5g', 1.5 * 1024 ** 3],
    ['512k', 512 * 1024],
    ['4096', 4096],
  ])('%s → %d bytes', (input, bytes) => {
    expect(parseSize('memory', input)).toBe(bytes);
  });

  it.each([
    ['lots', TypeError, /memory: cannot read "lots" as a size/],
    ['-5m', TypeError, /memory: cannot read "-5m"/],
    [true, TypeError, /memory: expected bytes \(a number\) or a size like "64m", got true/],
    [-1, RangeError, /memory: must be positive, got -1/],
    [0, RangeError, /memory: must be positive/],
    [1.5, RangeError, /memory: must be a whole number of bytes/],
    [Infinity, RangeError, /memory: must be a whole number/],
  ])('refuses %s', (input, type, message) => {
    expect(() => parseSize('memory', input)).toThrow(type);
    expect(() => parseSize('memory', input)).toThrow(message);
  });
});

describe('sandbox options', () => {
  const bad: [string, object, ErrorConstructor, RegExp][] = [
    ['no root', {}, TypeError, /^image, rootfs: one of them is required/],
    ['both roots', { image: 'x', rootfs }, TypeError, /^image, rootfs: give one of them, not both/],
    ['image type', { image: 42 }, TypeError, /^image: expected an image reference/],
    ['empty image', { image: '  ' }, TypeError, /^image: expected an image reference/],
    ['negative memory', { rootfs, memory: -1 }, RangeError, /^memory: must be positive/],
    ['tiny memory', { rootfs, memory: '100k' }, RangeError, /^memory: at least 1 MiB is needed/],
    ['absurd memory', { rootfs, memory: '64t' }, RangeError, /^memory: 64 TiB is more than this machine has/],
    ['pids zero', { rootfs, pids: 0 }, RangeError, /^pids: must be between 1 and 4194304, got 0/],
    ['pids fraction', { rootfs, pids: 2.5 }, RangeError, /^pids: must be a whole number/],
    ['pids string', { rootfs, pids: '10' }, TypeError, /^pids: expected a number, got "10"/],
    ['cpus zero', { rootfs, cpus: 0 }, RangeError, /^cpus: must be between 0.01 and \d+/],
    ['cpus absurd', { rootfs, cpus: 10_000 }, RangeError, /^cpus: must be between 0.01 and \d+ \(the CPUs this machine has\), got 10000/],
    ['network', { rootfs, network: 'bridge' }, TypeError, /^network: expected "none" or "host", got "bridge"/],
    ['readonlyRoot', { rootfs, readonlyRoot: 'yes' }, TypeError, /^readonlyRoot: expected true or false/],
    ['tmpSize', { rootfs, tmpSize: -3 }, RangeError, /^tmpSize: must be positive/],
    ['mounts type', { rootfs, mounts: {} }, TypeError, /^mounts: expected an array/],
    ['mount target', { rootfs, mounts: [{ source: rootfs, target: 'rel' }] }, TypeError, /^mounts\[0\]\.target: must be an absolute path/],
    ['mount over root', { rootfs, mounts: [{ source: rootfs, target: '/' }] }, TypeError, /^mounts\[0\]\.target: cannot mount over the root/],
    ['mount dotdot', { rootfs, mounts: [{ source: rootfs, target: '/a/../b' }] }, TypeError, /^mounts\[0\]\.target: must not contain "\.\."/],
    ['mount key', { rootfs, mounts: [{ source: rootfs, target: '/a', ro: true }] }, TypeError, /^ro: unknown mounts\[0\] option/],
    ['hostname', { rootfs, hostname: 'a b' }, TypeError, /^hostname: expected a host name/],
    ['user', { rootfs, user: { uid: -1, gid: 0 } }, RangeError, /^user\.uid: must be between 0 and/],
    ['trace', { rootfs, trace: 'yes' }, TypeError, /^trace: expected a function/],
    ['unknown key with hint', { rootfs, timeout: 5 }, TypeError, /^timeout: unknown sandbox option \(did you mean timeoutMs\?\)/],
  ];
  it.each(bad)('refuses %s', async (_name, options, type, message) => {
    const p = resolveSandboxOptions(options as never, ['timeoutMs']);
    await expect(p).rejects.toThrow(type);
    await expect(resolveSandboxOptions(options as never, ['timeoutMs'])).rejects.toThrow(message);
  });

  it('refuses a missing or non-directory rootfs, and a missing mount source', async () => {
    await expect(resolveSandboxOptions({ rootfs: '/nonexistent/hull-rootfs' })).rejects.toMatchObject({
      name: 'SandboxOptionError', option: 'rootfs', code: 'ENOENT', message: 'rootfs: /nonexistent/hull-rootfs does not exist',
    });
    await expect(resolveSandboxOptions({ rootfs: '/etc/passwd' })).rejects.toMatchObject({
      option: 'rootfs', code: 'ENOTDIR', message: 'rootfs: /etc/passwd is not a directory',
    });
    await expect(resolveSandboxOptions({ rootfs, mounts: [{ source: '/nonexistent/src', target: '/x' }] })).rejects.toMatchObject({
      option: 'mounts[0].source', code: 'ENOENT',
    });
  });

  it('applies the defaults', async () => {
    const o = await resolveSandboxOptions({ rootfs, memory: '64m', cpus: 0.5 });
    expect(o).toMatchObject({
      rootfs, network: 'none', readonlyRoot: true, tmpSizeBytes: 64 * 1024 * 1024, hostname: 'sandbox', user: { uid: 0, gid: 0 },
      limits: { memoryBytes: 64 * 1024 * 1024, pids: 1024, cpuQuotaUs: 50_000 },
    });
  });
});

describe('process options', () => {
  const bad: [string, object, ErrorConstructor, RegExp][] = [
    ['argv empty', { argv: [] }, TypeError, /^argv: expected a non-empty array of strings/],
    ['argv string', { argv: 'ls -l' }, TypeError, /^argv: expected a non-empty array of strings, got "ls -l"/],
    ['argv number', { argv: ['ls', 1] }, TypeError, /^argv\[1\]: expected a string, got 1/],
    ['argv NUL', { argv: ['a\0b'] }, TypeError, /^argv\[0\]: contains a NUL byte/],
    ['env value', { env: { A: 1 } }, TypeError, /^env\.A: expected a string, got 1/],
    ['env entry', { env: ['NOEQUALS'] }, TypeError, /^env\[0\]: expected "KEY=VALUE"/],
    ['cwd relative', { cwd: 'tmp' }, TypeError, /^cwd: must be an absolute path/],
    ['stdin', { stdin: 42 }, TypeError, /^stdin: expected a string or a Buffer/],
    ['timeout negative', { timeoutMs: -5 }, RangeError, /^timeoutMs: must be more than 0/],
    ['timeout absurd', { timeoutMs: 1e12 }, RangeError, /^timeoutMs: must be more than 0 and at most 2147483647 ms/],
    ['timeout string', { timeoutMs: '5s' }, TypeError, /^timeoutMs: expected milliseconds/],
    ['output limit', { outputLimitBytes: -1 }, RangeError, /^outputLimitBytes: must be between 0 and/],
    ['callback', { onStdout: 'x' }, TypeError, /^onStdout: expected a function/],
  ];
  it.each(bad)('refuses %s', (_name, options, type, message) => {
    expect(() => resolveProcessOptions(options as never)).toThrow(type);
    expect(() => resolveProcessOptions(options as never)).toThrow(message);
  });

  it('normalises env and stdin', () => {
    const o = resolveProcessOptions({ env: { A: '1', B: 'x=y' }, stdin: 'in', argv: ['ls'] });
    expect(o.env).toEqual(['A=1', 'B=x=y']);
    expect(o.stdin).toEqual(Buffer.from('in'));
    expect(o.outputLimitBytes).toBe(16 * 1024 * 1024);
  });
});
