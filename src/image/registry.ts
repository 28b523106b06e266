// A client for one registry endpoint (OCI distribution-spec v1.1): ping, auth, manifests, blobs
// (download with verification and Range resume) and the upload calls push needs.
import * as fs from 'node:fs';
import { createHash, Hash } from 'node:crypto';
import { isInsecureRegistry, HullConfig, loadConfig, normalizeRegistryHost } from '../config';
import { basicHeader, Challenge, Credentials, findCredentials, parseTokenResponse, parseWwwAuthenticate, preferredChallenge, sharedTokenCache, TokenCache } from './auth';
import { assertDigest, sha256Digest } from './digest';
import type { Ingest } from './store';
import {
  bareContentType, DEFAULT_RETRY, errorFromResponse, isTransientNetworkError, readBodyCapped, RegistryError, retryDelay, RetryPolicy,
  shouldRetryStatus, sleep,
} from './transport';
import { Descriptor, isIndexMediaType, isManifestMediaType, isSchema1, MANIFEST_ACCEPT, MAX_MANIFEST_BYTES } from './types';

export interface RegistryClientOptions {
  /** The registry as named in references ("docker.io", "ghcr.io", "127.0.0.1:5000"). */
  registry: string;
  /** Host actually contacted (mirror or Hub's API host); default from `registry`. */
  host?: string;
  /** Repository path prefix on this endpoint (mirrors with path-prefix rewriting). */
  pathPrefix?: string;
  /** Force plain HTTP (otherwise: loopback and configured insecure registries only). */
  insecure?: boolean;
  /** Credentials; default: looked up for `host` in hull's and docker's auth files. */
  credentials?: Credentials | null;
  retry?: RetryPolicy;
  config?: HullConfig;
  tokenCache?: TokenCache;
  userAgent?: string;
  /** Called before each request (tests count requests, inspect headers). */
  onRequest?: (method: string, url: string, headers: Record<string, string>) => void;
}

export interface FetchedManifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
  json: { mediaType?: string; manifests?: Descriptor[]; config?: Descriptor; layers?: Descriptor[]; schemaVersion?: number };
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** Repository scopes the request needs ("repository:ns/app:pull"). */
  scopes: string[];
  /** Follow 3xx by hand (blob GETs): credentials go only to the registry's own host. */
  followRedirects?: boolean;
  /** Retry 408/429/5xx and network errors (not for non-idempotent uploads). */
  retry?: boolean;
  what: string;
}

const MAX_REDIRECTS = 10;

export class RegistryClient {
  readonly registry: string;
  readonly host: string;
  readonly baseUrl: string;
  readonly pathPrefix: string;
  private readonly retryPolicy: RetryPolicy;
  private readonly tokens: TokenCache;
  private readonly credentials: Credentials | null;
  private challenge: Challenge | null | undefined; // undefined = not yet known
  private readonly userAgent: string;

  constructor(private readonly options: RegistryClientOptions) {
    this.registry = normalizeRegistryHost(options.registry) === 'docker.io' ? 'docker.io' : options.registry;
    this.host = options.host ?? (this.registry === 'docker.io' ? 'registry-1.docker.io' : options.registry);
    const config = options.config ?? loadConfig();
    const insecure = options.insecure ?? isInsecureRegistry(this.host, config);
    this.baseUrl = `${insecure ? 'http' : 'https'}://${this.host}`;
    this.pathPrefix = (options.pathPrefix ?? '').replace(/^\/+|\/+$/g, '');
    this.retryPolicy = options.retry ?? DEFAULT_RETRY;
    this.tokens = options.tokenCache ?? sharedTokenCache;
    this.credentials = options.credentials !== undefined ? options.credentials : findCredentials(this.host === 'registry-1.docker.io' ? 'docker.io' : this.host);
    this.userAgent = options.userAgent ?? 'hull/0.1';
  }

  /** The repository name on this endpoint (mirror prefix + path). */
  repoPath(repository: string): string {
    return this.pathPrefix ? `${this.pathPrefix}/${repository}` : repository;
  }

  static pullScope(repository: string): string {
    return `repository:${repository}:pull`;
  }

  static pushScope(repository: string): string {
    return `repository:${repository}:pull,push`;
  }

