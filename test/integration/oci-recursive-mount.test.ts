// Recursive mount attributes (runtime-spec 1.1 `rro`, `rnosuid`, `rnoexec`, `rnoatime`…): applied with
// mount_setattr(AT_RECURSIVE) to a mount and every mount under it, which the plain words (`ro`) never
// reach. The host directory has a tmpfs submount, so an `rbind` brings a tree of two mounts.
import { describe, it, expect, afterAll, afterEach, beforeEach } from 'vitest';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ociHarness } from '../setup/oci-harness';
import { mountsContaining, removeTree, tempDir } from '../setup/rootfs';

const h = ociHarness('recmount');
const { oci, ok, bundle, newId } = h;

interface ProbeMount {
  mountpoint: string;
  options: string; // "ro,nosuid,relatime"
}

let hostDir = '';
let hostSub = '';

beforeEach(() => {
  hostDir = tempDir('hull-recmount-');
  hostSub = path.join(hostDir, 'sub');
  fs.mkdirSync(hostSub);
  fs.writeFileSync(path.join(hostDir, 'top.txt'), 'top\n');
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', hostSub]);
  fs.writeFileSync(path.join(hostSub, 'sub.txt'), 'sub\n');
});

afterEach(() => {
  h.afterEachTest();
  execFileSync('umount', [hostSub]);
  expect(mountsContaining(hostDir)).toEqual([]);
  removeTree(hostDir);
});
afterAll(() => h.afterAllTests());

/** Runs a container with `hostDir` bound on /data with these options; returns what its shell printed. */
function runWithData(options: string[], script: string, prefix: string): string {
  const b = bundle(['/bin/sh', '-c', script], (s) => {
    s.mounts!.push({ destination: '/data', type: 'bind', source: hostDir, options });
  });
  const id = newId(prefix);
  const out = ok('run', '--bundle', b.dir, id);
  h.expectNoLeaks(id, b);
  return out;
}

/** `before` then the probe's report after a `---` line: the options of /data and /data/sub. */
function dataMounts(out: string): { before: string; data: string[]; sub: string[] } {
  const [before, report] = out.split('---\n');
  const mounts = (JSON.parse(report) as { mounts: ProbeMount[] }).mounts;
  const options = (mountpoint: string) => {
    const found = mounts.filter((m) => m.mountpoint === mountpoint);
    expect(found.length, `one mount on ${mountpoint}`).toBe(1);
    return found[0].options.split(',');
  };
  return { before, data: options('/data'), sub: options('/data/sub') };
}

/** The host's own mount of the submount keeps its options (the container changed only its copies). */
function expectHostSubWritable(): void {
  const line = mountsContaining(hostSub)[0] ?? '';
  expect(line.split(' ')[5]?.split(',')).toContain('rw');
}

