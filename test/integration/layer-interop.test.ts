// Archives written by real tools: GNU tar in pax and gnu formats, and node-tar. The applied tree
// must equal the source entry by entry (type, mode, owner, size, content, link target, xattrs, mtime).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import * as tar from 'tar';
import { applyLayer } from '../../src/image/apply';
import { native } from '../../src/native';
import { removeTree, tempDir } from '../setup/rootfs';

let work: string;
let src: string;

function describeTree(root: string, opts: { xattrs: boolean; nsTimes: boolean }): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    const p = path.join(root, rel);
    const st = fs.lstatSync(p, { bigint: true });
    let body = '';
    if (st.isFile()) body = createHash('sha256').update(fs.readFileSync(p)).digest('hex');
    if (st.isSymbolicLink()) body = fs.readlinkSync(p);
    if (st.isCharacterDevice() || st.isBlockDevice()) body = String(st.rdev);
    const xattrs = opts.xattrs && !st.isSymbolicLink()
      ? native().listxattr(p).sort().map((n) => `${n}=${native().getxattr(p, n)?.toString('hex')}`).join(',')
      : '';
    const mtime = opts.nsTimes ? st.mtimeNs : st.mtimeNs / 1_000_000_000n;
    const links = st.isDirectory() ? '' : String(st.nlink);
    out.push(`${rel} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.size * (st.isDirectory() ? 0n : 1n)} ${links} ${mtime} ${body} ${xattrs}`);
    if (st.isDirectory()) for (const name of fs.readdirSync(p).sort()) walk(path.join(rel, name));
  };
  walk('.');
  return out;
}

beforeAll(() => {
  work = tempDir('hull-layer-interop-');
  src = path.join(work, 'src');
  const long = path.join(src, 'l'.repeat(90), 'm'.repeat(90));
  fs.mkdirSync(long, { recursive: true });
  fs.writeFileSync(path.join(long, 'n'.repeat(120)), 'long names');
  fs.mkdirSync(path.join(src, 'etc/sub'), { recursive: true });
  fs.writeFileSync(path.join(src, 'etc/passwd'), 'root:x:0:0\n');
  fs.writeFileSync(path.join(src, 'etc/big'), Buffer.alloc(3 * 1024 * 1024 + 17, 0x5a));
  fs.writeFileSync(path.join(src, 'etc/empty'), '');
  fs.linkSync(path.join(src, 'etc/passwd'), path.join(src, 'etc/passwd.hard'));
  fs.symlinkSync('/usr/share/zoneinfo/UTC', path.join(src, 'etc/localtime'));
  fs.symlinkSync('../../..', path.join(src, 'etc/sub/up'));
  fs.writeFileSync(path.join(src, 'suid'), '#!/bin/sh\n');
  fs.chownSync(path.join(src, 'suid'), 1234, 5678);
  fs.chmodSync(path.join(src, 'suid'), 0o6755);
  fs.chmodSync(path.join(src, 'etc/sub'), 0o1777);
  native().mknod(path.join(src, 'null'), 'c', 0o666, 1, 3);
  native().mknod(path.join(src, 'fifo'), 'p', 0o600, 0, 0);
  native().setxattr(path.join(src, 'suid'), 'security.capability', Buffer.from('0100000200200000000000000000000000000000', 'hex'), 0);
  native().setxattr(path.join(src, 'etc/passwd'), 'user.bin', Buffer.from([0, 1, 2, 0, 255]), 0);
  native().setxattr(path.join(src, 'etc'), 'user.dir', Buffer.from('d'), 0);
  fs.lutimesSync(path.join(src, 'etc/localtime'), 1_000_000_000, 1_000_000_000);
  fs.utimesSync(path.join(src, 'etc/passwd'), 1_600_000_000.25, 1_600_000_000.25);
  fs.utimesSync(path.join(src, 'etc'), 1_500_000_000, 1_500_000_000);
});
afterAll(() => removeTree(work));

async function roundTrip(archive: string, name: string): Promise<string> {
  const dest = path.join(work, name);
  fs.mkdirSync(dest);
  await applyLayer({ blob: archive, dir: dest });
  return dest;
}

describe('archives from real tar writers', () => {
  it('GNU tar --format=pax --xattrs: identical tree, nanosecond mtimes, byte-exact xattrs', async () => {
    const archive = path.join(work, 'pax.tar');
    execFileSync('tar', ['--format=pax', '--xattrs', '--xattrs-include=*', '--numeric-owner', '-C', src, '-cf', archive, '.']);
    const dest = await roundTrip(archive, 'pax');
    expect(describeTree(dest, { xattrs: true, nsTimes: true })).toEqual(describeTree(src, { xattrs: true, nsTimes: true }));
  });

  it('GNU tar --format=gnu (long name/link records, no xattrs): identical tree at second precision', async () => {
    const archive = path.join(work, 'gnu.tar');
    execFileSync('tar', ['--format=gnu', '--numeric-owner', '-C', src, '-cf', archive, '.']);
    const dest = await roundTrip(archive, 'gnu');
    expect(describeTree(dest, { xattrs: false, nsTimes: false })).toEqual(describeTree(src, { xattrs: false, nsTimes: false }));
  });

  it('GNU tar gzip and zstd', async () => {
    for (const [flag, name] of [['-z', 'gz'], ['--zstd', 'zst']]) {
      const archive = path.join(work, `c.tar.${name}`);
      execFileSync('tar', ['--format=pax', flag, '--numeric-owner', '-C', src, '-cf', archive, '.']);
      const dest = await roundTrip(archive, `c-${name}`);
      expect(describeTree(dest, { xattrs: false, nsTimes: false })).toEqual(describeTree(src, { xattrs: false, nsTimes: false }));
    }
  });

  it('node-tar (plain files, dirs, symlinks)', async () => {
    const small = path.join(work, 'small');
    fs.mkdirSync(path.join(small, 'a/b'), { recursive: true });
    fs.writeFileSync(path.join(small, 'a/b/c'), 'c');
    fs.symlinkSync('b/c', path.join(small, 'a/link'));
    const archive = path.join(work, 'node.tar');
    await tar.create({ file: archive, cwd: small, portable: false }, ['.']);
    const dest = await roundTrip(archive, 'node');
    expect(fs.readFileSync(path.join(dest, 'a/b/c'), 'utf8')).toBe('c');
    expect(fs.readlinkSync(path.join(dest, 'a/link'))).toBe('b/c');
  });
});
