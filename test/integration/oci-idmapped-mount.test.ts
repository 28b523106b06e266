// Idmapped bind mounts (runtime-spec 1.1 `mounts[].uidMappings`/`gidMappings`, 1.2 `idmap`/`ridmap`):
// the helper's monitor makes, as host root before the clone, a user namespace holding the mount's
// mappings and a detached idmapped copy of the source (open_tree + mount_setattr MOUNT_ATTR_IDMAP);
// the container process moves it onto the destination. Nothing on disk is chowned.
//
// Direction (as runc): a mapping {containerID: C, hostID: H} shows the file system's id C as id H
// through the mount, and writes id H down as C. With a container user namespace 0 -> 100000 and the
// same mount mapping, root-owned volume files are the container root's own (runc's idmap.bats).
import { describe, it, expect, afterAll, afterEach, beforeEach } from 'vitest';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { IdMapping, Mount, Spec } from '../../src/runtime/spec';
import { ociHarness } from '../setup/oci-harness';
import { mountsContaining, removeTree, tempDir } from '../setup/rootfs';

const h = ociHarness('idmapmount');
const { oci, ok, bundle, newId } = h;

const SHIFT: IdMapping[] = [{ containerID: 0, hostID: 100000, size: 65536 }];
const UNSHIFT: IdMapping[] = [{ containerID: 100000, hostID: 0, size: 65536 }];

let hostDir = '';
let hostSub = '';

beforeEach(() => {
  hostDir = tempDir('hull-idmapmount-');
  fs.chmodSync(hostDir, 0o755);
  fs.writeFileSync(path.join(hostDir, 'root.txt'), 'root\n');
  fs.writeFileSync(path.join(hostDir, 'one.txt'), 'one\n');
  fs.chownSync(path.join(hostDir, 'one.txt'), 1, 1);
  fs.writeFileSync(path.join(hostDir, 'shifted.txt'), 'shifted\n');
  fs.chownSync(path.join(hostDir, 'shifted.txt'), 100000, 100000);
  hostSub = path.join(hostDir, 'sub');
  fs.mkdirSync(hostSub);
});

afterEach(() => {
  h.afterEachTest();
  if (mountsContaining(hostSub).length) execFileSync('umount', [hostSub]);
  expect(mountsContaining(hostDir)).toEqual([]);
  removeTree(hostDir);
});
afterAll(() => h.afterAllTests());

/** A container running `script` with `hostDir` bound on /data as `mount` says; returns its output. */
function runWith(mount: Partial<Mount>, script: string, prefix: string, edit?: (s: Spec) => void): string {
  const b = bundle(['/bin/sh', '-c', script], (s) => {
    s.mounts!.push({ destination: '/data', type: 'bind', source: hostDir, options: ['bind'], ...mount });
    edit?.(s);
  });
  if (edit) {
    fs.chmodSync(b.dir, 0o755); // the mapped root must be able to walk in
    fs.chownSync(b.rootfs, 100000, 100000);
  }
  const id = newId(prefix);
  const out = ok('run', '--bundle', b.dir, id);
  h.expectNoLeaks(id, b);
  return out;
}

const ownUserNs = (s: Spec) => {
  s.linux!.namespaces!.push({ type: 'user' });
  s.linux!.uidMappings = SHIFT;
  s.linux!.gidMappings = SHIFT;
};

const owners = 'stat -c "%n %u:%g" /data/root.txt /data/one.txt /data/shifted.txt';

