// Parsing of docker's container flags into typed values: env and env files, -v / --mount / --tmpfs
// specs, labels, signals. Pure (except reading env files), so every rule is unit-testable; every
// problem throws a usage error (exit 125) before anything is created.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseSignal, signalName } from '../runtime/flags';
import { usageError } from './errors';
import { parseByteSize } from '../util/size';

/** `-v`, `--mount` and `--tmpfs` in one form. */
export type MountRequest =
  | { type: 'bind'; source: string; target: string; readonly: boolean; propagation?: string }
  | { type: 'volume'; source?: string; target: string; readonly: boolean; nocopy: boolean }
  | { type: 'tmpfs'; target: string; options: string[] };

const PROPAGATIONS = ['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave'];
const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** A clean absolute container path; refuses relative paths, `..` components and `/` itself. */
export function containerPath(dest: string, what = 'mount target'): string {
  if (!dest || !dest.startsWith('/')) throw usageError(`invalid ${what} "${dest}": must be an absolute path`);
  if (dest.split('/').includes('..')) throw usageError(`invalid ${what} "${dest}": ".." is not allowed`);
  const clean = path.posix.normalize(dest).replace(/\/+$/, '') || '/';
  if (clean === '/') throw usageError(`invalid ${what} "${dest}": cannot mount over /`);
  return clean;
}

export function validateVolumeName(name: string): string {
  if (!VOLUME_NAME.test(name)) {
    throw usageError(`invalid volume name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed, at least 2 characters`);
  }
  return name;
}

/** `-v [SOURCE:]TARGET[:OPTIONS]`: SOURCE absolute = bind, else a named volume; none = anonymous. */
export function parseVolumeFlag(spec: string): MountRequest {
  const parts = spec.split(':');
  if (parts.length > 3 || parts.some((p) => p === '')) throw usageError(`invalid volume specification: "${spec}"`);
  let source: string | undefined;
  let target: string;
  let opts: string[] = [];
  if (parts.length === 1) {
    target = parts[0];
  } else if (parts.length === 2) {
    // "/data:ro" is not a thing: with two parts the second is always the target.
    [source, target] = parts;
  } else {
    [source, target] = parts;
    opts = parts[2].split(',');
  }
  let readonly = false;
  let nocopy = false;
  let propagation: string | undefined;
  for (const o of opts) {
    if (o === 'ro') readonly = true;
    else if (o === 'rw') readonly = false;
    else if (o === 'nocopy') nocopy = true;
    else if (PROPAGATIONS.includes(o)) propagation = o;
    else if (o === 'z' || o === 'Z' || o === 'delegated' || o === 'cached' || o === 'consistent') continue;
    else throw usageError(`invalid volume specification: "${spec}": unknown option "${o}"`);
  }
  target = containerPath(target);
  if (source === undefined) return { type: 'volume', target, readonly, nocopy };
  if (source.startsWith('/')) {
    if (nocopy) throw usageError(`invalid volume specification: "${spec}": nocopy applies to volumes only`);
    return { type: 'bind', source: path.resolve(source), target, readonly, propagation };
  }
  if (source.startsWith('.')) throw usageError(`invalid volume specification: "${spec}": bind sources must be absolute paths`);
  if (propagation) throw usageError(`invalid volume specification: "${spec}": propagation applies to binds only`);
  return { type: 'volume', source: validateVolumeName(source), target, readonly, nocopy };
}

/** `--mount type=bind|volume|tmpfs,source=…,target=…[,readonly][,bind-propagation=…][,tmpfs-size=…]`. */
export function parseMountFlag(spec: string): MountRequest {
  const fields = new Map<string, string>();
  for (const item of spec.split(',')) {
    if (!item) continue;
    const eq = item.indexOf('=');
    const key = (eq < 0 ? item : item.slice(0, eq)).trim().toLowerCase();
    const value = eq < 0 ? 'true' : item.slice(eq + 1);
    fields.set(key, value);
  }
  const bool = (v: string | undefined) => v !== undefined && v !== 'false' && v !== '0';
  const type = fields.get('type') ?? 'volume';
  const target = fields.get('target') ?? fields.get('destination') ?? fields.get('dst');
  if (!target) throw usageError(`invalid --mount "${spec}": target is required`);
  const source = fields.get('source') ?? fields.get('src');
  const readonly = bool(fields.get('readonly') ?? fields.get('ro'));
  const known = new Set(['type', 'target', 'destination', 'dst', 'source', 'src', 'readonly', 'ro', 'bind-propagation',
    'volume-nocopy', 'tmpfs-size', 'tmpfs-mode', 'consistency']);
  for (const key of fields.keys()) if (!known.has(key)) throw usageError(`invalid --mount "${spec}": unknown field "${key}"`);
  switch (type) {
    case 'bind': {
      if (!source) throw usageError(`invalid --mount "${spec}": a bind needs a source`);
      if (!source.startsWith('/')) throw usageError(`invalid --mount "${spec}": bind source must be an absolute path`);
      const propagation = fields.get('bind-propagation');
      if (propagation && !PROPAGATIONS.includes(propagation)) throw usageError(`invalid --mount "${spec}": bad bind-propagation "${propagation}"`);
      return { type: 'bind', source: path.resolve(source), target: containerPath(target), readonly, propagation };
    }
    case 'volume':
      return {
        type: 'volume',
        source: source ? validateVolumeName(source) : undefined,
        target: containerPath(target),
        readonly,
        nocopy: bool(fields.get('volume-nocopy')),
      };
    case 'tmpfs': {
      if (source) throw usageError(`invalid --mount "${spec}": tmpfs takes no source`);
      const options: string[] = [];
      const size = fields.get('tmpfs-size');
      if (size) options.push(`size=${parseSize(size, `--mount ${spec}`)}`);
      const mode = fields.get('tmpfs-mode');
      if (mode) {
        if (!/^[0-7]{1,4}$/.test(mode)) throw usageError(`invalid --mount "${spec}": bad tmpfs-mode "${mode}"`);
        options.push(`mode=${mode}`);
      }
      return { type: 'tmpfs', target: containerPath(target), options };
    }
    default:
      throw usageError(`invalid --mount "${spec}": unknown type "${type}"`);
  }
}

