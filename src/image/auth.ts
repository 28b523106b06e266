// Registry authentication: WWW-Authenticate parsing, credentials (hull's auth.json written by
// `hull login`, then podman's and docker's files, docker credential helpers), bearer tokens with a
// cache per host + scope + credentials.
// Credentials are never printed or logged; errors name the registry, never the secret.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { normalizeRegistryHost, userConfigDir } from '../config';
import { writeFileAtomic } from './fsutil';

export interface Challenge {
  scheme: string; // lower case: "bearer", "basic"
  params: Record<string, string>; // keys lower case
}

/**
 * Parse a WWW-Authenticate header: several challenges, quoted values with commas and escapes,
 * e.g. `Bearer realm="https://a/token",service="reg",scope="repository:x:pull,push", Basic realm="r"`.
 */
export function parseWwwAuthenticate(header: string): Challenge[] {
  const challenges: Challenge[] = [];
  let i = 0;
  const n = header.length;
  const skipSpaces = () => {
    while (i < n && (header[i] === ' ' || header[i] === '\t')) i++;
  };
  const token = () => {
    const start = i;
    while (i < n && /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(header[i])) i++;
    return header.slice(start, i);
  };
  let current: Challenge | null = null;
  while (i < n) {
    skipSpaces();
    if (header[i] === ',') {
      i++;
      continue;
    }
    const start = i;
    const word = token();
    if (!word) {
      i++; // garbage: skip a character
      continue;
    }
    skipSpaces();
    if (header[i] === '=' && current) {
      // auth-param: name=value
      i++;
      skipSpaces();
      let value = '';
      if (header[i] === '"') {
        i++;
        while (i < n && header[i] !== '"') {
          if (header[i] === '\\' && i + 1 < n) i++;
          value += header[i++];
        }
        i++; // closing quote
      } else {
        const vs = i;
        while (i < n && header[i] !== ',' && header[i] !== ' ') i++;
        value = header.slice(vs, i);
      }
      current.params[word.toLowerCase()] = value;
      continue;
    }
    if (header[i] === '=' && !current) {
      i = start + word.length + 1; // a parameter before any scheme: ignore it
      continue;
    }
    // A new challenge scheme (token68 forms like "Negotiate abc==" are kept without params).
    current = { scheme: word.toLowerCase(), params: {} };
    challenges.push(current);
  }
  return challenges;
}

/** The challenge hull uses: Bearer over Basic; others are not supported. */
export function preferredChallenge(challenges: Challenge[]): Challenge | null {
  return challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic') ?? null;
}

export interface Credentials {
  username: string;
  password: string;
}

/** hull's own credential file (`hull login`), docker's format: {"auths": {"host": {"auth": base64(user:pass)}}}. */
export function hullAuthFile(): string {
  return process.env.HULL_AUTH_FILE || path.join(userConfigDir(), 'auth.json');
}

function dockerConfigFile(): string {
  const dir = process.env.DOCKER_CONFIG || path.join(os.homedir(), '.docker');
  return path.join(dir, 'config.json');
}

const HUB_KEYS = ['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com'];

/** "https://index.docker.io/v1/" -> "docker.io"; "https://host:5000/ns/" -> "host:5000/ns". */
export function normalizeAuthKey(key: string): string {
  let k = key.trim().toLowerCase().replace(/^https?:\/\//, '').replace(/\/+$/, '');
  k = k.replace(/\/v[12]$/, '');
  const slash = k.indexOf('/');
  const host = slash < 0 ? k : k.slice(0, slash);
  const rest = slash < 0 ? '' : k.slice(slash);
  return (HUB_KEYS.includes(host) ? 'docker.io' : host) + rest;
}

interface AuthFile {
  auths?: Record<string, { auth?: string; username?: string; password?: string }>;
  [other: string]: unknown;
}

function readAuthFile(file: string): AuthFile | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as AuthFile;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new Error(`${file}: cannot read credentials: ${(err as Error).message}`);
  }
}

function decodeEntry(entry: { auth?: string; username?: string; password?: string }): Credentials | null {
  if (entry.auth) {
    const text = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = text.indexOf(':');
    if (colon <= 0) return null;
    return { username: text.slice(0, colon), password: text.slice(colon + 1) };
  }
  if (entry.username && entry.password) return { username: entry.username, password: entry.password };
  return null;
}

/**
 * Credentials for `registry` (domain as in references) and optional repository path: hull's file
 * first, then docker's; within a file the most specific key ("host/ns" over "host") wins.
 */
export function findCredentials(registry: string, repository = ''): Credentials | null {
  const host = normalizeRegistryHost(registry);
  const target = repository ? `${host}/${repository}` : host;
  for (const file of credentialFiles()) {
    const data = readAuthFile(file);
    if (!data) continue;
    const helper = credentialHelperFor(data, host);
    if (helper) {
      const creds = fromCredentialHelper(helper, host);
      if (creds) return creds;
    }
    if (!data.auths) continue;
    let best: { len: number; creds: Credentials } | null = null;
    for (const [key, entry] of Object.entries(data.auths)) {
      const k = normalizeAuthKey(key);
      if (k !== target && !target.startsWith(k + '/') && k !== host) continue;
      const creds = decodeEntry(entry ?? {});
      if (creds && (!best || k.length > best.len)) best = { len: k.length, creds };
    }
    if (best) return best.creds;
  }
  return null;
}

