// native/fs.cc: confined opens and mkdir -p (openat2 RESOLVE_IN_ROOT), mknod, byte-exact
// xattrs, flock, fsync of a path and statfs. Runs as root.
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { native, type NativeError } from '../../src/native';
import { O_CLOEXEC, caught, fdFlags, readFd } from '../setup/native-fds';

const { O_RDONLY, O_WRONLY, O_CREAT, O_DIRECTORY, O_EXCL } = fs.constants;

let work: string; // per-test temp dir: root/ is the confined root, outside/ is "the host"
let root: string;
let outside: string;
let rootFd: number;

beforeEach(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'hull-native-fs-'));
  root = path.join(work, 'root');
  outside = path.join(work, 'outside');
  fs.mkdirSync(path.join(root, 'etc'), { recursive: true });
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(root, 'etc/passwd'), 'inside\n');
  rootFd = fs.openSync(root, O_RDONLY | O_DIRECTORY);
});

afterEach(() => {
  fs.closeSync(rootFd);
  fs.rmSync(work, { recursive: true, force: true });
});

describe('openInRoot', () => {
  it('opens a plain path and always sets O_CLOEXEC', () => {
    const fd = native().openInRoot(rootFd, 'etc/passwd', O_RDONLY, 0);
    try {
      expect(readFd(fd)).toBe('inside\n');
      expect(fdFlags(fd) & O_CLOEXEC).toBe(O_CLOEXEC);
    } finally {
      fs.closeSync(fd);
    }
  });

  it('resolves an absolute symlink inside the root', () => {
    fs.symlinkSync('/etc', path.join(root, 'abs-etc'));
    const fd = native().openInRoot(rootFd, 'abs-etc/passwd', O_RDONLY, 0);
    try {
      expect(readFd(fd)).toBe('inside\n');
    } finally {
      fs.closeSync(fd);
    }
  });

  it('keeps ../../.. (in the path and in symlinks) inside the root', () => {
    const direct = native().openInRoot(rootFd, '../../../../etc/passwd', O_RDONLY, 0);
    fs.symlinkSync('../../../../../../etc/passwd', path.join(root, 'etc/up'));
    const viaLink = native().openInRoot(rootFd, '/etc/up', O_RDONLY, 0);
    try {
      expect(readFd(direct)).toBe('inside\n');
      expect(readFd(viaLink)).toBe('inside\n');
    } finally {
      fs.closeSync(direct);
      fs.closeSync(viaLink);
    }
  });

  it('rejects magic links such as /proc/self/exe', () => {
    const hostRoot = fs.openSync('/', O_RDONLY | O_DIRECTORY);
    try {
      const err = caught(() => native().openInRoot(hostRoot, 'proc/self/exe', O_RDONLY, 0));
      expect(err.code).toBe('ELOOP');
    } finally {
      fs.closeSync(hostRoot);
    }
  });

  it('passes flags and mode through when creating', () => {
    const fd = native().openInRoot(rootFd, 'etc/new-file', O_WRONLY | O_CREAT | O_EXCL, 0o600);
    fs.closeSync(fd);
    expect(fs.statSync(path.join(root, 'etc/new-file')).mode & 0o777).toBe(0o600);
    const err = caught(() => native().openInRoot(rootFd, 'etc/new-file', O_WRONLY | O_CREAT | O_EXCL, 0o600));
    expect(err.code).toBe('EEXIST');
  });

  it('creates through an absolute symlink inside the root, never outside', () => {
    fs.symlinkSync(outside, path.join(root, 'escape'));
    const fd = native().openInRoot(rootFd, 'escape-target', O_WRONLY | O_CREAT, 0o644);
    fs.closeSync(fd);
    fs.mkdirSync(path.join(root, outside), { recursive: true });
    const fd2 = native().openInRoot(rootFd, 'escape/planted', O_WRONLY | O_CREAT, 0o644);
    fs.closeSync(fd2);
    expect(fs.existsSync(path.join(outside, 'planted'))).toBe(false);
    expect(fs.existsSync(path.join(root, outside, 'planted'))).toBe(true);
  });

  it('reports failures as openat2 errors with the relative path', () => {
    const err = caught(() => native().openInRoot(rootFd, 'missing/file', O_RDONLY, 0));
    expect(err).toMatchObject({ code: 'ENOENT', errno: 2, syscall: 'openat2', path: 'missing/file' });
    expect(err.message).toBe('openat2 missing/file: ENOENT (No such file or directory)');
  });
});