  /** GET /v2/: reachable, and which authentication it wants. */
  async ping(): Promise<void> {
    const res = await this.request(`${this.baseUrl}/v2/`, { scopes: [], what: `${this.host}: /v2/`, retry: true });
    await res.body?.cancel().catch(() => {});
    if (res.status !== 200) throw await errorFromResponse(res, `${this.host}: /v2/`);
  }

  /** Check credentials the way `docker login` does: /v2/ must answer 200 after auth. */
  async login(): Promise<void> {
    await this.ping();
  }

  /**
   * GET a manifest or index by tag or digest. The bytes are capped at 4 MiB, schema1 is refused,
   * the body's mediaType must match Content-Type, and a digest reference must match the bytes.
   */
  async getManifest(repository: string, reference: string): Promise<FetchedManifest> {
    const repo = this.repoPath(repository);
    const byDigest = reference.startsWith('sha256:') || reference.includes(':');
    if (byDigest) assertDigest(reference, 'manifest digest');
    const what = `manifest ${repository}${byDigest ? '@' : ':'}${reference}`;
    const res = await this.request(`${this.baseUrl}/v2/${repo}/manifests/${reference}`, {
      headers: { Accept: MANIFEST_ACCEPT.join(', ') },
      scopes: [RegistryClient.pullScope(repo)],
      retry: true,
      what,
    });
    if (res.status === 404) {
      const err = await errorFromResponse(res, what);
      if (/HTML page/.test(err.message)) throw err;
      throw new RegistryError(`${what}: not found${err.code ? ` (${err.code})` : ''}`, 404, err.code ?? 'MANIFEST_UNKNOWN');
    }
    if (res.status !== 200) throw await errorFromResponse(res, what);
    const contentType = bareContentType(res.headers.get('content-type'));
    if (contentType === 'text/html') throw await errorFromResponse(res, what);
    const bytes = await readBodyCapped(res, MAX_MANIFEST_BYTES, what);
    const digest = sha256Digest(bytes);
    if (byDigest && digest !== reference) {
      throw new RegistryError(`${what}: digest mismatch: the registry sent bytes with digest ${digest}`);
    }
    const headerDigest = res.headers.get('docker-content-digest');
    if (!byDigest && headerDigest && headerDigest !== digest) {
      throw new RegistryError(`${what}: Docker-Content-Digest ${headerDigest} does not match the bytes (${digest})`);
    }
    let json: FetchedManifest['json'];
    try {
      json = JSON.parse(bytes.toString('utf8')) as FetchedManifest['json'];
    } catch {
      if (/^\s*</.test(bytes.toString('utf8', 0, 100))) throw new RegistryError(`${what}: registry sent an HTML page instead of a manifest`);
      throw new RegistryError(`${what}: manifest is not valid JSON`);
    }
    const mediaType = json.mediaType ?? contentType;
    if (isSchema1(mediaType) || json.schemaVersion === 1) {
      throw new RegistryError(`${what}: Docker schema 1 manifests are not supported (push the image again with a current client)`);
    }
    if (json.mediaType && contentType && contentType !== 'application/octet-stream' && json.mediaType !== contentType) {
      throw new RegistryError(`${what}: body mediaType ${json.mediaType} differs from Content-Type ${contentType}`);
    }
    if (!isIndexMediaType(mediaType) && !isManifestMediaType(mediaType)) {
      // OCI manifests may omit mediaType: recognise them by shape.
      if (json.manifests) return { digest, mediaType: 'application/vnd.oci.image.index.v1+json', bytes, json };
      if (json.config && json.layers) return { digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', bytes, json };
      throw new RegistryError(`${what}: unsupported manifest media type "${mediaType}"`);
    }
    return { digest, mediaType, bytes, json };
  }

  /**
   * HEAD a manifest: the registry's Docker-Content-Digest, or null when it sends none (HEAD
   * unsupported, 405, no header). Only good for "is it still what we have?": never trusted alone.
   */
  async headManifestDigest(repository: string, tag: string): Promise<string | null> {
    const repo = this.repoPath(repository);
    const res = await this.request(`${this.baseUrl}/v2/${repo}/manifests/${tag}`, {
      method: 'HEAD',
      headers: { Accept: MANIFEST_ACCEPT.join(', ') },
      scopes: [RegistryClient.pullScope(repo)],
      retry: true,
      what: `manifest ${repository}:${tag}`,
    });
    await res.body?.cancel().catch(() => {});
    const digest = res.headers.get('docker-content-digest');
    return res.status === 200 && digest && /^sha256:[a-f0-9]{64}$/.test(digest) ? digest : null;
  }

  /** GET a small blob (an image config) into memory, verified. */
  async getBlobBytes(repository: string, desc: Descriptor, limit = 64 * 1024 * 1024): Promise<Buffer> {
    assertDigest(desc.digest, 'blob digest');
    if (desc.size > limit) throw new RegistryError(`blob ${desc.digest}: ${desc.size} bytes is more than the ${limit} allowed`);
    const what = `blob ${desc.digest}`;
    const res = await this.request(this.blobUrl(repository, desc.digest), { scopes: [RegistryClient.pullScope(this.repoPath(repository))], followRedirects: true, retry: true, what });
    if (res.status !== 200) throw await errorFromResponse(res, what);
    const bytes = await readBodyCapped(res, limit, what);
    if (bytes.length !== desc.size) throw new RegistryError(`${what}: size mismatch: got ${bytes.length} bytes, expected ${desc.size}`);
    const digest = sha256Digest(bytes);
    if (digest !== desc.digest) throw new RegistryError(`${what}: digest mismatch: got ${digest}`);
    return bytes;
  }

  blobUrl(repository: string, digest: string): string {
    return `${this.baseUrl}/v2/${this.repoPath(repository)}/blobs/${assertDigest(digest, 'blob digest')}`;
  }

  /**
   * Download a blob into `ingest`, hashing and counting while writing. A reset or short body is
   * resumed with `Range: bytes=<have>-` (a 200 answer means Range was ignored: start over). Fails
   * as soon as more bytes arrive than the descriptor says, and at the end on a digest mismatch.
   */
  async downloadBlob(repository: string, desc: Descriptor, ingest: Ingest, onProgress?: (bytes: number) => void, options: { resume?: boolean } = {}): Promise<void> {
    assertDigest(desc.digest, 'layer digest');
    const what = `blob ${desc.digest}`;
    const url = this.blobUrl(repository, desc.digest);
    const scopes = [RegistryClient.pullScope(this.repoPath(repository))];
    let hash: Hash = createHash('sha256');
    let have = 0;
    const fd = fs.openSync(ingest.path, options.resume ? fs.constants.O_RDWR | fs.constants.O_CREAT : 'w', 0o600);
    try {
      if (options.resume) {
        // Bytes a killed pull left: hash them and ask only for the rest.
        have = fs.fstatSync(fd).size;
        if (have > desc.size) {
          fs.ftruncateSync(fd, 0);
          have = 0;
        }
        const buf = Buffer.alloc(1024 * 1024);
        for (let pos = 0; pos < have; ) {
          const n = fs.readSync(fd, buf, 0, Math.min(buf.length, have - pos), pos);
          if (n <= 0) throw new RegistryError(`${what}: cannot read the partial download`);
          hash.update(buf.subarray(0, n));
          pos += n;
        }
        onProgress?.(have);
      }
      let failures = 0;
      while (have < desc.size || desc.size === 0) {
        const headers: Record<string, string> = {};
        if (have > 0) headers.Range = `bytes=${have}-`;
        const res = await this.request(url, { headers, scopes, followRedirects: true, retry: true, what });
        if (have > 0 && res.status === 206) {
          const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
          if (!range || Number(range[1]) !== have) {
            await res.body?.cancel().catch(() => {});
            throw new RegistryError(`${what}: bad Content-Range "${res.headers.get('content-range')}" for a resume at byte ${have}`);
          }
        } else if (res.status === 200) {
          if (have > 0) {
            // Range ignored: the body starts at byte 0 again.
            have = 0;
            hash = createHash('sha256');
            fs.ftruncateSync(fd, 0);
            onProgress?.(0);
          }
        } else if (res.status === 416 && have === desc.size) {
          await res.body?.cancel().catch(() => {});
          break;
        } else {
          throw await errorFromResponse(res, what);
        }
        try {
          for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
            if (have + chunk.length > desc.size) {
              throw new RegistryError(`${what}: size mismatch: the registry sent more than the expected ${desc.size} bytes`);
            }
            fs.writeSync(fd, chunk, 0, chunk.length, have);
            hash.update(chunk);
            have += chunk.length;
            onProgress?.(have);
          }
        } catch (err) {
          if (err instanceof RegistryError || !isTransientNetworkError(err)) throw err;
          failures++;
          if (failures >= this.retryPolicy.attempts) throw new RegistryError(`${what}: connection failed ${failures} times: ${(err as Error).message}`);
          await sleep(retryDelay(this.retryPolicy, failures));
          continue; // resume from `have`
        }
        if (have === desc.size) break;
        // Short body without an error: resume.
        failures++;
        if (failures >= this.retryPolicy.attempts) {
          throw new RegistryError(`${what}: size mismatch: got ${have} bytes, expected ${desc.size}`);
        }
      }
      fs.fsyncSync(fd);
      const digest = 'sha256:' + hash.digest('hex');
      if (digest !== desc.digest) {
        fs.ftruncateSync(fd, 0); // never resume from bad bytes
        throw new RegistryError(`${what}: digest mismatch: the registry sent bytes with digest ${digest}`);
      }
    } finally {
      fs.closeSync(fd);
    }
    ingest.commitVerified(desc.digest);
  }

