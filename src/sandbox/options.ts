// Sandbox options: the public types and their validation. Everything here runs BEFORE anything is
// created (no cgroup, mount or process), so a bad option costs nothing and leaves nothing behind.
// Errors name the option: `TypeError: memory: expected bytes (a number) or a size like "64m", got true`.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { PreparedImage } from './image';
import { parseByteSize } from '../util/size';

/** One extra bind mount from the host into the sandbox. */
export interface SandboxMount {
  /** Host path (file or directory); must exist. */
  source: string;
  /** Absolute path inside the sandbox. */
  target: string;
  /** Default true: the sandbox can read but not change it. */
  readonly?: boolean;
}

/** Called for each kernel step the helper takes (and each cgroup file hull writes): `step` is the
 * plan index (-1 for steps done by hull in TypeScript), `op` the plan op, `text` the syscall. */
export type SandboxTrace = (step: number, op: string, text: string) => void;

/** What a single command gets: shared by runSandbox and Sandbox#exec. */
export interface ProcessOptions {
  /** Environment: an object or `KEY=VALUE` strings. Added to the image's (or a default PATH). */
  env?: Record<string, string> | string[];
  /** Working directory inside the sandbox (absolute). Default: the image's WorkingDir or "/". */
  cwd?: string;
  /** Bytes written to the command's stdin, which is then closed. Default: /dev/null. */
  stdin?: string | Buffer;
  /** Wall-clock limit in ms: the whole process tree is killed when it passes. */
  timeoutMs?: number;
  /** stdout + stderr bytes kept before the tree is killed (reason "output-limit"). Default 16 MiB. */
  outputLimitBytes?: number;
  /** Streamed output, as it arrives (the result still holds all of it up to the limit). */
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
}

/** Options of a sandbox: where its root comes from, its limits and isolation. */
export interface SandboxOptions {
  /** A reference in the hull image store ("busybox:latest", an ID), or an image from prepareImage(). */
  image?: string | PreparedImage;
  /** The image store root for `image` (default $HULL_ROOT or /var/lib/hull). */
  storeRoot?: string;
  /** A root filesystem directory (instead of an image). Never written to. */
  rootfs?: string;
  /** Memory limit: bytes, or a size such as "64m", "1.5g", "512k" (powers of 1024). No swap. */
  memory?: number | string;
  /** Maximum number of processes/threads alive at once. Default 1024. */
  pids?: number;
  /** CPU time as a number of CPUs (0.5 = half of one CPU), at most the machine's count. */
  cpus?: number;
  /** "none" (default): own network namespace with only loopback. "host": the host's network. */
  network?: 'none' | 'host';
  /** Default true: the root is read-only; /tmp is always a writable tmpfs. */
  readonlyRoot?: boolean;
  /** Size of the /tmp tmpfs (and of the writable layer when readonlyRoot is false). Default "64m". */
  tmpSize?: number | string;
  /** Extra bind mounts. */
  mounts?: SandboxMount[];
  /** Hostname inside the sandbox. Default "sandbox". */
  hostname?: string;
  /** uid/gid the commands run as. Default 0/0 (root of the sandbox: few capabilities, seccomp on). */
  user?: { uid: number; gid: number };
  /** Step-by-step kernel trace (see SandboxTrace). */
  trace?: SandboxTrace;
}

/** runSandbox(): a sandbox and its one command. */
export interface RunSandboxOptions extends SandboxOptions, ProcessOptions {
  /** The command. Default: the image's Entrypoint + Cmd. */
  argv?: string[];
}

/** Why a command ended. */
export type SandboxReason = 'exit' | 'signal' | 'timeout' | 'oom' | 'output-limit' | 'error';

export interface SandboxResult {
  /** The exit status; 128+N when killed by signal N (137 for SIGKILL); 127 command not found,
   * 126 not executable, 125 the sandbox could not be set up. */
  exitCode: number;
  /** "SIGKILL"… when a signal ended the command, else null. */
  signal: NodeJS.Signals | null;
  reason: SandboxReason;
  stdout: string;
  stderr: string;
  /** From starting the sandbox to the end of the command. */
  wallMs: number;
  /** CPU time of every process of the command (user + system), from the cgroup. */
  cpuMs: number;
  /** Highest memory use of the command's cgroup (0 when the host does not report it). */
  peakMemoryBytes: number;
  /** Set when reason is "error" (setup failure, command not found). */
  error?: Error;
}

