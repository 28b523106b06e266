// Applying one image layer blob onto a layer directory:
//   blob -> detect compression by magic -> decompress -> sha256 (diffID) -> native applier (worker thread)
// The tar itself is parsed and applied in native/layer.cc, confined to `dir` with openat2.
// See docs/internals/layers.md.
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { Decompress as ZstdDecompress } from 'fzstd';
import { native, type LayerApplyStats } from '../native';

export type LayerCompression = 'gzip' | 'zstd' | 'none';

export interface ApplyLayerOptions {
  /** The layer blob: a file path or a stream of its (possibly compressed) bytes. */
  blob: string | Readable;
  /** The descriptor's media type; informative only — compression is detected from the bytes. */
  mediaType?: string;
  /** The (empty) layer directory to write into. */
  dir: string;
  /** Lower layer directories, top first (hardlinks to files of earlier layers). */
  lowerDirs?: string[];
  /** Overlay form for whiteouts and opaque directories (default true). */
  overlay?: boolean;
  /** The diffID from the image config ("sha256:<hex>"); a mismatch fails with EHULLDIFFID. */
  expectedDiffId?: string;
  /** Upper bound on the uncompressed size (default 64 GiB): the decompression-bomb bound. */
  maxUncompressedBytes?: number;
  /** Largest uncompressed/compressed ratio once past 256 MiB of output (default 10000). */
  maxRatio?: number;
  uidShift?: number;
  gidShift?: number;
}

export interface ApplyLayerResult {
  /** "sha256:<hex>" of the uncompressed tar stream. */
  diffId: string;
  compression: LayerCompression;
  /** Bytes of the uncompressed tar stream. */
  size: number;
  stats: LayerApplyStats;
}

export class LayerError extends Error {
  constructor(message: string, readonly code: string) {
    super(message);
    this.name = 'LayerError';
  }
}

const DEFAULT_MAX_UNCOMPRESSED = 64 * 1024 ** 3;
const DEFAULT_MAX_RATIO = 10_000;
const RATIO_CHECK_AFTER = 256 * 1024 ** 2;
// fzstd decompresses synchronously on the JS thread; feeding it small slices bounds the output a
// single push can produce (a zstd bomb would otherwise expand a whole chunk in one call).
const ZSTD_SLICE = 4096;

export function detectCompression(head: Buffer): LayerCompression {
  if (head.length >= 3 && head[0] === 0x1f && head[1] === 0x8b && head[2] === 0x08) return 'gzip';
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  return 'none';
}

/** Applies one layer blob; on failure the caller removes `dir` (it may be partially written). */
export async function applyLayer(opts: ApplyLayerOptions): Promise<ApplyLayerResult> {
  const source =
    typeof opts.blob === 'string' ? fs.createReadStream(opts.blob, { highWaterMark: 1024 * 1024 }) : opts.blob;
  const maxOut = opts.maxUncompressedBytes ?? DEFAULT_MAX_UNCOMPRESSED;
  const maxRatio = opts.maxRatio ?? DEFAULT_MAX_RATIO;
  const applier = native().createLayerApplier(opts.dir, {
    overlay: opts.overlay ?? true,
    lowerDirs: opts.lowerDirs ?? [],
    uidShift: opts.uidShift,
    gidShift: opts.gidShift,
  });
  const hash = createHash('sha256');
  let compressedIn = 0;
  let uncompressedOut = 0;
  let compression: LayerCompression = 'none';

  const countIn = async function* (): AsyncGenerator<Buffer> {
    for await (const chunk of source as AsyncIterable<Buffer | string>) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      compressedIn += buf.length;
      yield buf;
    }
  };

  try {
    const input = countIn();
    const head = await readHead(input, 4);
    compression = detectCompression(head.buffer);
    for await (const chunk of decompress(compression, head.buffer, head.rest)) {
      uncompressedOut += chunk.length;
      if (uncompressedOut > maxOut) {
        throw new LayerError(
          `layer ${describe(opts)} expands beyond ${maxOut} bytes (decompression bomb bound)`,
          'EHULLBOMB',
        );
      }
      if (compression !== 'none' && uncompressedOut > RATIO_CHECK_AFTER && uncompressedOut / Math.max(compressedIn, 1) > maxRatio) {
        throw new LayerError(
          `layer ${describe(opts)} expands more than ${maxRatio}:1 (decompression bomb bound)`,
          'EHULLBOMB',
        );
      }
      hash.update(chunk);
      await applier.write(chunk);
    }
    const stats = await applier.end();
    const diffId = `sha256:${hash.digest('hex')}`;
    if (opts.expectedDiffId && opts.expectedDiffId !== diffId) {
      throw new LayerError(
        `layer ${describe(opts)}: diffID mismatch: the image config says ${opts.expectedDiffId}, the uncompressed layer is ${diffId}`,
        'EHULLDIFFID',
      );
    }
    return { diffId, compression, size: uncompressedOut, stats };
  } catch (err) {
    applier.abort();
    if (typeof opts.blob === 'string') (source as fs.ReadStream).destroy();
    throw err;
  }
}

function describe(opts: ApplyLayerOptions): string {
  return typeof opts.blob === 'string' ? opts.blob : opts.dir;
}

/** Reads at least `n` bytes (fewer at end of input) and hands back the rest of the stream. */
async function readHead(
  input: AsyncGenerator<Buffer>,
  n: number,
): Promise<{ buffer: Buffer; rest: AsyncGenerator<Buffer> }> {
  const parts: Buffer[] = [];
  let size = 0;
  while (size < n) {
    const next = await input.next();
    if (next.done) break;
    parts.push(next.value);
    size += next.value.length;
  }
  return { buffer: Buffer.concat(parts), rest: input };
}

async function* decompress(kind: LayerCompression, head: Buffer, rest: AsyncGenerator<Buffer>): AsyncGenerator<Buffer> {
  if (kind === 'none') {
    if (head.length) yield head;
    yield* rest;
    return;
  }
  if (kind === 'gzip') {
    // zlib's streaming inflate runs on the libuv threadpool, off the JS thread.
    const gunzip = zlib.createGunzip({ chunkSize: 256 * 1024 });
    const input = Readable.from(
      (async function* () {
        yield head;
        yield* rest;
      })(),
    );
    input.on('error', (err) => gunzip.destroy(err));
    input.pipe(gunzip);
    try {
      for await (const chunk of gunzip) yield chunk as Buffer;
    } finally {
      input.destroy();
      gunzip.destroy();
    }
    return;
  }
  // zstd: Node 20's zlib has none; fzstd is a pure-JS streaming decoder.
  let out: Buffer[] = [];
  const zstd = new ZstdDecompress((data) => {
    out.push(Buffer.from(data));
  });
  const feed = function* (chunk: Buffer, final: boolean): Generator<Buffer[]> {
    for (let off = 0; off < chunk.length || (final && off === 0); off += ZSTD_SLICE) {
      const slice = chunk.subarray(off, off + ZSTD_SLICE);
      const last = final && off + ZSTD_SLICE >= chunk.length;
      try {
        zstd.push(slice, last);
      } catch (err) {
        throw new LayerError(`invalid zstd layer data: ${(err as Error).message}`, 'EHULLZSTD');
      }
      if (out.length) {
        yield out;
        out = [];
      }
      if (last) return;
    }
  };
  let pending: Buffer | undefined = head;
  for await (const chunk of rest) {
    if (pending && pending.length) for (const batch of feed(pending, false)) yield* batch;
    pending = chunk;
  }
  for (const batch of feed(pending ?? Buffer.alloc(0), true)) yield* batch;
}