  // ---------- push ----------

  /** HEAD a blob: true when the registry has it. */
  async hasBlob(repository: string, digest: string, scopes: string[]): Promise<boolean> {
    const res = await this.request(this.blobUrl(repository, digest), { method: 'HEAD', scopes, retry: true, followRedirects: true, what: `blob ${digest}` });
    await res.body?.cancel().catch(() => {});
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw await errorFromResponse(res, `HEAD blob ${digest}`);
  }

  /** Absolute URL for a Location header (may be relative, keeps its query). */
  resolveLocation(res: Response, what: string): string {
    const location = res.headers.get('location');
    if (!location) throw new RegistryError(`${what}: registry sent no Location header`);
    return new URL(location, this.baseUrl + '/').toString();
  }

  /** Low-level request with auth, retries and hand-followed redirects. */
  async request(url: string, options: RequestOptions): Promise<Response> {
    const method = options.method ?? 'GET';
    let reauthed = false;
    let attempt = 0;
    for (;;) {
      attempt++;
      let res: Response;
      try {
        res = await this.send(url, method, options);
      } catch (err) {
        if (options.retry && isTransientNetworkError(err) && attempt < this.retryPolicy.attempts) {
          await sleep(retryDelay(this.retryPolicy, attempt));
          continue;
        }
        throw networkError(err, options.what, url);
      }
      if (res.status === 401) {
        const challenges = parseWwwAuthenticate(res.headers.get('www-authenticate') ?? '');
        const challenge = preferredChallenge(challenges);
        if (challenge && !reauthed) {
          await res.body?.cancel().catch(() => {});
          // First challenge: learn the scheme. With one known already, our token was rejected
          // (expired, error="invalid_token", too narrow): drop it and fetch a new one, once.
          if (this.challenge) this.forgetTokens(options.scopes, this.challenge);
          this.challenge = challenge;
          reauthed = true;
          continue;
        }
        const err = await errorFromResponse(res, options.what);
        throw new RegistryError(
          `${options.what}: unauthorized${this.credentials ? '' : ' (no credentials: run `hull login ' + this.registry + '`)'}: ${err.message.replace(`${options.what}: `, '')}`,
          401,
          err.code ?? 'UNAUTHORIZED',
        );
      }
      if (options.retry && shouldRetryStatus(res.status) && attempt < this.retryPolicy.attempts) {
        const delay = retryDelay(this.retryPolicy, attempt, res.headers.get('retry-after'));
        await res.body?.cancel().catch(() => {});
        await sleep(delay);
        continue;
      }
      return res;
    }
  }

