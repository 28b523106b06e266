// Parsing of docker's container flags into typed values: env and env files, -v / --mount / --tmpfs
// specs, labels, signals. Pure (except reading env files), so every rule is unit-testable; every
// problem throws a usage error (exit 125) before anything is created.
import * as fs from 'node:fs';
import * as os from 'node:os';
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

// ------------------------------------------------------------------ resource limits and hardening

/** The raw `run`/`create` limit flags, as commander hands them over (strings; lists for repeatables). */
export interface LimitFlags {
  memory?: string;
  memorySwap?: string;
  memoryReservation?: string;
  cpus?: string;
  cpuShares?: string;
  cpusetCpus?: string;
  pidsLimit?: string;
  ulimit?: string[];
  oomScoreAdj?: string;
  sysctl?: string[];
  device?: string[];
}

/** A host device to give the container: `--device /dev/x[:/dev/y[:rwm]]`. */
export interface DeviceRequest {
  hostPath: string;
  containerPath: string;
  permissions: string;
}

/** Parsed and validated limits: what the spec gets (`applyLimits`) and what inspect shows. */
export interface ContainerLimits {
  memory?: number;
  /** Memory plus swap in bytes, -1 unlimited (docker's --memory-swap). */
  memorySwap?: number;
  memoryReservation?: number;
  /** --cpus × 1e9, docker's HostConfig.NanoCpus. */
  nanoCpus?: number;
  cpuShares?: number;
  cpusetCpus?: string;
  /** -1 = unlimited. */
  pidsLimit?: number;
  ulimits: { name: string; soft: number; hard: number }[];
  oomScoreAdj?: number;
  sysctls: Record<string, string>;
  devices: DeviceRequest[];
}

/** docker's `--ulimit` names → RLIMIT_*. */
export const ULIMIT_NAMES: Record<string, string> = {
  core: 'RLIMIT_CORE', cpu: 'RLIMIT_CPU', data: 'RLIMIT_DATA', fsize: 'RLIMIT_FSIZE', locks: 'RLIMIT_LOCKS',
  memlock: 'RLIMIT_MEMLOCK', msgqueue: 'RLIMIT_MSGQUEUE', nice: 'RLIMIT_NICE', nofile: 'RLIMIT_NOFILE',
  nproc: 'RLIMIT_NPROC', rss: 'RLIMIT_RSS', rtprio: 'RLIMIT_RTPRIO', rttime: 'RLIMIT_RTTIME',
  sigpending: 'RLIMIT_SIGPENDING', stack: 'RLIMIT_STACK', as: 'RLIMIT_AS',
};

const MIN_MEMORY = 6 * 1024 * 1024;

/** `-1` or a size (docker: memory-swap -1 = unlimited swap). */
function sizeOrUnlimited(text: string, flag: string): number {
  return text === '-1' ? -1 : parseSize(text, flag);
}

function intFlag(text: string, flag: string, min: number, max: number): number {
  if (!/^-?\d+$/.test(text.trim())) throw usageError(`invalid ${flag}: "${text}" is not an integer`);
  const n = Number(text.trim());
  if (n < min || n > max) throw usageError(`invalid ${flag}: ${n} is out of range [${min}, ${max}]`);
  return n;
}

/** "0-3", "0,2", "1" → the same text, checked against the host's CPU count when given. */
export function parseCpuset(text: string, hostCpus?: number): string {
  const spec = text.trim();
  if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(spec)) throw usageError(`invalid --cpuset-cpus: "${text}": use a list like 0-3 or 0,1`);
  for (const part of spec.split(',')) {
    const [a, b] = part.split('-').map(Number);
    if (b !== undefined && b < a) throw usageError(`invalid --cpuset-cpus: "${text}": range ${part} is reversed`);
    const top = b ?? a;
    if (hostCpus !== undefined && top >= hostCpus) {
      throw usageError(`invalid --cpuset-cpus: "${text}": requested CPU ${top} is not available (the host has CPUs 0-${hostCpus - 1})`);
    }
  }
  return spec;
}

