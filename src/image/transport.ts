// HTTP for registries: retries with backoff, redirects followed by hand (credentials only to the
// registry's own host), readable errors from JSON error bodies and HTML pages.

export interface RetryPolicy {
  /** Total attempts including the first (moby: 5). */
  attempts: number;
  /** Backoff = attempt × this (moby: 5 s). Tests use a few ms. */
  baseDelayMs: number;
  /** Upper bound for one wait, also for Retry-After. */
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 1000, maxDelayMs: 30_000 };

const RETRY_STATUSES = new Set([408, 429, 500, 502, 503, 504]);

export class RegistryError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'RegistryError';
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Network errors worth another attempt: resets, closed sockets, timeouts. A refused connection is
 * not retried (nothing listens there; a dead mirror should fall through to the next endpoint fast).
 */
export function isTransientNetworkError(err: unknown): boolean {
  const e = err as { code?: string; cause?: { code?: string; message?: string }; message?: string };
  const code = e?.cause?.code ?? e?.code;
  if (code) {
    return ['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT',
      'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CLOSED', 'ECONNABORTED'].includes(code);
  }
  // undici's "terminated" (body cut short) carries its reason as a cause without a code at times.
  const message = `${e?.message ?? ''} ${e?.cause?.message ?? ''}`;
  return /terminated|other side closed|socket hang up|ECONNRESET/i.test(message);
}

export function retryDelay(policy: RetryPolicy, attempt: number, retryAfter?: string | null): number {
  if (retryAfter) {
    const seconds = Number(retryAfter);
    if (Number.isFinite(seconds) && seconds >= 0) return Math.min(policy.maxDelayMs, seconds * 1000, policy.baseDelayMs * 10);
  }
  return Math.min(policy.maxDelayMs, policy.baseDelayMs * attempt);
}

export function shouldRetryStatus(status: number): boolean {
  return RETRY_STATUSES.has(status);
}

/**
 * A readable error for a failed response: the registry's {"errors":[{code,message}]} when there is
 * one, a note when an HTML page came back instead (proxies, captive portals, misconfigured mirrors).
 */
export async function errorFromResponse(res: Response, what: string): Promise<RegistryError> {
  let text = '';
  try {
    text = await readTextCapped(res, 64 * 1024);
  } catch {
    /* body unreadable */
  }
  const contentType = res.headers.get('content-type') ?? '';
  const status = `${res.status}${res.statusText ? ` ${res.statusText}` : ''}`;
  if (/text\/html/i.test(contentType) || /^\s*<(!doctype|html)/i.test(text)) {
    const title = /<title>([^<]*)<\/title>/i.exec(text)?.[1]?.trim();
    return new RegistryError(`${what}: registry answered ${status} with an HTML page${title ? ` ("${title}")` : ''} instead of a registry response`, res.status);
  }
  try {
    const body = JSON.parse(text) as { errors?: Array<{ code?: string; message?: string; detail?: unknown }> };
    if (Array.isArray(body.errors) && body.errors.length) {
      const first = body.errors[0];
      const detail = body.errors.map((e) => `${e.code ?? 'ERROR'}: ${e.message ?? ''}`.trim()).join('; ');
      return new RegistryError(`${what}: ${status}: ${detail}`, res.status, first.code);
    }
  } catch {
    /* not JSON */
  }
  const snippet = text.trim().slice(0, 200);
  return new RegistryError(`${what}: ${status}${snippet ? `: ${snippet}` : ''}`, res.status);
}

/** Read a body as text, at most `limit` bytes. */
export async function readTextCapped(res: Response, limit: number): Promise<string> {
  return (await readBodyCapped(res, limit, 'response')).toString('utf8');
}

/** Read a body into memory, failing as soon as it passes `limit` bytes (huge manifests). */
export async function readBodyCapped(res: Response, limit: number, what: string): Promise<Buffer> {
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > limit) {
    await res.body?.cancel().catch(() => {});
    throw new RegistryError(`${what}: ${declared} bytes is more than the ${limit} allowed`, res.status);
  }
  if (!res.body) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let total = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      throw new RegistryError(`${what}: more than the ${limit} bytes allowed`, res.status);
    }
    chunks.push(Buffer.from(value));
  }
  return Buffer.concat(chunks);
}

/** "text/plain; charset=x" -> "text/plain". */
export function bareContentType(value: string | null): string {
  return (value ?? '').split(';')[0].trim().toLowerCase();
}
