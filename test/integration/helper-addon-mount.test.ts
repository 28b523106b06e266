// The addon's mount/umount bindings (native/mount.cc under HULL_ADDON): plain mount(2)/umount2(2)
// in the host mount namespace, failures shaped like Node's SystemError.
import { describe, it, expect, afterEach } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { native, type NativeError } from '../../src/native';
import { mountsContaining, removeTree, tempDir } from '../setup/rootfs';

let dir: string | undefined;

afterEach(() => {
  if (dir) {
    expect(mountsContaining(dir)).toEqual([]);
    removeTree(dir);
    dir = undefined;
  }
});

describe('addon mount/umount', () => {
  it('mounts a tmpfs with data and flags, then unmounts it', () => {
    dir = tempDir('hull-addon-mount-');
    const target = path.join(dir, 'mnt');
    fs.mkdirSync(target);
    native().mount('tmpfs', target, 'tmpfs', 0x2 | 0x4 /* nosuid,nodev */, 'size=1m,mode=700');
    try {
      const [line] = mountsContaining(target);
      expect(line).toMatch(/ rw,nosuid,nodev.* - tmpfs tmpfs .*size=1024k,mode=700/);
      fs.writeFileSync(path.join(target, 'x'), 'x');
    } finally {
      native().umount(target, 0);
    }
    expect(fs.existsSync(path.join(target, 'x'))).toBe(false);
  });

  it('bind mounts with null fstype and data', () => {
    dir = tempDir('hull-addon-mount-');
    const source = path.join(dir, 'src');
    const target = path.join(dir, 'dst');
    fs.mkdirSync(source);
    fs.mkdirSync(target);
    fs.writeFileSync(path.join(source, 'file'), 'bound');
    native().mount(source, target, null, 0x1000 /* MS_BIND */, null);
    try {
      expect(fs.readFileSync(path.join(target, 'file'), 'utf8')).toBe('bound');
    } finally {
      native().umount(target, 2 /* MNT_DETACH */);
    }
  });

  it('throws SystemError-shaped errors', () => {
    let error: NativeError | undefined;
    try {
      native().umount('/nonexistent-hull-addon-mount', 0);
    } catch (e) {
      error = e as NativeError;
    }
    expect(error).toMatchObject({ code: 'ENOENT', errno: 2, path: '/nonexistent-hull-addon-mount' });
    expect(error!.message).toMatch(/ENOENT/);
  });
});