describe('idmapped bind mounts', () => {
  it('[no userns] a mapping 0 -> 100000 shows root-owned files as 100000, uid 1 as 100001, unmapped ids as nobody', () => {
    const out = runWith({ uidMappings: SHIFT, gidMappings: SHIFT }, owners, 'shift');
    expect(out).toBe('/data/root.txt 100000:100000\n/data/one.txt 100001:100001\n/data/shifted.txt 65534:65534\n');
    // Only the container's view changed.
    expect(fs.statSync(path.join(hostDir, 'root.txt')).uid).toBe(0);
  });

  it('[no userns] a mapping 100000 -> 0: a file owned by host uid 100000 is root\'s inside, and root\'s new files land as 100000', () => {
    // The directory too: through the mount root-owned (on disk 0) is unmapped, and no capability
    // overrides permissions on an inode whose owner is unmapped.
    fs.chownSync(hostDir, 100000, 100000);
    const out = runWith({ uidMappings: UNSHIFT, gidMappings: UNSHIFT }, [
      'stat -c "%u:%g" /data/shifted.txt',
      'echo made > /data/new.txt && mkdir /data/newdir',
      'stat -c "%u:%g" /data/new.txt /data/newdir',
    ].join('; '), 'unshift');
    expect(out).toBe('0:0\n0:0\n0:0\n');
    for (const name of ['new.txt', 'newdir']) {
      const st = fs.statSync(path.join(hostDir, name));
      expect([st.uid, st.gid], name).toEqual([100000, 100000]);
    }
    expect(fs.readFileSync(path.join(hostDir, 'new.txt'), 'utf8')).toBe('made\n');
  });

  it('without mappings nothing changes', () => {
    expect(runWith({}, owners, 'plain')).toBe('/data/root.txt 0:0\n/data/one.txt 1:1\n/data/shifted.txt 100000:100000\n');
  });

  it('[userns 0 -> 100000] the same mount mapping makes the volume\'s root-owned files the container root\'s own, both ways', () => {
    const script = `${owners}; echo made > /data/new.txt && stat -c "%u:%g" /data/new.txt`;
    const out = runWith({ uidMappings: SHIFT, gidMappings: SHIFT }, script, 'userns', ownUserNs);
    expect(out).toBe('/data/root.txt 0:0\n/data/one.txt 1:1\n/data/shifted.txt 65534:65534\n0:0\n');
    const st = fs.statSync(path.join(hostDir, 'new.txt'));
    expect([st.uid, st.gid]).toEqual([0, 0]); // no chown, no 100000-owned files in the volume
    fs.rmSync(path.join(hostDir, 'new.txt'));
    // The option `idmap` alone takes the container's own mappings (runc 1.2): the same view.
    expect(runWith({ options: ['bind', 'idmap'] }, owners, 'option', ownUserNs)).toBe(
      '/data/root.txt 0:0\n/data/one.txt 1:1\n/data/shifted.txt 65534:65534\n',
    );
    // Without it the container's root sees root-owned files as nobody.
    expect(runWith({}, 'stat -c "%u:%g" /data/root.txt', 'nomap', ownUserNs)).toBe('65534:65534\n');
  });

  it('rbind: `ridmap` maps the submounts too, `idmap` only the top mount (as runc)', () => {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', hostSub]);
    fs.writeFileSync(path.join(hostSub, 'in-sub.txt'), 'sub\n');
    const script = 'stat -c "%u" /data/root.txt /data/sub/in-sub.txt';
    const maps = { uidMappings: SHIFT, gidMappings: SHIFT };
    expect(runWith({ ...maps, options: ['rbind', 'ridmap'] }, script, 'ridmap')).toBe('100000\n100000\n');
    expect(runWith({ ...maps, options: ['rbind', 'idmap'] }, script, 'idmap')).toBe('100000\n0\n');
    expect(runWith({ ...maps, options: ['rbind'] }, script, 'rbind')).toBe('100000\n0\n');
    // The host's own submount is untouched.
    expect(fs.statSync(path.join(hostSub, 'in-sub.txt')).uid).toBe(0);
  });

  it('ro, a file source and propagation options go with the idmapped mount', () => {
    const out = runWith({ uidMappings: SHIFT, gidMappings: SHIFT, options: ['bind', 'ro', 'nosuid', 'rprivate'] }, [
      'stat -c "%u" /data/root.txt',
      '{ echo x > /data/refused.txt; } 2>&1 | grep -o "Read-only file system"',
    ].join('; '), 'ro');
    expect(out).toBe('100000\nRead-only file system\n');
    const file = runWith({ source: path.join(hostDir, 'root.txt'), destination: '/etc/mapped.txt', uidMappings: SHIFT, gidMappings: SHIFT },
      'stat -c "%u" /etc/mapped.txt; cat /etc/mapped.txt', 'file');
    expect(file).toBe('100000\nroot\n');
  });

  it('refuses mappings on a mount that is not a bind mount, and one mapping without the other', () => {
    const cases: [Partial<Mount>, RegExp][] = [
      [{ type: 'tmpfs', source: 'tmpfs', options: ['size=1m'], uidMappings: SHIFT, gidMappings: SHIFT }, /mounts\[\d+\]\.uidMappings: idmapped mounts are only supported for bind mounts/],
      [{ uidMappings: SHIFT }, /mounts\[\d+\]\.gidMappings: idmapped mounts need both uidMappings and gidMappings/],
      [{ uidMappings: [{ containerID: 0, hostID: 100000, size: 0 }], gidMappings: SHIFT }, /uidMappings\[0\]\.size: must be greater than zero/],
      [{ options: ['bind', 'idmap'] }, /"idmap" without uidMappings\/gidMappings needs a new user namespace/],
    ];
    for (const [mount, message] of cases) {
      const b = bundle(['/bin/true'], (s) => {
        s.mounts!.push({ destination: '/data', type: 'bind', source: hostDir, options: ['bind'], ...mount });
      });
      const id = newId('refused');
      const r = oci('run', '--bundle', b.dir, id);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(message);
      oci('delete', '--force', id);
      h.expectNoLeaks(id, b);
    }
  });

  it('a source on a file system without idmapped mounts fails the start with mount_setattr EINVAL, nothing left', () => {
    const b = bundle(['/bin/true'], (s) => {
      s.mounts!.push({ destination: '/data', type: 'bind', source: '/proc/sys', options: ['bind'], uidMappings: SHIFT, gidMappings: SHIFT });
    });
    const id = newId('noidmapfs');
    const r = oci('run', '--bundle', b.dir, id);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/mount_setattr/);
    expect(r.stderr).toMatch(/EINVAL|Invalid argument/);
    oci('delete', '--force', id);
    h.expectNoLeaks(id, b);
  });

  it('the user namespace fds and trees never reach the container program', () => {
    const out = runWith({ uidMappings: SHIFT, gidMappings: SHIFT }, 'ls /proc/self/fd | sort -n | tr "\\n" " "', 'fds');
    // 0-2, and the fd `ls` opened on the directory itself
    expect(out.trim().split(' ').filter((fd) => Number(fd) > 3)).toEqual([]);
  });

  it('HULL_TRACE shows the step in words with its open_tree, mount_setattr and move_mount', () => {
    const b = bundle(['/bin/true'], (s) => {
      s.mounts!.push({ destination: '/data', type: 'bind', source: hostDir, options: ['rbind', 'ridmap', 'ro'], uidMappings: SHIFT, gidMappings: SHIFT });
    });
    const id = newId('trace');
    const r = h.ociTraced('run', '--bundle', b.dir, id);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      `=> bind-mounting ${hostDir} on /data with ids mapped (uid 0 is host uid 100000 (65536 ids), gid 0 is host gid 100000 (65536 ids)), every mount under it too, read-only: `,
    );
    expect(r.stderr).toContain(`open_tree("${hostDir}", OPEN_TREE_CLONE|AT_RECURSIVE)`);
    expect(r.stderr).toContain(
      `mount_setattr("${hostDir}", AT_RECURSIVE, {attr_set=MOUNT_ATTR_IDMAP|MOUNT_ATTR_RDONLY, attr_clr=0, userns="uid 0:100000:65536 gid 0:100000:65536"})`,
    );
    expect(r.stderr).toContain('move_mount(tree, "/data", MOVE_MOUNT_F_EMPTY_PATH|MOVE_MOUNT_T_EMPTY_PATH)');
    h.expectNoLeaks(id, b);
  });

  it('features: idmap mounts enabled, idmap and ridmap among the mount options', () => {
    const features = JSON.parse(ok('features')) as { mountOptions: string[]; linux: { mountExtensions: { idmap: { enabled: boolean } } } };
    expect(features.linux.mountExtensions.idmap.enabled).toBe(true);
    expect(features.mountOptions).toEqual(expect.arrayContaining(['idmap', 'ridmap']));
  });
});
