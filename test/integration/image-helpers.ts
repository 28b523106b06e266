// Shared helpers for the image tests: a store with a working layer applier and tree comparison.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { PassThrough, Readable } from 'node:stream';
import * as tar from 'tar';
import { ImageStore, type ApplyLayerFn } from '../../src/image/store';

/**
 * The real applier (src/image/apply.ts, native) when it is available; until then a stand-in built
 * on node-tar that is good enough for plain busybox trees (no whiteouts, xattrs or devices).
 */
export function testApplier(): { apply: ApplyLayerFn; native: boolean } {
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const mod = require('../../src/image/apply') as { applyLayer: ApplyLayerFn };
    const n = require('../../src/native').native() as { createLayerApplier?: unknown };
    if (typeof n.createLayerApplier === 'function') return { apply: mod.applyLayer, native: true };
  } catch {
    /* not landed yet */
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

/** A gzip'ed layer tarball of `dir` (sorted "./" entries, fixed mtime), as a Buffer. */
export async function layerOf(dir: string, gzip = true): Promise<Buffer> {
  const entries = fs.readdirSync(dir).sort().map((e) => `./${e}`);
  const chunks: Buffer[] = [];
  for await (const c of tar.c({ cwd: dir, gzip, portable: false, mtime: new Date(0) }, entries) as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}