/** An option that is not acceptable: `option` names it. */
export class SandboxOptionError extends Error {
  constructor(
    readonly option: string,
    message: string,
    readonly code: 'ENOENT' | 'ENOTDIR' | 'ENOIMAGE' | 'EINVAL' = 'EINVAL',
  ) {
    super(`${option}: ${message}`);
    this.name = 'SandboxOptionError';
  }
}

// ------------------------------------------------------------------ normalised options

export interface Limits {
  memoryBytes?: number;
  pids?: number;
  /** CFS quota per 100 ms period, in µs. */
  cpuQuotaUs?: number;
}

/** Options after validation: every default applied, sizes in bytes. */
export interface ResolvedSandboxOptions {
  image?: string | PreparedImage;
  storeRoot?: string;
  rootfs?: string;
  limits: Limits;
  network: 'none' | 'host';
  readonlyRoot: boolean;
  tmpSizeBytes: number;
  mounts: Required<SandboxMount>[];
  hostname: string;
  user: { uid: number; gid: number };
  trace?: SandboxTrace;
}

export interface ResolvedProcessOptions {
  argv?: string[];
  env: string[];
  cwd?: string;
  stdin?: Buffer;
  timeoutMs?: number;
  outputLimitBytes: number;
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
}

export const DEFAULT_PIDS = 1024;
export const DEFAULT_OUTPUT_LIMIT = 16 * 1024 * 1024;
export const DEFAULT_TMP_SIZE = 64 * 1024 * 1024;
/** Below this the helper's own setup does not fit (crun's floor is 512 KiB). */
export const MIN_MEMORY = 1024 * 1024;
/** The kernel's PID_MAX_LIMIT. */
const MAX_PIDS = 4 * 1024 * 1024;
/** setTimeout's ceiling (~24.8 days). */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;
const MAX_OUTPUT_LIMIT = 1024 * 1024 * 1024;
const CFS_PERIOD_US = 100_000;

const SANDBOX_KEYS = ['image', 'storeRoot', 'rootfs', 'memory', 'pids', 'cpus', 'network', 'readonlyRoot', 'tmpSize', 'mounts', 'hostname', 'user', 'trace'];
const PROCESS_KEYS = ['env', 'cwd', 'stdin', 'timeoutMs', 'outputLimitBytes', 'onStdout', 'onStderr'];
/** Names people reach for, and the option they meant. */
const ALIASES: Record<string, string> = {
  timeout: 'timeoutMs', command: 'argv', args: 'argv', cmd: 'argv', memoryLimit: 'memory', pidsLimit: 'pids',
  readOnly: 'readonlyRoot', readonly: 'readonlyRoot', binds: 'mounts', volumes: 'mounts', input: 'stdin',
  maxOutput: 'outputLimitBytes', outputLimit: 'outputLimitBytes', workdir: 'cwd', cpu: 'cpus',
};

const describe = (v: unknown) =>
  v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'string' ? JSON.stringify(v) : typeof v === 'object' ? 'an object' : String(v);

function checkKeys(options: object, allowed: string[], what: string): void {
  for (const key of Object.keys(options)) {
    if (allowed.includes(key)) continue;
    const hint = ALIASES[key] && allowed.includes(ALIASES[key]) ? ` (did you mean ${ALIASES[key]}?)` : '';
    throw new TypeError(`${key}: unknown ${what} option${hint}`);
  }
}

/** 64 * 1024 * 1024, "64m", "64MiB", "1.5g", "512k" → bytes. */
export function parseSize(option: string, value: unknown): number {
  let bytes: number;
  if (typeof value === 'number') {
    bytes = value;
  } else if (typeof value === 'string') {
    const parsed = parseByteSize(value);
    if (parsed === undefined) throw new TypeError(`${option}: cannot read ${JSON.stringify(value)} as a size (use bytes or a size like "64m", "1g")`);
    bytes = parsed;
  } else {
    throw new TypeError(`${option}: expected bytes (a number) or a size like "64m", got ${describe(value)}`);
  }
  if (!Number.isFinite(bytes) || !Number.isInteger(bytes)) throw new RangeError(`${option}: must be a whole number of bytes, got ${value}`);
  if (bytes <= 0) throw new RangeError(`${option}: must be positive, got ${value}`);
  return bytes;
}