  private async send(url: string, method: string, options: RequestOptions): Promise<Response> {
    let current = url;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const headers: Record<string, string> = { 'User-Agent': this.userAgent, ...(options.headers ?? {}) };
      // Credentials only for the registry's own origin; a CDN redirect target gets none.
      if (new URL(current).host === this.host) {
        const auth = await this.authorization(options.scopes);
        if (auth) headers.Authorization = auth;
      }
      this.options.onRequest?.(method, current, headers);
      const res = await fetch(current, { method, headers, body: options.body, redirect: 'manual' });
      if (options.followRedirects && res.status >= 300 && res.status < 400 && res.headers.get('location')) {
        const next = new URL(res.headers.get('location') as string, current);
        if (next.protocol !== 'https:' && next.protocol !== 'http:') throw new RegistryError(`${options.what}: redirect to unsupported URL scheme ${next.protocol}`);
        await res.body?.cancel().catch(() => {});
        current = next.toString();
        continue;
      }
      return res;
    }
    throw new RegistryError(`${options.what}: more than ${MAX_REDIRECTS} redirects`);
  }

  private tokenKey(challenge: Challenge, scopes: string[]): string {
    // Keyed by a hash of the credentials too: other credentials must not reuse this token.
    const who = this.credentials ? sha256Digest(`${this.credentials.username}:${this.credentials.password}`) : 'anonymous';
    return `${this.host}|${challenge.params.realm}|${challenge.params.service ?? ''}|${[...scopes].sort().join(' ')}|${who}`;
  }

  private forgetTokens(scopes: string[], challenge: Challenge): void {
    this.tokens.delete(this.tokenKey(challenge, scopes));
  }

  /** The Authorization header for a request (after the first challenge told us the scheme). */
  private async authorization(scopes: string[]): Promise<string | null> {
    const challenge = this.challenge;
    if (!challenge) return null;
    if (challenge.scheme === 'basic') return this.credentials ? basicHeader(this.credentials) : null;
    if (challenge.scheme !== 'bearer') return null;
    const key = this.tokenKey(challenge, scopes);
    const cached = this.tokens.get(key);
    if (cached) return `Bearer ${cached}`;
    const { token, expiresIn } = await this.fetchToken(challenge, scopes);
    this.tokens.set(key, token, expiresIn);
    return `Bearer ${token}`;
  }

  /** GET <realm>?service=&scope=… with Basic credentials when we have them, else anonymously. */
  private async fetchToken(challenge: Challenge, scopes: string[]): Promise<{ token: string; expiresIn: number }> {
    const realm = challenge.params.realm;
    if (!realm) throw new RegistryError(`${this.host}: Bearer challenge without a realm`);
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new RegistryError(`${this.host}: invalid token realm "${realm}"`);
    }
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && this.baseUrl.startsWith('http:'))) {
      throw new RegistryError(`${this.host}: token realm ${realm} is not https`);
    }
    if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
    for (const scope of scopes) url.searchParams.append('scope', scope);
    const headers: Record<string, string> = { 'User-Agent': this.userAgent };
    if (this.credentials) headers.Authorization = basicHeader(this.credentials);
    let attempt = 0;
    for (;;) {
      attempt++;
      let res: Response;
      try {
        res = await fetch(url, { headers, redirect: 'follow' });
      } catch (err) {
        if (isTransientNetworkError(err) && attempt < this.retryPolicy.attempts) {
          await sleep(retryDelay(this.retryPolicy, attempt));
          continue;
        }
        throw networkError(err, `token from ${url.origin}`, url.toString());
      }
      if (shouldRetryStatus(res.status) && attempt < this.retryPolicy.attempts) {
        await res.body?.cancel().catch(() => {});
        await sleep(retryDelay(this.retryPolicy, attempt, res.headers.get('retry-after')));
        continue;
      }
      if (res.status !== 200) {
        const err = await errorFromResponse(res, `token from ${url.origin}${url.pathname}`);
        throw new RegistryError(res.status === 401 ? `${this.registry}: authentication failed (wrong username or password?): ${err.message}` : err.message, res.status, err.code);
      }
      const text = (await readBodyCapped(res, 1024 * 1024, 'token response')).toString('utf8');
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        throw new RegistryError(`token from ${url.origin}${url.pathname}: response is not JSON`);
      }
      return parseTokenResponse(body, `${url.origin}${url.pathname}`);
    }
  }
}

function networkError(err: unknown, what: string, url: string): RegistryError {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  const cause = e.cause?.code ?? e.cause?.message ?? '';
  return new RegistryError(`${what}: cannot reach ${new URL(url).origin}: ${e.message ?? String(err)}${cause ? ` (${cause})` : ''}`);
}