describe('mkdirInRoot', () => {
  it('creates every component and accepts existing directories', () => {
    native().mkdirInRoot(rootFd, 'a/b/c', 0o755);
    native().mkdirInRoot(rootFd, 'a/b/c', 0o755);
    native().mkdirInRoot(rootFd, '/a//./b/d/', 0o700);
    expect(fs.statSync(path.join(root, 'a/b/c')).isDirectory()).toBe(true);
    expect(fs.statSync(path.join(root, 'a/b/d')).mode & 0o777).toBe(0o700);
  });

  it('follows an absolute symlink that points outside to the same path inside the root', () => {
    fs.symlinkSync(outside, path.join(root, 'escape'));
    native().mkdirInRoot(rootFd, 'escape/sub/deeper', 0o755);
    expect(fs.readdirSync(outside)).toEqual([]);
    expect(fs.statSync(path.join(root, outside, 'sub/deeper')).isDirectory()).toBe(true);
  });

  it('keeps relative ../ symlinks and .. components inside the root', () => {
    const up = '../'.repeat(12);
    fs.symlinkSync(up + outside.slice(1), path.join(root, 'rel-escape'));
    native().mkdirInRoot(rootFd, 'rel-escape/x', 0o755);
    native().mkdirInRoot(rootFd, '../../../../y', 0o755);
    expect(fs.readdirSync(outside)).toEqual([]);
    expect(fs.existsSync(path.join(work, 'y'))).toBe(false);
    expect(fs.statSync(path.join(root, outside, 'x')).isDirectory()).toBe(true);
    expect(fs.statSync(path.join(root, 'y')).isDirectory()).toBe(true);
  });

  it('fails with ENOTDIR on a file component and ELOOP on a symlink loop', () => {
    expect(caught(() => native().mkdirInRoot(rootFd, 'etc/passwd/x', 0o755))).toMatchObject({
      code: 'ENOTDIR',
      path: 'etc/passwd/x',
    });
    fs.symlinkSync('loop-b', path.join(root, 'loop-a'));
    fs.symlinkSync('loop-a', path.join(root, 'loop-b'));
    expect(caught(() => native().mkdirInRoot(rootFd, 'loop-a/x', 0o755)).code).toBe('ELOOP');
  });
});

describe('mknod', () => {
  it('creates fifos and character devices', () => {
    const fifo = path.join(work, 'fifo');
    native().mknod(fifo, 'p', 0o600, 0, 0);
    expect(fs.statSync(fifo).isFIFO()).toBe(true);

    const nullDev = path.join(work, 'null');
    native().mknod(nullDev, 'c', 0o666, 1, 3);
    const st = fs.statSync(nullDev);
    expect(st.isCharacterDevice()).toBe(true);
    expect(st.rdev).toBe(fs.statSync('/dev/null').rdev);
  });

  it('rejects unknown types and reports EEXIST', () => {
    expect(() => native().mknod(path.join(work, 'x'), 'x' as 'p', 0o600, 0, 0)).toThrow(TypeError);
    expect(caught(() => native().mknod(path.join(root, 'etc/passwd'), 'p', 0o600, 0, 0))).toMatchObject({
      code: 'EEXIST',
      syscall: 'mknod',
    });
  });
});