function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) (n /= 1024), i++;
  return `${Number(n.toFixed(1))} ${units[i]}`;
}

function integer(option: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || Number.isNaN(value)) throw new TypeError(`${option}: expected a number, got ${describe(value)}`);
  if (!Number.isInteger(value)) throw new RangeError(`${option}: must be a whole number, got ${value}`);
  if (value < min || value > max) throw new RangeError(`${option}: must be between ${min} and ${max}, got ${value}`);
  return value;
}

function absolutePath(option: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') throw new TypeError(`${option}: expected an absolute path, got ${describe(value)}`);
  if (value.includes('\0')) throw new TypeError(`${option}: contains a NUL byte`);
  if (!path.posix.isAbsolute(value)) throw new TypeError(`${option}: must be an absolute path, got ${JSON.stringify(value)}`);
  return value;
}

function containerPath(option: string, value: unknown): string {
  const p = absolutePath(option, value);
  if (p.split('/').includes('..')) throw new TypeError(`${option}: must not contain "..", got ${JSON.stringify(p)}`);
  return path.posix.normalize(p).replace(/(.)\/+$/, '$1');
}

let totalMemory: number | undefined;
/** The machine's RAM, read once (os.totalmem() reads /proc/meminfo on every call). */
function machineMemory(): number {
  return (totalMemory ??= os.totalmem());
}

async function statOrNull(p: string): Promise<fs.Stats | null> {
  try {
    return await fs.promises.stat(p);
  } catch {
    return null;
  }
}