describe('recursive mount attributes', () => {
  it('rbind,rro: the mount and its submount are read-only inside (writes fail with EROFS)', () => {
    const out = runWithData(['rbind', 'rro'], [
      '{ echo x > /data/new; } 2>&1 || echo top-refused',
      '{ echo x > /data/sub/new; } 2>&1 || echo sub-refused',
      'cat /data/top.txt /data/sub/sub.txt',
      'echo ---',
      '/bin/hull-probe report',
    ].join('; '), 'rro');
    const { before, data, sub } = dataMounts(out);
    expect(data).toContain('ro');
    expect(sub).toContain('ro');
    expect(before).toMatch(/Read-only file system[\s\S]*top-refused/);
    expect(before).toMatch(/Read-only file system[\s\S]*sub-refused/);
    expect(before).toContain('top\nsub\n');
    expect(fs.existsSync(path.join(hostSub, 'new'))).toBe(false);
    expectHostSubWritable();
  });

  it('rbind,ro only makes the top mount read-only: the submount stays writable (the difference)', () => {
    const out = runWithData(['rbind', 'ro'], [
      'echo x > /data/new 2>/dev/null || echo top-refused',
      'echo written > /data/sub/new && echo sub-written',
      'echo ---',
      '/bin/hull-probe report',
    ].join('; '), 'ro');
    const { before, data, sub } = dataMounts(out);
    expect(data).toContain('ro');
    expect(sub).toContain('rw');
    expect(before).toContain('top-refused');
    expect(before).toContain('sub-written');
    expect(fs.readFileSync(path.join(hostSub, 'new'), 'utf8')).toBe('written\n');
  });

  it('rnosuid, rnoexec and rnoatime reach the submount; the host mount keeps its own flags', () => {
    // A script on the submount: rnoexec must refuse to run it (execve EACCES).
    fs.writeFileSync(path.join(hostSub, 'run.sh'), '#!/bin/sh\necho ran\n', { mode: 0o755 });
    const out = runWithData(['rbind', 'rnosuid', 'rnoexec', 'rnoatime'], [
      '/data/sub/run.sh 2>/dev/null || echo exec-refused',
      'echo ---',
      '/bin/hull-probe report',
    ].join('; '), 'rnoexec');
    const { before, data, sub } = dataMounts(out);
    for (const options of [data, sub]) {
      expect(options).toEqual(expect.arrayContaining(['rw', 'nosuid', 'noexec', 'noatime']));
    }
    expect(before).toContain('exec-refused');
    const host = mountsContaining(hostSub)[0].split(' ')[5].split(',');
    expect(host).not.toContain('noexec');
    expect(host).not.toContain('nosuid');
    expect(execFileSync(path.join(hostSub, 'run.sh'), { encoding: 'utf8' })).toBe('ran\n');
  });

  it('rro then rrw: the later word wins, as for the plain words', () => {
    const { sub } = dataMounts(runWithData(['rbind', 'ro', 'rro', 'rrw'], 'echo ---; /bin/hull-probe report', 'rrw'));
    expect(sub).toContain('rw');
  });

  it('HULL_TRACE shows the step in words with its mount_setattr call', () => {
    const b = bundle(['/bin/true'], (s) => {
      s.mounts!.push({ destination: '/data', type: 'bind', source: hostDir, options: ['rbind', 'rro', 'rrelatime'] });
    });
    const id = newId('trace');
    const r = h.ociTraced('run', '--bundle', b.dir, id);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      '=> making /data and every mount under it read-only, relatime: ' +
        'mount_setattr("/data", AT_RECURSIVE, {attr_set=MOUNT_ATTR_RDONLY|MOUNT_ATTR_RELATIME, attr_clr=MOUNT_ATTR__ATIME})',
    );
    h.expectNoLeaks(id, b);
  });

  it('features lists the recursive options', () => {
    const features = JSON.parse(ok('features')) as { mountOptions: string[] };
    expect(features.mountOptions).toEqual(expect.arrayContaining(['rro', 'rrw', 'rnosuid', 'rnoexec', 'rnoatime', 'rnosymfollow', 'rbind', 'ro']));
  });

  it('a flag the kernel keeps locked fails the start with mount_setattr EPERM, nothing left behind', () => {
    // In a user namespace the flags of mounts from the host are locked: rrw cannot lift the host's
    // read-only submount. runc fails the same way; a silent partial result would be worse.
    execFileSync('mount', ['-o', 'remount,ro', hostSub]);
    const b = bundle(['/bin/true'], (s) => {
      s.mounts!.push({ destination: '/data', type: 'bind', source: hostDir, options: ['rbind', 'rrw'] });
      s.linux!.namespaces!.push({ type: 'user' });
      s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      s.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    });
    fs.chmodSync(b.dir, 0o755); // the mapped root must be able to walk in
    fs.chownSync(b.rootfs, 100000, 100000);
    fs.chmodSync(hostDir, 0o755);
    const id = newId('locked');
    const r = oci('run', '--bundle', b.dir, id);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/mount_setattr/);
    expect(r.stderr).toMatch(/\/data/);
    expect(r.stderr).toMatch(/EPERM|Operation not permitted/);
    oci('delete', '--force', id);
    h.expectNoLeaks(id, b);
  });
});