const TMPFS_OPTIONS = new Set(['ro', 'rw', 'nosuid', 'suid', 'nodev', 'dev', 'noexec', 'exec', 'sync', 'async', 'dirsync',
  'noatime', 'atime', 'nodiratime', 'diratime', 'relatime', 'norelatime', 'strictatime', 'nostrictatime']);

/** `--tmpfs /path[:size=64m,mode=1777,…]`. */
export function parseTmpfsFlag(spec: string): MountRequest {
  const colon = spec.indexOf(':');
  const target = containerPath(colon < 0 ? spec : spec.slice(0, colon), '--tmpfs target');
  const options: string[] = [];
  for (const o of colon < 0 ? [] : spec.slice(colon + 1).split(',')) {
    if (!o) continue;
    const [key, value] = o.split('=', 2);
    if (key === 'size') options.push(`size=${parseSize(value ?? '', `--tmpfs ${spec}`)}`);
    else if (key === 'mode' && /^[0-7]{1,4}$/.test(value ?? '')) options.push(`mode=${value}`);
    else if ((key === 'uid' || key === 'gid' || key === 'nr_inodes') && /^\d+$/.test(value ?? '')) options.push(o);
    else if (value === undefined && TMPFS_OPTIONS.has(key)) options.push(key);
    else throw usageError(`invalid --tmpfs "${spec}": unknown option "${o}"`);
  }
  return { type: 'tmpfs', target, options };
}

/** "64m", "1g", "100k", "512" (bytes) → bytes. */
export function parseSize(text: string, what = 'size'): number {
  const bytes = parseByteSize(text);
  if (bytes === undefined) throw usageError(`invalid ${what}: "${text}" is not a size`);
  return bytes;
}

/** `-e KEY=VALUE` or `-e KEY` (taken from our environment; dropped when unset, as docker does). */
export function parseEnvFlags(list: string[], env: NodeJS.ProcessEnv = process.env): string[] {
  const out: string[] = [];
  for (const item of list) {
    const eq = item.indexOf('=');
    const key = eq < 0 ? item : item.slice(0, eq);
    if (!key || /\s/.test(key)) throw usageError(`invalid environment variable "${item}"`);
    if (eq >= 0) out.push(item);
    else if (env[key] !== undefined) out.push(`${key}=${env[key]}`);
  }
  return out;
}

/** docker's env-file format: KEY=VALUE lines, `#` comments, blank lines, bare KEY from our env. */
export function parseEnvFile(file: string, env: NodeJS.ProcessEnv = process.env): string[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw usageError(`open ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`);
  }
  if (text.includes('\0')) throw usageError(`invalid env file ${file}: contains NUL bytes`);
  const out: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/^\s+/, '');
    if (!line || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    const key = eq < 0 ? line.trimEnd() : line.slice(0, eq);
    if (!key || /\s/.test(key)) throw usageError(`invalid env file ${file}: line ${i + 1}: variable "${key}" contains whitespaces`);
    if (eq >= 0) out.push(`${key}=${line.slice(eq + 1)}`);
    else if (env[key] !== undefined) out.push(`${key}=${env[key]}`);
  });
  return out;
}

/** `--label k=v` / `--label k` → map. */
export function parseLabels(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list) {
    const eq = item.indexOf('=');
    const key = eq < 0 ? item : item.slice(0, eq);
    if (!key) throw usageError(`invalid label "${item}"`);
    out[key] = eq < 0 ? '' : item.slice(eq + 1);
  }
  return out;
}

/** A signal name or number as docker accepts it ("SIGTERM", "TERM", "15"); returns "SIGTERM". */
export function normalizeSignal(text: string): string {
  try {
    return signalName(parseSignal(text));
  } catch {
    throw usageError(`invalid signal: ${text}`);
  }
}

/** Docker's container names: [a-zA-Z0-9][a-zA-Z0-9_.-]+, an optional leading "/". */
export function validateContainerName(name: string): string {
  const bare = name.replace(/^\//, '');
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(bare)) {
    throw usageError(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  }
  return bare;
}