/** Validates and normalises the sandbox part of the options. Touches the filesystem only to stat. */
export async function resolveSandboxOptions(input: SandboxOptions, extraKeys: string[] = []): Promise<ResolvedSandboxOptions> {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new TypeError(`options: expected an object, got ${describe(input)}`);
  }
  checkKeys(input, [...SANDBOX_KEYS, ...extraKeys], 'sandbox');
  const o = input;
  const hasImage = o.image !== undefined;
  const hasRootfs = o.rootfs !== undefined;
  if (hasImage === hasRootfs) {
    throw new TypeError(hasImage ? 'image, rootfs: give one of them, not both' : 'image, rootfs: one of them is required (an image reference or a root filesystem directory)');
  }
  let rootfs: string | undefined;
  if (hasRootfs) {
    rootfs = path.resolve(absolutePathOrRelative('rootfs', o.rootfs));
    const st = await statOrNull(rootfs);
    if (!st) throw new SandboxOptionError('rootfs', `${rootfs} does not exist`, 'ENOENT');
    if (!st.isDirectory()) throw new SandboxOptionError('rootfs', `${rootfs} is not a directory`, 'ENOTDIR');
  }
  if (hasImage) {
    const img = o.image as unknown;
    const isPrepared = typeof img === 'object' && img !== null && typeof (img as PreparedImage).rootfs === 'string';
    if (!isPrepared && (typeof img !== 'string' || img.trim() === '')) {
      throw new TypeError(`image: expected an image reference such as "busybox:latest" or a prepared image, got ${describe(img)}`);
    }
    if (isPrepared && (img as PreparedImage).closed) throw new TypeError('image: this prepared image was closed');
  }
  if (o.storeRoot !== undefined) absolutePathOrRelative('storeRoot', o.storeRoot);

  const limits: Limits = {};
  if (o.memory !== undefined) {
    const bytes = parseSize('memory', o.memory);
    if (bytes < MIN_MEMORY) throw new RangeError(`memory: at least ${formatBytes(MIN_MEMORY)} is needed to start a process, got ${formatBytes(bytes)}`);
    if (bytes > machineMemory()) throw new RangeError(`memory: ${formatBytes(bytes)} is more than this machine has (${formatBytes(machineMemory())})`);
    limits.memoryBytes = bytes;
  }
  limits.pids = o.pids === undefined ? DEFAULT_PIDS : integer('pids', o.pids, 1, MAX_PIDS);
  if (o.cpus !== undefined) {
    if (typeof o.cpus !== 'number' || Number.isNaN(o.cpus)) throw new TypeError(`cpus: expected a number of CPUs such as 0.5 or 2, got ${describe(o.cpus)}`);
    const available = os.availableParallelism?.() ?? os.cpus().length;
    if (!(o.cpus >= 0.01 && o.cpus <= available)) {
      throw new RangeError(`cpus: must be between 0.01 and ${available} (the CPUs this machine has), got ${o.cpus}`);
    }
    limits.cpuQuotaUs = Math.round(o.cpus * CFS_PERIOD_US);
  }
  const network = o.network ?? 'none';
  if (network !== 'none' && network !== 'host') throw new TypeError(`network: expected "none" or "host", got ${describe(o.network)}`);
  if (o.readonlyRoot !== undefined && typeof o.readonlyRoot !== 'boolean') throw new TypeError(`readonlyRoot: expected true or false, got ${describe(o.readonlyRoot)}`);
  const tmpSizeBytes = o.tmpSize === undefined ? DEFAULT_TMP_SIZE : parseSize('tmpSize', o.tmpSize);
  if (tmpSizeBytes > machineMemory()) throw new RangeError(`tmpSize: ${formatBytes(tmpSizeBytes)} is more than this machine has (${formatBytes(machineMemory())})`);

  const mounts: Required<SandboxMount>[] = [];
  if (o.mounts !== undefined) {
    if (!Array.isArray(o.mounts)) throw new TypeError(`mounts: expected an array of {source, target, readonly}, got ${describe(o.mounts)}`);
    for (const [i, m] of o.mounts.entries()) {
      const name = `mounts[${i}]`;
      if (m === null || typeof m !== 'object') throw new TypeError(`${name}: expected {source, target, readonly}, got ${describe(m)}`);
      checkKeys(m, ['source', 'target', 'readonly'], `${name}`);
      const source = path.resolve(absolutePathOrRelative(`${name}.source`, m.source));
      const target = containerPath(`${name}.target`, m.target);
      if (target === '/') throw new TypeError(`${name}.target: cannot mount over the root`);
      if (m.readonly !== undefined && typeof m.readonly !== 'boolean') throw new TypeError(`${name}.readonly: expected true or false, got ${describe(m.readonly)}`);
      if (!(await statOrNull(source))) throw new SandboxOptionError(`${name}.source`, `${source} does not exist`, 'ENOENT');
      mounts.push({ source, target, readonly: m.readonly ?? true });
    }
  }
  const hostname = o.hostname ?? 'sandbox';
  if (typeof hostname !== 'string' || !/^[A-Za-z0-9]([A-Za-z0-9.-]{0,62})$/.test(hostname)) {
    throw new TypeError(`hostname: expected a host name (letters, digits, "-", "."; up to 63), got ${describe(o.hostname)}`);
  }
  let user = { uid: 0, gid: 0 };
  if (o.user !== undefined) {
    if (o.user === null || typeof o.user !== 'object') throw new TypeError(`user: expected {uid, gid}, got ${describe(o.user)}`);
    user = { uid: integer('user.uid', o.user.uid, 0, 2 ** 32 - 2), gid: integer('user.gid', o.user.gid, 0, 2 ** 32 - 2) };
  }
  if (o.trace !== undefined && typeof o.trace !== 'function') throw new TypeError(`trace: expected a function, got ${describe(o.trace)}`);
  return {
    image: o.image,
    storeRoot: o.storeRoot,
    rootfs,
    limits,
    network,
    readonlyRoot: o.readonlyRoot ?? true,
    tmpSizeBytes,
    mounts,
    hostname,
    user,
    trace: o.trace,
  };
}

function absolutePathOrRelative(option: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') throw new TypeError(`${option}: expected a path, got ${describe(value)}`);
  if (value.includes('\0')) throw new TypeError(`${option}: contains a NUL byte`);
  return value;
}

