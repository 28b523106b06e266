// The OCI runtime-spec config.json (https://github.com/opencontainers/runtime-spec, config.md and
// config-linux.md): types for the parts hull reads, the default `hull-oci spec` writes, and validation
// with errors that name the offending field.
import { capabilityNumber, isRlimitName } from './flags';

export const OCI_VERSION = '1.2.0';

export interface User {
  uid: number;
  gid: number;
  umask?: number;
  additionalGids?: number[];
  username?: string;
}

export interface Capabilities {
  bounding?: string[];
  effective?: string[];
  inheritable?: string[];
  permitted?: string[];
  ambient?: string[];
}

export interface Rlimit {
  type: string;
  hard: number;
  soft: number;
}

export interface ConsoleSize {
  height: number;
  width: number;
}

export interface Process {
  terminal?: boolean;
  consoleSize?: ConsoleSize;
  user: User;
  args?: string[];
  commandLine?: string;
  env?: string[];
  cwd: string;
  capabilities?: Capabilities;
  rlimits?: Rlimit[];
  noNewPrivileges?: boolean;
  apparmorProfile?: string;
  oomScoreAdj?: number;
  selinuxLabel?: string;
}

export interface Root {
  path: string;
  readonly?: boolean;
}

export interface Mount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
  uidMappings?: IdMapping[];
  gidMappings?: IdMapping[];
}

export interface Hook {
  path: string;
  args?: string[];
  env?: string[];
  timeout?: number;
}

export interface Hooks {
  prestart?: Hook[];
  createRuntime?: Hook[];
  createContainer?: Hook[];
  startContainer?: Hook[];
  poststart?: Hook[];
  poststop?: Hook[];
}

export type NamespaceType = 'pid' | 'network' | 'mount' | 'ipc' | 'uts' | 'user' | 'cgroup' | 'time';

export interface Namespace {
  type: NamespaceType;
  path?: string;
}

export interface IdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

export interface Device {
  type: 'c' | 'b' | 'u' | 'p';
  path: string;
  major?: number;
  minor?: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

export interface DeviceCgroupRule {
  allow: boolean;
  type?: 'a' | 'c' | 'b';
  major?: number;
  minor?: number;
  access?: string;
}

export interface MemoryResources {
  limit?: number;
  reservation?: number;
  swap?: number;
  kernel?: number;
  kernelTCP?: number;
  swappiness?: number;
  disableOOMKiller?: boolean;
  useHierarchy?: boolean;
  checkBeforeUpdate?: boolean;
}

export interface CpuResources {
  shares?: number;
  quota?: number;
  burst?: number;
  period?: number;
  realtimeRuntime?: number;
  realtimePeriod?: number;
  cpus?: string;
  mems?: string;
  idle?: number;
}

export interface Resources {
  devices?: DeviceCgroupRule[];
  memory?: MemoryResources;
  cpu?: CpuResources;
  pids?: { limit: number };
  blockIO?: { weight?: number; leafWeight?: number; [key: string]: unknown };
  hugepageLimits?: { pageSize: string; limit: number }[];
  network?: { classID?: number; priorities?: { name: string; priority: number }[] };
  rdma?: Record<string, unknown>;
  unified?: Record<string, string>;
}

/** Seccomp as written in config.json (SCMP_* names). */
export interface SeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: string;
}

export interface SeccompSyscall {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: SeccompArg[];
}

export interface Seccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  flags?: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: SeccompSyscall[];
}

export interface Linux {
  namespaces?: Namespace[];
  uidMappings?: IdMapping[];
  gidMappings?: IdMapping[];
  timeOffsets?: Record<string, { secs?: number; nanosecs?: number }>;
  devices?: Device[];
  cgroupsPath?: string;
  resources?: Resources;
  rootfsPropagation?: string;
  seccomp?: Seccomp;
  sysctl?: Record<string, string>;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  mountLabel?: string;
  personality?: { domain: string; flags?: string[] };
  intelRdt?: Record<string, unknown>;
}