/** Where credentials are looked for, in order: hull's, containers' (podman), docker's. */
function credentialFiles(): string[] {
  const files = [hullAuthFile()];
  if (process.env.REGISTRY_AUTH_FILE) files.push(process.env.REGISTRY_AUTH_FILE);
  if (process.env.XDG_RUNTIME_DIR) files.push(path.join(process.env.XDG_RUNTIME_DIR, 'containers', 'auth.json'));
  files.push(path.join(os.homedir(), '.config', 'containers', 'auth.json'), dockerConfigFile());
  return files;
}

/** docker's `credHelpers.<host>` or `credsStore`: the suffix of a docker-credential-* program. */
function credentialHelperFor(data: AuthFile, host: string): string | null {
  const helpers = (data.credHelpers ?? {}) as Record<string, string>;
  for (const [key, helper] of Object.entries(helpers)) {
    if (normalizeAuthKey(key) === host && typeof helper === 'string') return helper;
  }
  return typeof data.credsStore === 'string' && data.credsStore ? data.credsStore : null;
}

/** Ask `docker-credential-<helper> get` (server on stdin, {Username, Secret} on stdout). */
function fromCredentialHelper(helper: string, host: string): Credentials | null {
  if (!/^[A-Za-z0-9._-]+$/.test(helper)) return null;
  const server = host === 'docker.io' ? 'https://index.docker.io/v1/' : host;
  const r = spawnSync(`docker-credential-${helper}`, ['get'], { input: server, encoding: 'utf8', timeout: 30_000 });
  if (r.error || r.status !== 0) return null; // not installed, or no credentials for this server
  try {
    const out = JSON.parse(r.stdout) as { Username?: string; Secret?: string };
    if (out.Username && out.Secret) return { username: out.Username, password: out.Secret };
  } catch {
    /* unreadable answer: treat as none */
  }
  return null;
}

/** Store credentials for `registry` in hull's auth file (mode 0600). */
export function saveCredentials(registry: string, creds: Credentials): string {
  const file = hullAuthFile();
  const data = readAuthFile(file) ?? {};
  data.auths ??= {};
  data.auths[normalizeRegistryHost(registry)] = { auth: Buffer.from(`${creds.username}:${creds.password}`).toString('base64') };
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  writeFileAtomic(file, JSON.stringify(data, null, 2) + '\n', 0o600);
  return file;
}

/** Remove credentials for `registry` from hull's auth file; false when there were none. */
export function removeCredentials(registry: string): boolean {
  const file = hullAuthFile();
  const data = readAuthFile(file);
  if (!data?.auths) return false;
  const key = normalizeRegistryHost(registry);
  let removed = false;
  for (const k of Object.keys(data.auths)) {
    if (normalizeAuthKey(k) === key) {
      delete data.auths[k];
      removed = true;
    }
  }
  if (removed) writeFileAtomic(file, JSON.stringify(data, null, 2) + '\n', 0o600);
  return removed;
}

export function basicHeader(creds: Credentials): string {
  return 'Basic ' + Buffer.from(`${creds.username}:${creds.password}`).toString('base64');
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

/** Bearer tokens per registry host + scope, shared by all clients of a process. */
export class TokenCache {
  private readonly tokens = new Map<string, CachedToken>();

  get(key: string): string | null {
    const hit = this.tokens.get(key);
    if (!hit) return null;
    if (Date.now() >= hit.expiresAt) {
      this.tokens.delete(key);
      return null;
    }
    return hit.token;
  }

  set(key: string, token: string, expiresInSeconds: number): void {
    // Renew a little early so a token does not expire mid-request.
    const lifetime = Math.max(10, expiresInSeconds) * 1000;
    this.tokens.set(key, { token, expiresAt: Date.now() + lifetime - Math.min(10_000, lifetime / 10) });
  }

  delete(key: string): void {
    this.tokens.delete(key);
  }
}

export const sharedTokenCache = new TokenCache();

/** Parse a token endpoint's answer: {token | access_token, expires_in (default 60)}. */
export function parseTokenResponse(body: unknown, realm: string): { token: string; expiresIn: number } {
  const b = body as { token?: unknown; access_token?: unknown; expires_in?: unknown };
  const token = typeof b?.token === 'string' && b.token ? b.token : typeof b?.access_token === 'string' ? b.access_token : '';
  if (!token) throw new Error(`token endpoint ${realm}: response has no token`);
  const expiresIn = typeof b.expires_in === 'number' && b.expires_in > 0 ? b.expires_in : 60;
  return { token, expiresIn };
}
