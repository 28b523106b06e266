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

/**
 * A pass-through stream that hashes and counts what flows through it. With `expected`, it fails
 * the stream (before passing the last bytes on) when the size is exceeded, and at the end when
 * the size or digest differ, so a consumer never sees a complete stream of unverified bytes.
 */
export class DigestingStream extends Transform {
  private readonly hash: Hash = createHash('sha256');
  bytes = 0;
  constructor(private readonly expected?: { digest?: string; size?: number; what?: string }) {
    super();
  }

  _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    const limit = this.expected?.size;
    if (limit !== undefined && limit >= 0 && this.bytes > limit) {
      done(new DigestError(`${this.expected?.what ?? 'blob'}: size mismatch: more than the expected ${limit} bytes`));
      return;
    }
    this.hash.update(chunk);
    done(null, chunk);
  }

  _flush(done: TransformCallback): void {
    const result = this.digest();
    const what = this.expected?.what ?? 'blob';
    if (this.expected?.size !== undefined && this.expected.size >= 0 && this.bytes !== this.expected.size) {
      done(new DigestError(`${what}: size mismatch: got ${this.bytes} bytes, expected ${this.expected.size}`));
      return;
    }
    if (this.expected?.digest && result !== this.expected.digest) {
      done(new DigestError(`${what}: digest mismatch: got ${result}, expected ${this.expected.digest}`));
      return;
    }
    done();
  }

  private result?: string;
  /** The digest of everything seen; valid after the stream ended. */
  digest(): string {
    if (!this.result) this.result = 'sha256:' + this.hash.digest('hex');
    return this.result;
  }
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