/** `--ulimit nofile=1024[:2048]`; "unlimited"/-1 for no limit. soft ≤ hard. */
export function parseUlimit(text: string): { name: string; soft: number; hard: number } {
  const eq = text.indexOf('=');
  if (eq <= 0) throw usageError(`invalid --ulimit "${text}": use name=soft[:hard]`);
  const name = text.slice(0, eq).trim();
  if (!ULIMIT_NAMES[name]) throw usageError(`invalid --ulimit "${text}": unknown limit "${name}" (one of ${Object.keys(ULIMIT_NAMES).join(', ')})`);
  const parts = text.slice(eq + 1).split(':');
  if (parts.length > 2) throw usageError(`invalid --ulimit "${text}": use name=soft[:hard]`);
  const value = (v: string) => {
    if (v === 'unlimited' || v === '-1') return -1;
    if (!/^\d+$/.test(v)) throw usageError(`invalid --ulimit "${text}": "${v}" is not a number`);
    return Number(v);
  };
  const soft = value(parts[0]);
  const hard = parts.length === 2 ? value(parts[1]) : soft;
  const big = (n: number) => (n < 0 ? Infinity : n);
  if (big(soft) > big(hard)) throw usageError(`invalid --ulimit "${text}": soft limit ${parts[0]} is above the hard limit ${parts[1]}`);
  return { name, soft, hard };
}

