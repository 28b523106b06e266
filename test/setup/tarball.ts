// A small tar writer for tests: raw 512-byte ustar headers plus PAX and GNU long-name records,
// written by hand so tests can produce entries node-tar refuses to write (`../x`, absolute
// hardlinks, whiteouts, devices, byte-exact xattrs with NULs, broken checksums, truncations).
import * as zlib from 'node:zlib';
import { execFileSync } from 'node:child_process';

export type TarEntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

export interface TarEntry {
  name: string;
  type?: TarEntryType;
  /** A raw typeflag character, overriding `type` ('S' sparse, 'V' volume...). */
  typeflag?: string;
  content?: string | Buffer;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  /** Seconds since the epoch; a string like "1700000000.123456789" goes into a PAX mtime record. */
  mtime?: number | string;
  devmajor?: number;
  devminor?: number;
  /** SCHILY.xattr.<name> records, values byte-exact. */
  xattrs?: Record<string, string | Buffer>;
  /** LIBARCHIVE.xattr.<name> records (base64 values). */
  libarchiveXattrs?: Record<string, Buffer>;
  /** Extra PAX records, written verbatim. */
  pax?: Record<string, string | Buffer>;
  /** How names and link targets over 100 bytes are written (default 'pax'). */
  longNames?: 'pax' | 'gnu';
}

const TYPEFLAGS: Record<TarEntryType, string> = {
  file: '0', hardlink: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6',
};

function octal(value: number, width: number): string {
  // width includes the terminating NUL
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

/** One raw 512-byte header block with a correct checksum (unless `badChecksum`). */
export function headerBlock(fields: {
  name: string; typeflag: string; size?: number; mode?: number; uid?: number; gid?: number; mtime?: number;
  linkname?: string; devmajor?: number; devminor?: number; badChecksum?: boolean;
}): Buffer {
  const b = Buffer.alloc(512);
  const put = (s: string | Buffer, off: number, len: number) => {
    const src = Buffer.isBuffer(s) ? s : Buffer.from(s, 'utf8');
    src.copy(b, off, 0, Math.min(len, src.length));
  };
  put(fields.name, 0, 100);
  put(octal(fields.mode ?? 0o644, 8), 100, 8);
  put(octal(fields.uid ?? 0, 8), 108, 8);
  put(octal(fields.gid ?? 0, 8), 116, 8);
  put(octal(fields.size ?? 0, 12), 124, 12);
  put(octal(Math.floor(fields.mtime ?? 0), 12), 136, 12);
  put('        ', 148, 8);
  put(fields.typeflag, 156, 1);
  put(fields.linkname ?? '', 157, 100);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  put(octal(fields.devmajor ?? 0, 8), 329, 8);
  put(octal(fields.devminor ?? 0, 8), 337, 8);
  let sum = 0;
  for (const byte of b) sum += byte;
  if (fields.badChecksum) sum += 1;
  put(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8);
  return b;
}

function padded(data: Buffer): Buffer {
  const rest = data.length % 512;
  return rest === 0 ? data : Buffer.concat([data, Buffer.alloc(512 - rest)]);
}

/** A PAX record "<len> key=value\n" (len counts itself). */
export function paxRecord(key: string, value: string | Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), Buffer.isBuffer(value) ? value : Buffer.from(value), Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

function metaEntry(typeflag: string, data: Buffer): Buffer {
  return Buffer.concat([headerBlock({ name: '././@PaxHeader', typeflag, size: data.length }), padded(data)]);
}

/** Serialises one entry (with any PAX / GNU headers it needs). */
export function entryBlocks(e: TarEntry): Buffer {
  const typeflag = e.typeflag ?? TYPEFLAGS[e.type ?? 'file'];
  const content = e.content === undefined ? Buffer.alloc(0) : Buffer.isBuffer(e.content) ? e.content : Buffer.from(e.content);
  const records: Buffer[] = [];
  const parts: Buffer[] = [];
  let name = e.name;
  let linkname = e.linkname ?? '';
  if (Buffer.byteLength(name) > 100) {
    if (e.longNames === 'gnu') parts.push(metaEntry('L', Buffer.from(name + '\0')));
    else records.push(paxRecord('path', name));
    name = name.slice(0, 99);
  }
  if (Buffer.byteLength(linkname) > 100) {
    if (e.longNames === 'gnu') parts.push(metaEntry('K', Buffer.from(linkname + '\0')));
    else records.push(paxRecord('linkpath', linkname));
    linkname = linkname.slice(0, 99);
  }
  let mtime = typeof e.mtime === 'number' ? e.mtime : 0;
  if (typeof e.mtime === 'string') {
    records.push(paxRecord('mtime', e.mtime));
    mtime = Math.floor(Number(e.mtime));
  }
  for (const [k, v] of Object.entries(e.xattrs ?? {})) records.push(paxRecord(`SCHILY.xattr.${k}`, v));
  for (const [k, v] of Object.entries(e.libarchiveXattrs ?? {})) {
    records.push(paxRecord(`LIBARCHIVE.xattr.${encodeURIComponent(k)}`, v.toString('base64')));
  }
  for (const [k, v] of Object.entries(e.pax ?? {})) records.push(paxRecord(k, v));
  if (records.length) parts.push(metaEntry('x', Buffer.concat(records)));
  parts.push(
    headerBlock({
      name, typeflag, size: content.length, mode: e.mode ?? (e.type === 'dir' ? 0o755 : 0o644),
      uid: e.uid, gid: e.gid, mtime, linkname, devmajor: e.devmajor, devminor: e.devminor,
    }),
  );
  if (content.length) parts.push(padded(content));
  return Buffer.concat(parts);
}

/** A complete archive (with the two zero blocks unless `endMarker: false`). */
export function buildTar(entries: TarEntry[], opts: { endMarker?: boolean } = {}): Buffer {
  const parts = entries.map(entryBlocks);
  if (opts.endMarker !== false) parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export function gzip(data: Buffer): Buffer {
  return zlib.gzipSync(data);
}

/** zstd via the zstd CLI (Node 20's zlib has none). */
export function zstd(data: Buffer): Buffer {
  return execFileSync('zstd', ['-q', '-c', '-3'], { input: data, maxBuffer: 1 << 30 });
}
