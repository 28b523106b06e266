// Global configuration: where hull keeps its state and how it reaches registries.
//
// State root: `--root`, else $HULL_ROOT, else /var/lib/hull.
// Config file: $HULL_CONFIG, else /etc/hull/config.json (missing file = defaults). Key names follow
// Docker's daemon.json where Docker has one:
//
//   {
//     "registry-mirrors": ["https://mirror.gcr.io"],          // Docker Hub only, like Docker
//     "insecure-registries": ["registry.lan:5000", "10.0.0.0/8"],
//     "mirrors": {                                             // hull: any registry, with path prefixes
//       "docker.io": ["harbor.lan/dockerhub-proxy"],           // docker.io/library/nginx ->
//                                                              //   harbor.lan/dockerhub-proxy/library/nginx
//       "ghcr.io": [{ "location": "mirror.lan:5000/ghcr", "insecure": true }]
//     }
//   }
//
// Mirrors are tried in order for pulls only; the upstream registry is the last resort. Pushes always
// go to the upstream registry.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const DEFAULT_ROOT = '/var/lib/hull';
export const DEFAULT_CONFIG_FILE = '/etc/hull/config.json';

/** The state root: explicit option, then $HULL_ROOT, then /var/lib/hull. */
export function stateRoot(explicit?: string): string {
  return path.resolve(explicit || process.env.HULL_ROOT || DEFAULT_ROOT);
}

export interface MirrorEndpoint {
  /** Host (with optional port) of the mirror. */
  host: string;
  /** Repository path prefix on the mirror ('' for none), without slashes at either end. */
  pathPrefix: string;
  /** Plain HTTP instead of HTTPS. */
  insecure: boolean;
}

export interface HullConfig {
  /** Registries (host[:port]) or CIDR ranges reached over plain HTTP. */
  insecureRegistries: string[];
  /** Mirrors per upstream registry host (docker.io for Docker Hub). */
  mirrors: Record<string, MirrorEndpoint[]>;
  /** The file this came from, or null for defaults. */
  source: string | null;
}

/** Path of the config file in effect. */
export function configFile(): string {
  return process.env.HULL_CONFIG || DEFAULT_CONFIG_FILE;
}

/**
 * Directory for user credentials (auth.json written by `hull login`): $HULL_CONFIG_DIR, else
 * $XDG_CONFIG_HOME/hull, else ~/.config/hull.
 */
export function userConfigDir(): string {
  if (process.env.HULL_CONFIG_DIR) return process.env.HULL_CONFIG_DIR;
  const base = process.env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config');
  return path.join(base, 'hull');
}

/** Parse "https://host/prefix", "host:port/prefix" or "host" into a mirror endpoint. */
export function parseMirrorLocation(location: string, insecure = false): MirrorEndpoint {
  let rest = location.trim();
  const scheme = /^(https?):\/\//i.exec(rest);
  if (scheme) {
    insecure = insecure || scheme[1].toLowerCase() === 'http';
    rest = rest.slice(scheme[0].length);
  }
  rest = rest.replace(/\/+$/, '');
  const slash = rest.indexOf('/');
  const host = slash < 0 ? rest : rest.slice(0, slash);
  const pathPrefix = slash < 0 ? '' : rest.slice(slash + 1).replace(/^\/+/, '');
  if (!host || /[\s?#@]/.test(rest) || pathPrefix.split('/').some((c) => c === '..' || c === '.')) {
    throw new Error(`invalid mirror location "${location}"`);
  }
  if (pathPrefix === 'v2' || pathPrefix.startsWith('v2/')) {
    throw new Error(`invalid mirror location "${location}": give the repository prefix, not a /v2/ path`);
  }
  return { host: host.toLowerCase(), pathPrefix, insecure };
}

/** Build a config from parsed JSON (exported for tests). */
export function parseConfig(json: unknown, source: string | null = null): HullConfig {
  const where = source ?? 'config';
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new Error(`${where}: expected a JSON object`);
  }
  const obj = json as Record<string, unknown>;
  const stringList = (key: string): string[] => {
    const v = obj[key];
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) {
      throw new Error(`${where}: "${key}" must be a list of strings`);
    }
    return v as string[];
  };
  const config: HullConfig = { insecureRegistries: stringList('insecure-registries'), mirrors: {}, source };
  const hub = stringList('registry-mirrors').map((m) => parseMirrorLocation(m));
  if (hub.length) config.mirrors['docker.io'] = hub;
  const mirrors = obj.mirrors;
  if (mirrors !== undefined) {
    if (mirrors === null || typeof mirrors !== 'object' || Array.isArray(mirrors)) {
      throw new Error(`${where}: "mirrors" must be an object of registry -> list of mirrors`);
    }
    for (const [upstream, list] of Object.entries(mirrors as Record<string, unknown>)) {
      if (!Array.isArray(list)) throw new Error(`${where}: mirrors."${upstream}" must be a list`);
      const key = normalizeRegistryHost(upstream);
      const endpoints = list.map((entry) => {
        if (typeof entry === 'string') return parseMirrorLocation(entry);
        if (entry && typeof entry === 'object' && typeof (entry as { location?: unknown }).location === 'string') {
          const e = entry as { location: string; insecure?: boolean };
          return parseMirrorLocation(e.location, e.insecure === true);
        }
        throw new Error(`${where}: mirrors."${upstream}" entries must be strings or {"location": ...}`);
      });
      config.mirrors[key] = [...(config.mirrors[key] ?? []), ...endpoints];
    }
  }
  return config;
}

/** Docker Hub has several names; mirrors and credentials are keyed by "docker.io". */
export function normalizeRegistryHost(host: string): string {
  const h = host.toLowerCase().replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  if (h === 'index.docker.io' || h === 'registry-1.docker.io' || h === 'registry.hub.docker.com') return 'docker.io';
  return h;
}

let cached: { file: string; config: HullConfig } | undefined;

/** Load the config file in effect (cached per path). A missing file means defaults. */
export function loadConfig(file = configFile()): HullConfig {
  if (cached && cached.file === file) return cached.config;
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return { insecureRegistries: [], mirrors: {}, source: null };
    }
    throw err;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file}: invalid JSON: ${(err as Error).message}`);
  }
  const config = parseConfig(json, file);
  cached = { file, config };
  return config;
}

/** Loopback registries and configured insecure ones speak plain HTTP. */
export function isInsecureRegistry(host: string, config: HullConfig): boolean {
  const hostname = hostOnly(host);
  if (hostname === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(hostname) || hostname === '::1') return true;
  for (const entry of config.insecureRegistries) {
    const e = entry.toLowerCase().replace(/^https?:\/\//, '').replace(/\/+$/, '');
    if (e === host.toLowerCase() || e === hostname) return true;
    if (e.includes('/') && inCidr(hostname, e)) return true;
  }
  return false;
}

/** "host:port" -> "host"; "[::1]:5000" -> "::1". */
function hostOnly(host: string): string {
  const h = host.toLowerCase();
  const bracket = /^\[([^\]]+)\](?::\d+)?$/.exec(h);
  if (bracket) return bracket[1];
  return h.replace(/:\d+$/, '');
}

function inCidr(ip: string, cidr: string): boolean {
  const [base, bitsText] = cidr.split('/');
  const bits = Number(bitsText);
  const a = ipv4ToInt(ip);
  const b = ipv4ToInt(base);
  if (a === null || b === null || !Number.isInteger(bits) || bits < 0 || bits > 32) return false;
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return (a & mask) >>> 0 === (b & mask) >>> 0;
}

function ipv4ToInt(ip: string): number | null {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(ip);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return null;
  return ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0;
}
