// Content digests. Every digest that comes from outside (a registry, a manifest, a tarball) is
// validated before it is used in a path: "sha256:../../x" must never reach path.join (CVE-2024-3727).
import { createHash, Hash } from 'node:crypto';
import { Transform, TransformCallback } from 'node:stream';

const DIGEST = /^sha256:[a-f0-9]{64}$/;

export class DigestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DigestError';
  }
}

/** True for "sha256:" + 64 lowercase hex digits, the only algorithm hull accepts. */
export function isValidDigest(value: unknown): value is string {
  return typeof value === 'string' && DIGEST.test(value);
}

/** Throw unless `value` is a valid sha256 digest; `what` names it in the message. */
export function assertDigest(value: unknown, what = 'digest'): string {
  if (!isValidDigest(value)) {
    const shown = typeof value === 'string' ? JSON.stringify(value.length > 100 ? value.slice(0, 100) + '…' : value) : String(value);
    throw new DigestError(`invalid ${what} ${shown}: expected sha256:<64 lowercase hex digits>`);
  }
  return value;
}

/** The hex part of a validated digest: safe as a file name. */
export function digestHex(digest: string): string {
  return assertDigest(digest).slice('sha256:'.length);
}

export function sha256Digest(data: Buffer | string): string {
  return 'sha256:' + createHash('sha256').update(data).digest('hex');
}

/** ChainID(L0) = DiffID(L0); ChainID(L0..n) = sha256(ChainID(L0..n-1) + " " + DiffID(Ln)). */
export function chainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const diffId of diffIds) {
    assertDigest(diffId, 'diffID');
    out.push(out.length === 0 ? diffId : sha256Digest(`${out[out.length - 1]} ${diffId}`));
  }
  return out;
}

/** A pass-through stream that hashes and counts what flows through it (see digestingStream). */
export interface DigestingStream extends Transform {
  /** Bytes seen so far. */
  readonly bytes: number;
  /** The digest of everything seen; valid after the stream ended. */
  digest(): string;
}

/**
 * A DigestingStream. With `expected`, it fails the stream (before passing the last bytes on) when
 * the size is exceeded, and at the end when the size or digest differ, so a consumer never sees a
 * complete stream of unverified bytes. (A factory, not a subclass: `extends Transform` at the top
 * level would load node:stream on every CLI start, even for commands that never stream.)
 */
export function digestingStream(expected?: { digest?: string; size?: number; what?: string }): DigestingStream {
  const hash: Hash = createHash('sha256');
  const what = expected?.what ?? 'blob';
  let bytes = 0;
  let result: string | undefined;
  const digest = () => (result ??= 'sha256:' + hash.digest('hex'));
  const stream = new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
      bytes += chunk.length;
      const limit = expected?.size;
      if (limit !== undefined && limit >= 0 && bytes > limit) {
        done(new DigestError(`${what}: size mismatch: more than the expected ${limit} bytes`));
        return;
      }
      hash.update(chunk);
      done(null, chunk);
    },
    flush(done: TransformCallback): void {
      const got = digest();
      if (expected?.size !== undefined && expected.size >= 0 && bytes !== expected.size) {
        done(new DigestError(`${what}: size mismatch: got ${bytes} bytes, expected ${expected.size}`));
        return;
      }
      if (expected?.digest && got !== expected.digest) {
        done(new DigestError(`${what}: digest mismatch: got ${got}, expected ${expected.digest}`));
        return;
      }
      done();
    },
  });
  return Object.defineProperties(stream, {
    bytes: { get: () => bytes, enumerable: true },
    digest: { value: digest },
  }) as DigestingStream;
}

/** Hash a whole stream (e.g. a file) and return its digest and size. */
export async function digestStream(stream: NodeJS.ReadableStream): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { digest: 'sha256:' + hash.digest('hex'), size };
}
