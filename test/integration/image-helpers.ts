// Shared helpers for the image tests: a store with a working layer applier and tree comparison.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { spawnSync } from 'node:child_process';
import { PassThrough, Readable } from 'node:stream';
import * as tar from 'tar';
import { ImageStore, type ApplyLayerFn } from '../../src/image/store';
import { applyLayer } from '../../src/image/apply';
import { native } from '../../src/native';

/**
 * The real applier (src/image/apply.ts, native) when it is available; until then a stand-in built
 * on node-tar that is good enough for plain busybox trees (no whiteouts, xattrs or devices).
 */
export function testApplier(): { apply: ApplyLayerFn; native: boolean } {
  try {
    const n = native() as { createLayerApplier?: unknown };
    if (typeof n.createLayerApplier === 'function') return { apply: applyLayer as ApplyLayerFn, native: true };
  } catch {
    /* addon not built */
  }
  const apply: ApplyLayerFn = async ({ blob, dir }) => {
    const source = typeof blob === 'string' ? fs.createReadStream(blob) : blob;
    const hash = crypto.createHash('sha256');
    const head = await peek(typeof blob === 'string' ? blob : null);
    const plain = new PassThrough();
    const hashed = new PassThrough();
    hashed.on('data', (c: Buffer) => hash.update(c));
    const decompress = head === 'gzip' ? [zlib.createGunzip()] : [];
    let entries = 0;
    let bytes = 0;
    await Promise.all([
      pipeline(source as Readable, ...(decompress as []), hashed, plain),
      pipeline(plain, tar.x({ cwd: dir, preserveOwner: true, onReadEntry: (e) => { entries++; bytes += e.size ?? 0; } } as tar.TarOptionsWithAliasesAsyncNoFile)),
    ]);
    return { diffId: 'sha256:' + hash.digest('hex'), stats: { entries, bytes } };
  };
  return { apply, native: false };
}

async function peek(file: string | null): Promise<'gzip' | 'plain'> {
  if (!file) return 'plain';
  const fd = fs.openSync(file, 'r');
  const b = Buffer.alloc(2);
  fs.readSync(fd, b, 0, 2, 0);
  fs.closeSync(fd);
  return b[0] === 0x1f && b[1] === 0x8b ? 'gzip' : 'plain';
}

export function makeStore(root: string): ImageStore {
  return new ImageStore(root, { applyLayer: testApplier().apply });
}

export interface TreeEntry {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  sha256?: string;
  link?: string;
}

/** Every entry under `dir` keyed by relative path (type, mode, owner, size, content hash, link target). */
export function treeOf(dir: string): Record<string, TreeEntry> {
  const out: Record<string, TreeEntry> = {};
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const full = path.join(dir, r);
      const st = fs.lstatSync(full);
      const entry: TreeEntry = {
        type: st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFile() ? 'file' : 'other',
        mode: st.mode & 0o7777,
        uid: st.uid,
        gid: st.gid,
        size: st.isFile() ? st.size : 0,
      };
      if (st.isFile()) entry.sha256 = crypto.createHash('sha256').update(fs.readFileSync(full)).digest('hex');
      if (st.isSymbolicLink()) {
        entry.link = fs.readlinkSync(full);
        delete (entry as Partial<TreeEntry>).mode; // symlink modes are not meaningful
      }
      out[r] = entry;
      if (st.isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}

/** A gzip'ed layer tarball of `dir` made by GNU tar (sorted, numeric owners, fixed mtime), as a Buffer. */
export async function layerOf(dir: string, gzip = true): Promise<Buffer> {
  const r = spawnSync('tar', ['-C', dir, '--sort=name', '--numeric-owner', '--mtime=@0', '--xattrs', '-cf', '-', '.'], { maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`tar failed: ${r.stderr}`);
  return gzip ? zlib.gzipSync(r.stdout) : r.stdout;
}

/**
 * Put an image made of `layers` (gzip'ed tarballs, bottom first) into `store` and tag it.
 * The config's diffIDs are computed from the uncompressed bytes.
 */
export async function buildImage(store: ImageStore, layers: Buffer[], tag: string, extraConfig: Record<string, unknown> = {}): Promise<string> {
  const { unpackAndRecord } = await import('../../src/image/archive');
  const { parseReference } = await import('../../src/image/reference');
  const { hostPlatform } = await import('../../src/image/platform');
  const sha = (b: Buffer) => 'sha256:' + crypto.createHash('sha256').update(b).digest('hex');
  const descriptors = layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: store.writeBlob(l), size: l.length }));
  const p = hostPlatform();
  const config = Buffer.from(JSON.stringify({
    created: '2024-01-01T00:00:00Z', architecture: p.architecture, os: p.os, config: { Cmd: ['sh'] }, ...extraConfig,
    rootfs: { type: 'layers', diff_ids: layers.map((l) => sha(zlib.gunzipSync(l))) },
  }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: store.writeBlob(config), size: config.length },
    layers: descriptors,
  }));
  const digest = store.writeBlob(manifest);
  await unpackAndRecord(store, digest, [parseReference(tag)]);
  return digest;
}

export interface RawTarEntry {
  name: string;
  type?: 'file' | 'dir' | 'symlink' | 'hardlink';
  mode?: number;
  uid?: number;
  gid?: number;
  content?: string | Buffer;
  linkname?: string;
}

/** A ustar archive written byte by byte: for entries tar(1) will not make (links into lower layers). */
export function rawTar(entries: RawTarEntry[]): Buffer {
  const blocks: Buffer[] = [];
  const octal = (n: number, width: number) => n.toString(8).padStart(width - 1, '0') + '\0';
  for (const e of entries) {
    const body = Buffer.from(e.content ?? '');
    const h = Buffer.alloc(512);
    const type = e.type ?? 'file';
    h.write(e.name, 0, 100);
    h.write(octal(e.mode ?? (type === 'dir' ? 0o755 : 0o644), 8), 100);
    h.write(octal(e.uid ?? 0, 8), 108);
    h.write(octal(e.gid ?? 0, 8), 116);
    h.write(octal(type === 'file' ? body.length : 0, 12), 124);
    h.write(octal(0, 12), 136);
    h.write('        ', 148); // checksum placeholder: spaces
    h.write({ file: '0', hardlink: '1', symlink: '2', dir: '5' }[type], 156);
    h.write(e.linkname ?? '', 157, 100);
    h.write('ustar\0', 257);
    h.write('00', 263);
    let sum = 0;
    for (const byte of h) sum += byte;
    h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
    blocks.push(h);
    if (type === 'file' && body.length) {
      blocks.push(body, Buffer.alloc((512 - (body.length % 512)) % 512));
    }
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}
