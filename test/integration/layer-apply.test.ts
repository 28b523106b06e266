// Layer application (native/layer.cc via src/image/apply.ts): entry types, metadata, xattrs,
// compression and diffIDs, written into real directories as root.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { applyLayer } from '../../src/image/apply';
import { native } from '../../src/native';
import { buildTar, gzip, zstd, type TarEntry } from '../setup/tarball';
import { removeTree, tempDir } from '../setup/rootfs';

let work: string;
let layer: string;

beforeEach(() => {
  work = tempDir('hull-layer-apply-');
  layer = path.join(work, 'layer');
  fs.mkdirSync(layer);
});
afterEach(() => removeTree(work));

async function apply(entries: TarEntry[] | Buffer, extra: Partial<Parameters<typeof applyLayer>[0]> = {}) {
  const tar = Buffer.isBuffer(entries) ? entries : buildTar(entries);
  return applyLayer({ blob: Readable.from([tar]), dir: layer, ...extra });
}

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('layer apply: entry types and metadata', () => {
  it('writes files, dirs, symlinks, hardlinks, devices and fifos with exact owners, modes and mtimes', async () => {
    const { stats } = await apply([
      { name: 'etc/', type: 'dir', mode: 0o750, uid: 10, gid: 20, mtime: 1_600_000_000 },
      { name: 'etc/hosts', content: 'hello\n', mode: 0o640, uid: 1000, gid: 1001, mtime: '1700000000.123456789' },
      { name: 'bin/su', content: 'x', mode: 0o4755, uid: 0, gid: 0, mtime: 1_500_000_000 },
      { name: 'bin/sgid', content: 'x', mode: 0o2711, uid: 5, gid: 6 },
      { name: 'etc/localtime', type: 'symlink', linkname: '/usr/share/zoneinfo/UTC', uid: 7, gid: 8, mtime: 1_400_000_000 },
      { name: 'etc/up', type: 'symlink', linkname: '../../../../x' },
      { name: 'etc/hosts.link', type: 'hardlink', linkname: 'etc/hosts' },
      { name: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
      { name: 'dev/sda', type: 'block', devmajor: 8, devminor: 0, mode: 0o660, gid: 6 },
      { name: 'run/fifo', type: 'fifo', mode: 0o600 },
    ]);
    expect(stats.entries).toBe(10);
    expect(stats.bytes).toBe(8);
    const etc = fs.lstatSync(path.join(layer, 'etc'));
    expect(etc.mode & 0o7777).toBe(0o750);
    expect([etc.uid, etc.gid]).toEqual([10, 20]);
    // directory times are set after their children were written
    expect(etc.mtimeMs).toBe(1_600_000_000_000);
    const hosts = fs.statSync(path.join(layer, 'etc/hosts'), { bigint: true });
    expect(fs.readFileSync(path.join(layer, 'etc/hosts'), 'utf8')).toBe('hello\n');
    expect(Number(hosts.mode & 0o7777n)).toBe(0o640);
    expect([Number(hosts.uid), Number(hosts.gid)]).toEqual([1000, 1001]);
    expect(hosts.mtimeNs).toBe(1_700_000_000_123_456_789n);
    expect(hosts.nlink).toBe(2n);
    expect(fs.statSync(path.join(layer, 'etc/hosts.link')).ino).toBe(Number(hosts.ino));
    expect(fs.statSync(path.join(layer, 'bin/su')).mode & 0o7777).toBe(0o4755);
    expect(fs.statSync(path.join(layer, 'bin/sgid')).mode & 0o7777).toBe(0o2711);
    expect(fs.readlinkSync(path.join(layer, 'etc/localtime'))).toBe('/usr/share/zoneinfo/UTC');
    expect(fs.readlinkSync(path.join(layer, 'etc/up'))).toBe('../../../../x');
    const lt = fs.lstatSync(path.join(layer, 'etc/localtime'));
    expect([lt.uid, lt.gid, lt.mtimeMs]).toEqual([7, 8, 1_400_000_000_000]);
    const dnull = fs.lstatSync(path.join(layer, 'dev/null'));
    expect(dnull.isCharacterDevice()).toBe(true);
    expect(dnull.rdev).toBe(0x103);
    expect(dnull.mode & 0o7777).toBe(0o666);
    const sda = fs.lstatSync(path.join(layer, 'dev/sda'));
    expect(sda.isBlockDevice()).toBe(true);
    expect(sda.gid).toBe(6);
    expect(fs.lstatSync(path.join(layer, 'run/fifo')).isFIFO()).toBe(true);
    // implied parents default to 0755
    expect(fs.statSync(path.join(layer, 'dev')).mode & 0o7777).toBe(0o755);
  });

  it('reads GNU long names/links and PAX long paths', async () => {
    const long = `${'d'.repeat(120)}/${'f'.repeat(150)}`;
    await apply([
      { name: long, content: 'pax' },
      { name: `gnu/${'g'.repeat(200)}`, content: 'gnu', longNames: 'gnu' },
      { name: 'gnu/link', type: 'symlink', linkname: `/${'t'.repeat(180)}`, longNames: 'gnu' },
      { name: 'pax/link', type: 'hardlink', linkname: long },
    ]);
    expect(fs.readFileSync(path.join(layer, long), 'utf8')).toBe('pax');
    expect(fs.readFileSync(path.join(layer, 'gnu', 'g'.repeat(200)), 'utf8')).toBe('gnu');
    expect(fs.readlinkSync(path.join(layer, 'gnu/link'))).toBe(`/${'t'.repeat(180)}`);
    expect(fs.readFileSync(path.join(layer, 'pax/link'), 'utf8')).toBe('pax');
  });

  it('last duplicate wins; dir over dir keeps children; non-dir replaces a dir tree', async () => {
    await apply([
      { name: 'a/', type: 'dir', mode: 0o700 },
      { name: 'a/keep', content: '1' },
      { name: 'a/', type: 'dir', mode: 0o711 },
      { name: 'f', content: 'first' },
      { name: 'f', content: 'second' },
      { name: 'tree/sub/deep', content: 'x' },
      { name: 'tree', content: 'now a file' },
      { name: 'ln', type: 'symlink', linkname: 'f' },
      { name: 'ln', type: 'dir' },
    ]);
    expect(fs.statSync(path.join(layer, 'a')).mode & 0o777).toBe(0o711);
    expect(fs.readFileSync(path.join(layer, 'a/keep'), 'utf8')).toBe('1');
    expect(fs.readFileSync(path.join(layer, 'f'), 'utf8')).toBe('second');
    expect(fs.readFileSync(path.join(layer, 'tree'), 'utf8')).toBe('now a file');
    expect(fs.lstatSync(path.join(layer, 'ln')).isDirectory()).toBe(true);
  });

  it('applies xattrs byte-exact, keeps security.capability, drops overlay xattrs', async () => {
    const cap = Buffer.from('0100000200200000000000000000000000000000', 'hex'); // cap_net_bind_service+ep
    const withNul = Buffer.from([0x61, 0x00, 0x62, 0x00, 0xff]);
    const { stats } = await apply([
      {
        name: 'bin/ping', content: 'elf', mode: 0o755,
        xattrs: {
          'security.capability': cap,
          'user.nul': withNul,
          'trusted.overlay.redirect': '/etc',
          'trusted.overlay.metacopy': '',
          'user.overlay.opaque': 'y',
        },
        libarchiveXattrs: { 'user.from libarchive': Buffer.from([1, 2, 0, 3]) },
      },
      { name: 'd/', type: 'dir', xattrs: { 'user.dir': 'v', 'trusted.overlay.opaque': 'y' } },
    ]);
    const n = native();
    const ping = path.join(layer, 'bin/ping');
    expect(n.getxattr(ping, 'security.capability')).toEqual(cap);
    expect(n.getxattr(ping, 'user.nul')).toEqual(withNul);
    expect(n.getxattr(ping, 'user.from libarchive')).toEqual(Buffer.from([1, 2, 0, 3]));
    expect(n.listxattr(ping).filter((x) => x.includes('overlay'))).toEqual([]);
    expect(n.getxattr(path.join(layer, 'd'), 'user.dir')).toEqual(Buffer.from('v'));
    expect(n.getxattr(path.join(layer, 'd'), 'trusted.overlay.opaque')).toBeNull();
    expect(stats.warnings.some((w) => w.includes('trusted.overlay.redirect'))).toBe(true);
  });
});

describe('layer apply: compression and diffID', () => {
  const entries: TarEntry[] = [
    { name: 'a.txt', content: 'A'.repeat(100_000) },
    { name: 'big.bin', content: Buffer.from(Array.from({ length: 3_000_000 }, (_, i) => (i * 7919) & 0xff)) },
  ];

  for (const kind of ['none', 'gzip', 'zstd'] as const) {
    it(`applies a ${kind} layer from a file and reports the diffID of the uncompressed tar`, async () => {
      const tar = buildTar(entries);
      const blob = kind === 'gzip' ? gzip(tar) : kind === 'zstd' ? zstd(tar) : tar;
      const file = path.join(work, `blob.${kind}`);
      fs.writeFileSync(file, blob);
      // a lying media type must not matter: compression comes from the magic bytes
      const res = await applyLayer({ blob: file, mediaType: 'application/vnd.oci.image.layer.v1.tar', dir: layer, expectedDiffId: sha256(tar) });
      expect(res.compression).toBe(kind);
      expect(res.diffId).toBe(sha256(tar));
      expect(res.size).toBe(tar.length);
      expect(fs.readFileSync(path.join(layer, 'big.bin')).equals(entries[1].content as Buffer)).toBe(true);
    });
  }

  it('fails with EHULLDIFFID naming both digests on a diffID mismatch', async () => {
    const tar = buildTar([{ name: 'x', content: 'x' }]);
    const wrong = `sha256:${'0'.repeat(64)}`;
    const err = await apply(tar, { expectedDiffId: wrong }).catch((e) => e);
    expect(err.code).toBe('EHULLDIFFID');
    expect(err.message).toContain(wrong);
    expect(err.message).toContain(sha256(tar));
  });

  it('stops a decompression bomb at maxUncompressedBytes', async () => {
    const tar = buildTar([{ name: 'zeros', content: Buffer.alloc(20 * 1024 * 1024) }]);
    const err = await apply(gzip(tar), { maxUncompressedBytes: 1024 * 1024 }).catch((e) => e);
    expect(err.code).toBe('EHULLBOMB');
  });

  it('rejects truncated and corrupt archives with EHULLTAR naming the entry', async () => {
    const tar = buildTar([{ name: 'file.bin', content: Buffer.alloc(5000, 1) }]);
    const cut = await apply(tar.subarray(0, 512 + 2000)).catch((e) => e);
    expect(cut.code).toBe('EHULLTAR');
    expect(cut.entry).toBe('file.bin');
    expect(cut.message).toContain('truncated');
    const midHeader = await apply(tar.subarray(0, 100)).catch((e) => e);
    expect(midHeader.code).toBe('EHULLTAR');
    const corrupt = Buffer.from(tar);
    corrupt[10] ^= 0x55;
    const bad = await apply(corrupt).catch((e) => e);
    expect(bad.code).toBe('EHULLTAR');
    expect(bad.message).toContain('checksum');
    const gz = gzip(tar);
    const gzCut = await apply(gz.subarray(0, gz.length - 10)).catch((e) => e);
    expect(gzCut).toBeInstanceOf(Error);
    const zs = zstd(tar);
    const zsCut = await apply(zs.subarray(0, zs.length - 10)).catch((e) => e);
    expect(zsCut).toBeInstanceOf(Error);
  });

  it('streams with backpressure: many chunks, every write awaited', async () => {
    const tar = buildTar([{ name: 'big', content: Buffer.alloc(40 * 1024 * 1024, 7) }]);
    const chunks: Buffer[] = [];
    for (let off = 0; off < tar.length; off += 65536) chunks.push(tar.subarray(off, off + 65536));
    const res = await applyLayer({ blob: Readable.from(chunks), dir: layer });
    expect(res.stats.bytes).toBe(40 * 1024 * 1024);
    expect(fs.statSync(path.join(layer, 'big')).size).toBe(40 * 1024 * 1024);
  });
});

describe('layer apply: applier lifecycle and modes', () => {
  it('abort() rejects the pending end() and stops the worker', async () => {
    const applier = native().createLayerApplier(layer, { overlay: true, lowerDirs: [] });
    await applier.write(buildTar([{ name: 'a', content: 'a' }], { endMarker: false }));
    applier.abort();
    const err = await applier.end().catch((e) => e);
    expect(err.code).toBe('ABORT_ERR');
  });

  it('reports a missing layer directory as a system error', () => {
    expect(() => native().createLayerApplier(path.join(work, 'missing'), { overlay: true, lowerDirs: [] })).toThrow(
      expect.objectContaining({ code: 'ENOENT', syscall: 'open' }),
    );
  });

  it('shifts owners with uidShift/gidShift', async () => {
    await apply([{ name: 'f', content: 'x', uid: 5, gid: 6 }], { uidShift: 100000, gidShift: 200000 });
    const st = fs.statSync(path.join(layer, 'f'));
    expect([st.uid, st.gid]).toEqual([100005, 200006]);
  });

  it('delete form: whiteouts remove lower content, opaque dirs keep only this layer\'s children', async () => {
    await apply([
      { name: 'keep', content: 'k' },
      { name: 'gone', content: 'g' },
      { name: 'dir/old', content: 'o' },
      { name: 'tree/sub/x', content: 'x' },
    ], { overlay: false });
    await apply([
      { name: 'dir/new', content: 'n' },
      { name: 'dir/.wh..wh..opq' }, // order in the tar does not matter
      { name: '.wh.gone' },
      { name: '.wh.tree' },
    ], { overlay: false });
    expect(fs.readdirSync(layer).sort()).toEqual(['dir', 'keep']);
    expect(fs.readdirSync(path.join(layer, 'dir'))).toEqual(['new']);
  });

  it('hardlink to a file found only in a lower layer copies it up with its metadata', async () => {
    const lower = path.join(work, 'lower');
    fs.mkdirSync(lower);
    await applyLayer({
      blob: Readable.from([buildTar([{ name: 'usr/bin/', type: 'dir', mode: 0o711, uid: 3 }, { name: 'usr/bin/ping', content: 'elf', mode: 0o4755, uid: 0, gid: 7, xattrs: { 'security.capability': Buffer.from('0100000200200000000000000000000000000000', 'hex') } }])]),
      dir: lower,
    });
    await apply([{ name: 'bin/ping', type: 'hardlink', linkname: 'usr/bin/ping' }], { lowerDirs: [lower] });
    const up = fs.statSync(path.join(layer, 'usr/bin/ping'));
    expect(up.ino).toBe(fs.statSync(path.join(layer, 'bin/ping')).ino);
    expect(up.mode & 0o7777).toBe(0o4755);
    expect(up.gid).toBe(7);
    expect(native().getxattr(path.join(layer, 'usr/bin/ping'), 'security.capability')).not.toBeNull();
    // the implied parent copied the lower directory's mode and owner
    const dir = fs.statSync(path.join(layer, 'usr/bin'));
    expect([dir.mode & 0o7777, dir.uid]).toEqual([0o711, 3]);
  });
});

describe('layer apply: rootless overlay form', () => {
  it('userxattr marks opaque directories with user.overlay.opaque', async () => {
    const applier = native().createLayerApplier(layer, { overlay: true, lowerDirs: [], userxattr: true } as Parameters<ReturnType<typeof native>['createLayerApplier']>[1]);
    await applier.write(buildTar([{ name: 'd/.wh..wh..opq' }]));
    await applier.end();
    expect(native().getxattr(path.join(layer, 'd'), 'user.overlay.opaque')?.toString()).toBe('y');
    expect(native().getxattr(path.join(layer, 'd'), 'trusted.overlay.opaque')).toBeNull();
  });
});
