// Test root filesystems built from the host's busybox-static and hull's own static probe.
// Every integration test that needs a container uses these, so the images are identical everywhere.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { probePath } from '../../src/native';

/** Applets linked into /bin; busybox-static provides them all. */
const APPLETS = [
  'sh', 'ash', 'echo', 'cat', 'ls', 'sleep', 'true', 'false', 'id', 'hostname', 'mount', 'umount',
  'ps', 'kill', 'env', 'pwd', 'mkdir', 'rm', 'touch', 'grep', 'head', 'tail', 'wc', 'stat', 'readlink',
  'ln', 'cp', 'mv', 'chmod', 'chown', 'mknod', 'dd', 'yes', 'seq', 'test', 'printf', 'uname', 'whoami',
  'nproc', 'ip', 'ping', 'nc', 'wget', 'sed', 'awk', 'tr', 'sort', 'find', 'xargs', 'unshare', 'nsenter',
  'chroot', 'top', 'free', 'df', 'du', 'date', 'tee', 'basename', 'dirname', 'ulimit', 'timeout',
];

export function busyboxPath(): string {
  for (const p of ['/bin/busybox', '/usr/bin/busybox']) {
    if (fs.existsSync(p)) return p;
  }
  throw new Error('busybox not found: install busybox-static (npm test does it via test/setup/ensure-deps.sh)');
}

/**
 * Writes a minimal root filesystem into `dir`: /bin/busybox + applet symlinks, /bin/hull-probe,
 * /etc/{passwd,group,hostname}, and empty /proc /sys /dev /tmp /root.
 */
export function makeBusyboxRootfs(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  for (const d of ['bin', 'sbin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'root', 'home', 'var', 'usr/bin', 'run']) {
    fs.mkdirSync(path.join(dir, d), { recursive: true });
  }
  fs.chmodSync(path.join(dir, 'tmp'), 0o1777);
  fs.copyFileSync(busyboxPath(), path.join(dir, 'bin/busybox'));
  fs.chmodSync(path.join(dir, 'bin/busybox'), 0o755);
  for (const applet of APPLETS) {
    const link = path.join(dir, 'bin', applet);
    if (!fs.existsSync(link)) fs.symlinkSync('busybox', link);
  }
  if (fs.existsSync(probePath)) {
    fs.copyFileSync(probePath, path.join(dir, 'bin/hull-probe'));
    fs.chmodSync(path.join(dir, 'bin/hull-probe'), 0o755);
  }
  fs.writeFileSync(
    path.join(dir, 'etc/passwd'),
    'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nprobe:x:1000:1000:probe:/home:/bin/sh\n',
  );
  fs.writeFileSync(path.join(dir, 'etc/group'), 'root:x:0:\ntty:x:5:\nnogroup:x:65534:\nprobe:x:1000:\n');
  fs.writeFileSync(path.join(dir, 'etc/hostname'), 'busybox\n');
  return dir;
}

/** A fresh temporary directory under /tmp (tests remove it in afterEach/afterAll). */
export function tempDir(prefix = 'hull-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Remove a directory tree; never follows mounts (fails loudly if something is still mounted). */
export function removeTree(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Lines of /proc/self/mountinfo whose mount point contains `needle` (leak checks). */
export function mountsContaining(needle: string): string[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((line) => line.split(' ')[4]?.includes(needle));
}

/** Host pids whose command line contains `needle` (leak checks). */
export function processesContaining(needle: string): number[] {
  const out = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((l) => l.includes(needle) && !l.includes('ps -eo'))
    .map((l) => parseInt(l.trim(), 10))
    .filter((n) => Number.isFinite(n));
}