export interface Spec {
  ociVersion: string;
  process?: Process;
  root?: Root;
  hostname?: string;
  domainname?: string;
  mounts?: Mount[];
  hooks?: Hooks;
  annotations?: Record<string, string>;
  linux?: Linux;
}

const DEFAULT_CAPS = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];

/** The same content `runc spec` writes: a read-only rootfs running `sh` on a terminal. */
export function defaultSpec(): Spec {
  return {
    ociVersion: OCI_VERSION,
    process: {
      terminal: true,
      user: { uid: 0, gid: 0 },
      args: ['sh'],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm'],
      cwd: '/',
      capabilities: {
        bounding: [...DEFAULT_CAPS],
        effective: [...DEFAULT_CAPS],
        permitted: [...DEFAULT_CAPS],
        ambient: [...DEFAULT_CAPS],
      },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: true },
    hostname: 'runc',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      {
        destination: '/dev',
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
      },
      {
        destination: '/dev/pts',
        type: 'devpts',
        source: 'devpts',
        options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
      },
      {
        destination: '/dev/shm',
        type: 'tmpfs',
        source: 'shm',
        options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
      },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      {
        destination: '/sys/fs/cgroup',
        type: 'cgroup',
        source: 'cgroup',
        options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'],
      },
    ],
    linux: {
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      maskedPaths: [
        '/proc/acpi',
        '/proc/asound',
        '/proc/kcore',
        '/proc/keys',
        '/proc/latency_stats',
        '/proc/timer_list',
        '/proc/timer_stats',
        '/proc/sched_debug',
        '/sys/firmware',
        '/proc/scsi',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}

/** A config.json problem; `field` is the JSON path ("process.args[0]"). */
export class SpecError extends Error {
  constructor(
    readonly field: string,
    problem: string,
  ) {
    super(`invalid config.json: ${field}: ${problem}`);
    this.name = 'SpecError';
  }
}

const NAMESPACE_TYPES: NamespaceType[] = ['pid', 'network', 'mount', 'ipc', 'uts', 'user', 'cgroup', 'time'];

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function expectType(value: unknown, field: string, type: 'string' | 'number' | 'boolean' | 'object' | 'array'): void {
  const ok =
    type === 'array' ? Array.isArray(value) : type === 'object' ? isObject(value) : typeof value === type;
  if (!ok) {
    const got = Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value;
    throw new SpecError(field, `expected ${type}, got ${got}`);
  }
}

function expectStringArray(value: unknown, field: string): void {
  expectType(value, field, 'array');
  (value as unknown[]).forEach((v, i) => expectType(v, `${field}[${i}]`, 'string'));
}

function expectInteger(value: unknown, field: string): void {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new SpecError(field, 'expected an integer');
}

function expectAbsolute(value: unknown, field: string): void {
  expectType(value, field, 'string');
  if (!(value as string).startsWith('/')) throw new SpecError(field, `must be an absolute path, got "${value}"`);
}

/** Options for validation that depend on the command (exec processes have no root or mounts). */
export interface ValidateOptions {
  /** `create`/`run` need process.args; `spec` output is validated without it. */
  requireProcess?: boolean;
}

/** Throws a SpecError naming the first bad field; returns the spec typed on success. */
export function validateSpec(input: unknown, opts: ValidateOptions = {}): Spec {
  if (!isObject(input)) throw new SpecError('(root)', 'config.json must be a JSON object');
  const spec = input as unknown as Spec;
  expectType(spec.ociVersion, 'ociVersion', 'string');
  if (!/^1\./.test(spec.ociVersion)) throw new SpecError('ociVersion', `unsupported version "${spec.ociVersion}"`);
  if (spec.root === undefined) throw new SpecError('root', 'is required');
  expectType(spec.root, 'root', 'object');
  expectType(spec.root.path, 'root.path', 'string');
  if (spec.root.path === '') throw new SpecError('root.path', 'must not be empty');
  if (spec.root.readonly !== undefined) expectType(spec.root.readonly, 'root.readonly', 'boolean');
  if (spec.process !== undefined || opts.requireProcess) validateProcess(spec.process, 'process');
  if (spec.hostname !== undefined) expectType(spec.hostname, 'hostname', 'string');
  if (spec.domainname !== undefined) expectType(spec.domainname, 'domainname', 'string');
  if (spec.mounts !== undefined) {
    expectType(spec.mounts, 'mounts', 'array');
    spec.mounts.forEach((m, i) => {
      const f = `mounts[${i}]`;
      expectType(m, f, 'object');
      expectType(m.destination, `${f}.destination`, 'string');
      if (m.destination === '') throw new SpecError(`${f}.destination`, 'must not be empty');
      if (m.type !== undefined) expectType(m.type, `${f}.type`, 'string');
      if (m.source !== undefined) expectType(m.source, `${f}.source`, 'string');
      if (m.options !== undefined) expectStringArray(m.options, `${f}.options`);
      validateMountIdmap(m, f);
    });
  }
  if (spec.hooks !== undefined) {
    expectType(spec.hooks, 'hooks', 'object');
    for (const [kind, list] of Object.entries(spec.hooks)) {
      expectType(list, `hooks.${kind}`, 'array');
      (list as Hook[]).forEach((h, i) => {
        const f = `hooks.${kind}[${i}]`;
        expectType(h, f, 'object');
        expectAbsolute(h.path, `${f}.path`);
        if (h.args !== undefined) expectStringArray(h.args, `${f}.args`);
        if (h.env !== undefined) expectStringArray(h.env, `${f}.env`);
        if (h.timeout !== undefined) {
          expectInteger(h.timeout, `${f}.timeout`);
          if (h.timeout <= 0) throw new SpecError(`${f}.timeout`, 'must be greater than zero');
        }
      });
    }
  }
  if (spec.annotations !== undefined) expectType(spec.annotations, 'annotations', 'object');
  if (spec.linux !== undefined) validateLinux(spec.linux);
  return spec;
}

/** Highest id the kernel maps (ids are u32; 2^32-1 is the invalid id). */
const MAX_ID = 0xffffffff;

function validateIdMappings(list: unknown, field: string): void {
  expectType(list, field, 'array');
  (list as IdMapping[]).forEach((m, i) => {
    const f = `${field}[${i}]`;
    expectType(m, f, 'object');
    expectInteger(m.containerID, `${f}.containerID`);
    expectInteger(m.hostID, `${f}.hostID`);
    expectInteger(m.size, `${f}.size`);
    if (m.containerID < 0 || m.hostID < 0) throw new SpecError(f, 'ids must not be negative');
    if (m.size <= 0) throw new SpecError(`${f}.size`, 'must be greater than zero');
    if (m.containerID + m.size > MAX_ID || m.hostID + m.size > MAX_ID) throw new SpecError(f, 'range goes past the largest id');
  });
}

/**
 * Idmapped mounts (runtime-spec 1.1 `mounts[].uidMappings`/`gidMappings`, 1.2 `idmap`/`ridmap`
 * options), as runc 1.2 checks them: only bind mounts, and both mappings or neither (idmap/ridmap
 * without mappings take the container's own, see the plan).
 */
function validateMountIdmap(m: Mount, f: string): void {
  if (m.uidMappings !== undefined) validateIdMappings(m.uidMappings, `${f}.uidMappings`);
  if (m.gidMappings !== undefined) validateIdMappings(m.gidMappings, `${f}.gidMappings`);
  const uid = (m.uidMappings?.length ?? 0) > 0;
  const gid = (m.gidMappings?.length ?? 0) > 0;
  const option = (m.options ?? []).find((o) => o === 'idmap' || o === 'ridmap');
  if (uid !== gid) {
    throw new SpecError(`${f}.${uid ? 'gidMappings' : 'uidMappings'}`, 'idmapped mounts need both uidMappings and gidMappings');
  }
  const bind = m.type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind');
  if ((uid || option) && !bind) {
    throw new SpecError(uid ? `${f}.uidMappings` : `${f}.options`, `idmapped mounts are only supported for bind mounts, not type "${m.type ?? ''}"`);
  }
}

/** Validates a process object/** Validates a process object (config.json `process`, or `exec --process` files). */
export function validateProcess(p: unknown, field = 'process'): Process {
  if (p === undefined) throw new SpecError(field, 'is required');
  expectType(p, field, 'object');
  const proc = p as Process;
  if (proc.args === undefined || proc.args.length === 0) throw new SpecError(`${field}.args`, 'must not be empty');
  expectStringArray(proc.args, `${field}.args`);
  expectType(proc.cwd, `${field}.cwd`, 'string');
  if (!proc.cwd.startsWith('/')) throw new SpecError(`${field}.cwd`, `must be an absolute path, got "${proc.cwd}"`);
  if (proc.user === undefined) throw new SpecError(`${field}.user`, 'is required');
  expectType(proc.user, `${field}.user`, 'object');
  expectInteger(proc.user.uid, `${field}.user.uid`);
  expectInteger(proc.user.gid, `${field}.user.gid`);
  if (proc.user.umask !== undefined) expectInteger(proc.user.umask, `${field}.user.umask`);
  proc.user.additionalGids?.forEach((g, i) => expectInteger(g, `${field}.user.additionalGids[${i}]`));
  if (proc.env !== undefined) {
    expectStringArray(proc.env, `${field}.env`);
    proc.env.forEach((e, i) => {
      if (!e.includes('=')) throw new SpecError(`${field}.env[${i}]`, `"${e}" is not KEY=VALUE`);
    });
  }
  if (proc.terminal !== undefined) expectType(proc.terminal, `${field}.terminal`, 'boolean');
  if (proc.capabilities !== undefined) {
    expectType(proc.capabilities, `${field}.capabilities`, 'object');
    for (const [set, list] of Object.entries(proc.capabilities)) {
      if (!['bounding', 'effective', 'inheritable', 'permitted', 'ambient'].includes(set)) {
        throw new SpecError(`${field}.capabilities.${set}`, 'unknown capability set');
      }
      expectStringArray(list, `${field}.capabilities.${set}`);
    }
  }
  proc.rlimits?.forEach((r, i) => {
    const f = `${field}.rlimits[${i}]`;
    expectType(r, f, 'object');
    expectType(r.type, `${f}.type`, 'string');
    if (!isRlimitName(r.type)) throw new SpecError(`${f}.type`, `unknown rlimit "${r.type}"`);
    expectInteger(r.soft, `${f}.soft`);
    expectInteger(r.hard, `${f}.hard`);
    if (r.soft > r.hard && r.hard >= 0) throw new SpecError(f, 'soft limit is greater than the hard limit');
  });
  if (proc.noNewPrivileges !== undefined) expectType(proc.noNewPrivileges, `${field}.noNewPrivileges`, 'boolean');
  if (proc.oomScoreAdj !== undefined) {
    expectInteger(proc.oomScoreAdj, `${field}.oomScoreAdj`);
    if (proc.oomScoreAdj < -1000 || proc.oomScoreAdj > 1000) {
      throw new SpecError(`${field}.oomScoreAdj`, 'must be between -1000 and 1000');
    }
  }
  return proc;
}

function validateLinux(linux: Linux): void {
  expectType(linux, 'linux', 'object');
  const seen = new Set<string>();
  linux.namespaces?.forEach((ns, i) => {
    const f = `linux.namespaces[${i}]`;
    expectType(ns, f, 'object');
    if (!NAMESPACE_TYPES.includes(ns.type)) throw new SpecError(`${f}.type`, `unknown namespace type "${ns.type}"`);
    if (seen.has(ns.type)) throw new SpecError(`${f}.type`, `duplicate namespace "${ns.type}"`);
    seen.add(ns.type);
    if (ns.path !== undefined) expectAbsolute(ns.path, `${f}.path`);
  });
  for (const key of ['uidMappings', 'gidMappings'] as const) {
    linux[key]?.forEach((m, i) => {
      const f = `linux.${key}[${i}]`;
      expectInteger(m.containerID, `${f}.containerID`);
      expectInteger(m.hostID, `${f}.hostID`);
      expectInteger(m.size, `${f}.size`);
    });
  }
  if ((linux.uidMappings?.length || linux.gidMappings?.length) && !seen.has('user')) {
    throw new SpecError('linux.uidMappings', 'id mappings need a user namespace in linux.namespaces');
  }
  linux.devices?.forEach((d, i) => {
    const f = `linux.devices[${i}]`;
    expectAbsolute(d.path, `${f}.path`);
    if (!['c', 'b', 'u', 'p'].includes(d.type)) throw new SpecError(`${f}.type`, `unknown device type "${d.type}"`);
    if (d.type !== 'p') {
      expectInteger(d.major, `${f}.major`);
      expectInteger(d.minor, `${f}.minor`);
    }
  });
  if (linux.cgroupsPath !== undefined) expectType(linux.cgroupsPath, 'linux.cgroupsPath', 'string');
  if (linux.rootfsPropagation !== undefined) {
    const ok = ['private', 'rprivate', 'slave', 'rslave', 'shared', 'rshared', 'unbindable', 'runbindable'];
    if (!ok.includes(linux.rootfsPropagation)) {
      throw new SpecError('linux.rootfsPropagation', `unknown propagation "${linux.rootfsPropagation}"`);
    }
  }
  if (linux.sysctl !== undefined) {
    expectType(linux.sysctl, 'linux.sysctl', 'object');
    for (const [k, v] of Object.entries(linux.sysctl)) {
      expectType(v, `linux.sysctl.${k}`, 'string');
      if (k.includes('..') || k.includes('/')) throw new SpecError(`linux.sysctl.${k}`, 'invalid sysctl name');
    }
  }
  if (linux.maskedPaths !== undefined) expectStringArray(linux.maskedPaths, 'linux.maskedPaths');
  if (linux.readonlyPaths !== undefined) expectStringArray(linux.readonlyPaths, 'linux.readonlyPaths');
  if (linux.seccomp !== undefined) {
    const s = linux.seccomp;
    expectType(s, 'linux.seccomp', 'object');
    expectType(s.defaultAction, 'linux.seccomp.defaultAction', 'string');
    if (s.listenerPath !== undefined) expectType(s.listenerPath, 'linux.seccomp.listenerPath', 'string');
    if (s.listenerMetadata !== undefined) {
      expectType(s.listenerMetadata, 'linux.seccomp.listenerMetadata', 'string');
      // runtime-spec: "This field MUST NOT be set if listenerPath is not set."
      if (s.listenerMetadata && !s.listenerPath) throw new SpecError('linux.seccomp.listenerMetadata', 'needs listenerPath');
    }
    s.syscalls?.forEach((sc, i) => {
      const f = `linux.seccomp.syscalls[${i}]`;
      expectStringArray(sc.names, `${f}.names`);
      expectType(sc.action, `${f}.action`, 'string');
    });
  }
  if (linux.resources !== undefined) expectType(linux.resources, 'linux.resources', 'object');
}

/** Names in a capability list that the kernel tables don't know (runc warns about these). */
export function unknownCapabilities(caps: Capabilities | undefined): string[] {
  const out: string[] = [];
  for (const list of Object.values(caps ?? {})) {
    for (const name of list as string[]) if (capabilityNumber(name) === undefined) out.push(name);
  }
  return out;
}