/** Sysctls that belong to the container's ipc or network namespace (docker's safe list, by prefix). */
export function validateSysctl(text: string, network: 'none' | 'host' = 'none'): [string, string] {
  const eq = text.indexOf('=');
  if (eq <= 0) throw usageError(`invalid --sysctl "${text}": use name=value`);
  const key = text.slice(0, eq).trim().replace(/\//g, '.');
  const value = text.slice(eq + 1);
  if (!/^[a-z0-9_.-]+$/i.test(key)) throw usageError(`invalid --sysctl "${text}": bad name`);
  const ipc = /^kernel\.(shm[a-z_]*|msg[a-z_]*|sem)$/.test(key) || key.startsWith('fs.mqueue.');
  const net = key.startsWith('net.');
  if (!ipc && !net) throw usageError(`sysctl "${key}" is not allowed: only namespaced sysctls (net.*, kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*) can be set in a container`);
  if (net && network === 'host') throw usageError(`sysctl "${key}" is not allowed in host network mode: it would change the host`);
  return [key, value];
}

/** `--device /dev/x[:/dev/y][:rwm]`. */
export function parseDevice(text: string): DeviceRequest {
  const parts = text.split(':');
  if (parts.length > 3 || parts.some((p) => p === '')) throw usageError(`invalid --device "${text}"`);
  const hostPath = parts[0];
  let target = hostPath;
  let permissions = 'rwm';
  if (parts.length === 2) {
    if (/^[rwm]+$/.test(parts[1])) permissions = parts[1];
    else target = parts[1];
  } else if (parts.length === 3) {
    target = parts[1];
    permissions = parts[2];
  }
  if (!/^(?!.*(.).*\1)[rwm]{1,3}$/.test(permissions)) throw usageError(`invalid --device "${text}": bad permissions "${permissions}" (any of r, w, m)`);
  if (!hostPath.startsWith('/')) throw usageError(`invalid --device "${text}": the host path must be absolute`);
  const cpath = containerPath(target, '--device container path');
  if (!cpath.startsWith('/dev/')) throw usageError(`invalid --device "${text}": the container path must be under /dev`);
  return { hostPath: path.resolve(hostPath), containerPath: cpath, permissions };
}

/**
 * Every limit flag parsed and cross-checked; throws a usage error (exit 125) for the first problem.
 * `hostCpus` bounds --cpus and --cpuset-cpus (default: this machine's).
 */
export function parseLimitFlags(f: LimitFlags, opts: { hostCpus?: number; network?: 'none' | 'host'; update?: boolean } = {}): ContainerLimits {
  const hostCpus = opts.hostCpus ?? osCpuCount();
  const limits: ContainerLimits = { ulimits: [], sysctls: {}, devices: [] };
  if (f.memory !== undefined) {
    limits.memory = parseSize(f.memory, '--memory');
    if (limits.memory < MIN_MEMORY) throw usageError('Minimum memory limit allowed is 6MB');
  }
  if (f.memoryReservation !== undefined) {
    limits.memoryReservation = parseSize(f.memoryReservation, '--memory-reservation');
    if (limits.memoryReservation < MIN_MEMORY) throw usageError('Minimum memory reservation allowed is 6MB');
    if (limits.memory !== undefined && limits.memoryReservation > limits.memory) {
      throw usageError('Minimum memory limit can not be less than memory reservation limit, see usage');
    }
  }
  if (f.memorySwap !== undefined) {
    // `update` may change the swap limit alone: the running container's memory limit stays.
    if (limits.memory === undefined && !opts.update) throw usageError('You should always set the Memory limit when using Memoryswap limit, see usage');
    limits.memorySwap = sizeOrUnlimited(f.memorySwap, '--memory-swap');
    if (limits.memory !== undefined && limits.memorySwap !== -1 && limits.memorySwap < limits.memory) {
      throw usageError('Minimum memoryswap limit should be larger than memory limit, see usage');
    }
  }
  if (f.cpus !== undefined) {
    const text = f.cpus.trim();
    if (!/^\d*\.?\d+$/.test(text)) throw usageError(`invalid --cpus: "${f.cpus}" is not a number`);
    const cpus = Number(text);
    if (cpus <= 0 || Math.round(cpus * 100_000) < 1000) throw usageError(`invalid --cpus: ${f.cpus}: the minimum is 0.01`);
    if (cpus > hostCpus) throw usageError(`invalid --cpus: range of CPUs is from 0.01 to ${hostCpus}.00, as there are only ${hostCpus} CPUs available`);
    limits.nanoCpus = Math.round(cpus * 1e9);
  }
  if (f.cpuShares !== undefined) {
    limits.cpuShares = intFlag(f.cpuShares, '--cpu-shares', 2, 262144);
  }
  if (f.cpusetCpus !== undefined) limits.cpusetCpus = parseCpuset(f.cpusetCpus, hostCpus);
  if (f.pidsLimit !== undefined) {
    const n = intFlag(f.pidsLimit, '--pids-limit', -1, 2 ** 31);
    // docker: 0 and -1 both mean unlimited.
    limits.pidsLimit = n <= 0 ? -1 : n;
  }
  const seen = new Set<string>();
  for (const u of f.ulimit ?? []) {
    const parsed = parseUlimit(u);
    if (seen.has(parsed.name)) throw usageError(`invalid --ulimit "${u}": ${parsed.name} given twice`);
    seen.add(parsed.name);
    limits.ulimits.push(parsed);
  }
  if (f.oomScoreAdj !== undefined) limits.oomScoreAdj = intFlag(f.oomScoreAdj, '--oom-score-adj', -1000, 1000);
  for (const s of f.sysctl ?? []) {
    const [key, value] = validateSysctl(s, opts.network);
    limits.sysctls[key] = value;
  }
  const targets = new Set<string>();
  for (const d of f.device ?? []) {
    const req = parseDevice(d);
    if (targets.has(req.containerPath)) throw usageError(`invalid --device "${d}": ${req.containerPath} given twice`);
    targets.add(req.containerPath);
    limits.devices.push(req);
  }
  return limits;
}

function osCpuCount(): number {
  return os.availableParallelism?.() ?? os.cpus().length;
}

/** Our own hard rlimits by docker name (from /proc/self/limits), -1 = unlimited. */
export function hostHardLimits(text = fs.readFileSync('/proc/self/limits', 'utf8')): Record<string, number> {
  const rows: Record<string, string> = {
    'Max cpu time': 'cpu', 'Max file size': 'fsize', 'Max data size': 'data', 'Max stack size': 'stack',
    'Max core file size': 'core', 'Max resident set': 'rss', 'Max processes': 'nproc', 'Max open files': 'nofile',
    'Max locked memory': 'memlock', 'Max address space': 'as', 'Max file locks': 'locks', 'Max pending signals': 'sigpending',
    'Max msgqueue size': 'msgqueue', 'Max nice priority': 'nice', 'Max realtime priority': 'rtprio', 'Max realtime timeout': 'rttime',
  };
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    for (const [label, name] of Object.entries(rows)) {
      if (!line.startsWith(label)) continue;
      const fields = line.slice(label.length).trim().split(/\s+/);
      out[name] = fields[1] === 'unlimited' ? -1 : Number(fields[1]);
    }
  }
  return out;
}

/** Whether this process holds CAP_SYS_RESOURCE (which lets a hard rlimit go up). */
export function haveSysResource(status = fs.readFileSync('/proc/self/status', 'utf8')): boolean {
  const hex = /^CapEff:\s*([0-9a-f]+)/m.exec(status)?.[1];
  return hex ? ((BigInt(`0x${hex}`) >> 24n) & 1n) === 1n : false;
}

/**
 * Without CAP_SYS_RESOURCE a container's hard limit cannot exceed ours: say so now (exit 125) rather
 * than failing in the helper after the container was made.
 */
export function checkUlimitsAgainstHost(ulimits: ContainerLimits['ulimits'], hard = hostHardLimits(), canRaise = haveSysResource()): void {
  if (canRaise) return;
  for (const u of ulimits) {
    const ours = hard[u.name];
    if (ours === undefined || ours < 0) continue;
    if (u.hard < 0 || u.hard > ours) {
      throw usageError(`invalid --ulimit ${u.name}: hard limit ${u.hard < 0 ? 'unlimited' : u.hard} is above hull's own (${ours}) and hull lacks CAP_SYS_RESOURCE to raise it`);
    }
  }
}