describe('xattrs', () => {
  it('round-trips values byte-exactly, including NUL and high bytes (user.*)', () => {
    const file = path.join(work, 'xattr-file');
    fs.writeFileSync(file, '');
    const value = Buffer.from([0x61, 0x00, 0x62, 0xff, 0x00]);
    try {
      native().setxattr(file, 'user.hull.test', value, 0);
    } catch (e) {
      // A filesystem without user xattrs (some tmpfs setups): nothing to check here.
      if ((e as NativeError).code === 'ENOTSUP') return;
      throw e;
    }
    expect(native().getxattr(file, 'user.hull.test')).toEqual(value);
    native().setxattr(file, 'user.hull.empty', Buffer.alloc(0), 0);
    expect(native().getxattr(file, 'user.hull.empty')).toEqual(Buffer.alloc(0));
    expect(native().listxattr(file)).toEqual(expect.arrayContaining(['user.hull.test', 'user.hull.empty']));
    expect(native().getxattr(file, 'user.hull.missing')).toBeNull();

    native().removexattr(file, 'user.hull.test');
    expect(native().getxattr(file, 'user.hull.test')).toBeNull();
    expect(caught(() => native().removexattr(file, 'user.hull.test'))).toMatchObject({
      code: 'ENODATA',
      syscall: 'lremovexattr',
      path: file,
    });
    // XATTR_CREATE (1) on an existing name fails.
    expect(caught(() => native().setxattr(file, 'user.hull.empty', Buffer.from('x'), 1)).code).toBe('EEXIST');
  });

  it('stores security.capability exactly as given (root)', () => {
    const file = path.join(work, 'cap-file');
    fs.writeFileSync(file, '');
    // VFS_CAP_REVISION_2, effective bit set, permitted = CAP_NET_BIND_SERVICE (bit 10).
    const cap = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    native().setxattr(file, 'security.capability', cap, 0);
    expect(native().getxattr(file, 'security.capability')).toEqual(cap);
  });

  it('never follows a final symlink', () => {
    const file = path.join(work, 'target');
    const link = path.join(work, 'link');
    fs.writeFileSync(file, '');
    fs.symlinkSync(file, link);
    native().setxattr(file, 'security.capability',
      Buffer.from([0x01, 0, 0, 0x02, 0, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), 0);
    expect(native().getxattr(link, 'security.capability')).toBeNull();
    expect(native().listxattr(link)).not.toContain('security.capability');
  });
});

describe('flock', () => {
  it('refuses a nonblocking lock held through another open file description', () => {
    const file = path.join(work, 'lock');
    fs.writeFileSync(file, '');
    const first = fs.openSync(file, 'r');
    const second = fs.openSync(file, 'r');
    try {
      expect(native().flock(first, 'ex', false)).toBe(true);
      expect(native().flock(second, 'ex', true)).toBe(false);
      expect(native().flock(second, 'sh', true)).toBe(false);
      expect(native().flock(first, 'un', false)).toBe(true);
      expect(native().flock(second, 'ex', true)).toBe(true);
      expect(native().flock(first, 'sh', true)).toBe(false);
    } finally {
      fs.closeSync(first);
      fs.closeSync(second);
    }
  });

  it('validates the operation and reports EBADF', () => {
    expect(() => native().flock(0, 'bogus' as 'ex', false)).toThrow(TypeError);
    expect(caught(() => native().flock(999999, 'ex', true))).toMatchObject({ code: 'EBADF', syscall: 'flock' });
  });
});

describe('fsyncPath and statfsType', () => {
  it('fsyncs directories and files', () => {
    native().fsyncPath(work);
    native().fsyncPath(path.join(root, 'etc/passwd'));
    expect(caught(() => native().fsyncPath(path.join(work, 'missing')))).toMatchObject({
      code: 'ENOENT',
      syscall: 'open',
    });
  });

  it('returns filesystem magic numbers', () => {
    expect(native().statfsType('/proc')).toBe(0x9fa0);
    expect(native().statfsType(work)).toBeGreaterThan(0);
    if (fs.existsSync('/sys/fs/cgroup/unified/cgroup.controllers')) {
      expect(native().statfsType('/sys/fs/cgroup/unified')).toBe(0x63677270);
    }
  });
});