/** Validates and normalises the per-command options (argv checked here only if given). */
export function resolveProcessOptions(input: ProcessOptions & { argv?: string[] }, allowedKeys?: string[]): ResolvedProcessOptions {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new TypeError(`options: expected an object, got ${describe(input)}`);
  }
  if (allowedKeys) checkKeys(input, allowedKeys, 'exec');
  const o = input;
  let argv: string[] | undefined;
  if (o.argv !== undefined) argv = checkArgv(o.argv);
  const env: string[] = [];
  if (o.env !== undefined) {
    const entries: [string, unknown][] = Array.isArray(o.env)
      ? o.env.map((e, i) => {
          if (typeof e !== 'string' || !e.includes('=')) throw new TypeError(`env[${i}]: expected "KEY=VALUE", got ${describe(e)}`);
          const eq = e.indexOf('=');
          return [e.slice(0, eq), e.slice(eq + 1)];
        })
      : o.env !== null && typeof o.env === 'object'
        ? Object.entries(o.env)
        : (() => {
            throw new TypeError(`env: expected an object or an array of "KEY=VALUE", got ${describe(o.env)}`);
          })();
    for (const [key, value] of entries) {
      if (!/^[^=\0]+$/.test(key)) throw new TypeError(`env: invalid variable name ${JSON.stringify(key)}`);
      if (typeof value !== 'string') throw new TypeError(`env.${key}: expected a string, got ${describe(value)}`);
      if (value.includes('\0')) throw new TypeError(`env.${key}: contains a NUL byte`);
      env.push(`${key}=${value}`);
    }
  }
  const cwd = o.cwd === undefined ? undefined : containerPath('cwd', o.cwd);
  let stdin: Buffer | undefined;
  if (o.stdin !== undefined) {
    if (typeof o.stdin === 'string') stdin = Buffer.from(o.stdin);
    else if (Buffer.isBuffer(o.stdin) || (o.stdin as unknown) instanceof Uint8Array) stdin = Buffer.from(o.stdin as Uint8Array);
    else throw new TypeError(`stdin: expected a string or a Buffer, got ${describe(o.stdin)}`);
  }
  let timeoutMs: number | undefined;
  if (o.timeoutMs !== undefined) {
    if (typeof o.timeoutMs !== 'number' || Number.isNaN(o.timeoutMs)) throw new TypeError(`timeoutMs: expected milliseconds (a number), got ${describe(o.timeoutMs)}`);
    if (!(o.timeoutMs > 0) || o.timeoutMs > MAX_TIMEOUT_MS) throw new RangeError(`timeoutMs: must be more than 0 and at most ${MAX_TIMEOUT_MS} ms, got ${o.timeoutMs}`);
    timeoutMs = o.timeoutMs;
  }
  const outputLimitBytes =
    o.outputLimitBytes === undefined ? DEFAULT_OUTPUT_LIMIT : integer('outputLimitBytes', o.outputLimitBytes, 0, MAX_OUTPUT_LIMIT);
  for (const key of ['onStdout', 'onStderr'] as const) {
    if (o[key] !== undefined && typeof o[key] !== 'function') throw new TypeError(`${key}: expected a function, got ${describe(o[key])}`);
  }
  return { argv, env, cwd, stdin, timeoutMs, outputLimitBytes, onStdout: o.onStdout, onStderr: o.onStderr };
}

export function checkArgv(argv: unknown, option = 'argv'): string[] {
  if (!Array.isArray(argv) || argv.length === 0) throw new TypeError(`${option}: expected a non-empty array of strings, got ${describe(argv)}`);
  for (const [i, a] of argv.entries()) {
    if (typeof a !== 'string') throw new TypeError(`${option}[${i}]: expected a string, got ${describe(a)}`);
    if (a.includes('\0')) throw new TypeError(`${option}[${i}]: contains a NUL byte`);
  }
  if (argv[0] === '') throw new TypeError(`${option}[0]: the command must not be empty`);
  return [...argv];
}

/** Keys runSandbox accepts beyond the sandbox ones; Sandbox#exec accepts EXEC_KEYS. */
export const RUN_KEYS = [...PROCESS_KEYS, 'argv'];
export const EXEC_KEYS = [...PROCESS_KEYS];
