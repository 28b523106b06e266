// The OCI spec of a hull container: Docker's defaults (REFERENCE §8) plus what the image and the
// flags asked for. Pure: takes resolved values (ids, host paths), returns the spec the runtime runs.
import { lstatSync, readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { CAPABILITIES } from '../runtime/flags';
import { defaultSeccompProfile } from '../runtime/seccomp-default';
import type { Device, DeviceCgroupRule, Mount, Namespace, Resources, Seccomp, Spec } from '../runtime/spec';
import { ULIMIT_NAMES, type ContainerLimits, type DeviceRequest } from './options';
import { OCI_VERSION } from '../runtime/spec';
import { compileSeccomp } from '../runtime/plan';
import { usageError } from './errors';

/** moby daemon/pkg/oci/caps/defaults.go: the 14 capabilities every container gets. */
export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

export const DEFAULT_MASKED_PATHS = [
  '/proc/asound', '/proc/acpi', '/proc/interrupts', '/proc/kcore', '/proc/keys', '/proc/latency_stats',
  '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

export const DEFAULT_READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/**
 * The device cgroup rules dockerd (28.x) writes into config.json: deny everything, allow the nodes
 * it creates, deny fuse. The rest of what a docker container may use (mknod of anything, /dev/full,
 * ptys, tun) is the runtime's own allow-list, appended after these (runc's, and hull's runtime
 * does the same: src/runtime/default-devices.ts), so it is not repeated here.
 */
export const DEFAULT_DEVICE_RULES: DeviceCgroupRule[] = [
  { allow: false, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' },
  { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' },
  { allow: true, type: 'c', major: 5, minor: 1, access: 'rwm' },
  { allow: false, type: 'c', major: 10, minor: 229, access: 'rwm' },
];

export interface ContainerSpecInput {
  /** Host path of the container's mounted root filesystem. */
  rootfs: string;
  args: string[];
  env: string[];
  cwd: string;
  user: { uid: number; gid: number; additionalGids: number[] };
  tty: boolean;
  hostname: string;
  readonlyRootfs: boolean;
  network: 'none' | 'host';
  privileged: boolean;
  capAdd: string[];
  capDrop: string[];
  noNewPrivileges: boolean;
  /** 'default' = Docker's profile for the final capability set. */
  seccomp: 'default' | 'unconfined' | Seccomp;
  /** Mounts after the defaults (/etc files, volumes, binds, tmpfs), already resolved to host sources. */
  mounts: Mount[];
  cgroupsPath: string;
  /** Capabilities in our own bounding set (what "ALL" and --privileged can grant). */
  availableCapabilities?: readonly string[];
}

/** `--cap-add`/`--cap-drop` names ("NET_ADMIN", "cap_net_admin", "ALL") → canonical "CAP_…" names. */
export function capabilityName(name: string): string {
  const upper = name.toUpperCase();
  if (upper === 'ALL') return 'ALL';
  const full = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  if (!(CAPABILITIES as readonly string[]).includes(full)) throw usageError(`unknown capability: "${name}"`);
  return full;
}

/** Docker's rule: start from the defaults (or all with ALL/privileged), add, then drop. */
export function effectiveCapabilities(privileged: boolean, capAdd: string[], capDrop: string[], available: readonly string[] = CAPABILITIES): string[] {
  const add = capAdd.map(capabilityName);
  const drop = capDrop.map(capabilityName);
  // "All" means all that we hold: a capability outside our own bounding set cannot be granted.
  if (privileged) return [...available];
  let caps = new Set(add.includes('ALL') ? available : DEFAULT_CAPABILITIES);
  if (drop.includes('ALL')) caps = new Set();
  for (const c of add) if (c !== 'ALL') caps.add(c);
  for (const c of drop) if (c !== 'ALL') caps.delete(c);
  return [...caps];
}

function defaultMounts(privileged: boolean): Mount[] {
  const sysOptions = ['nosuid', 'noexec', 'nodev', privileged ? 'rw' : 'ro'];
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: sysOptions },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', privileged ? 'rw' : 'ro'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=67108864'] },
  ];
}

/** The capabilities in this process's bounding set (from /proc/self/status CapBnd). */
export function boundingCapabilities(status = readFileSync('/proc/self/status', 'utf8')): string[] {
  const hex = /^CapBnd:\s*([0-9a-f]+)/m.exec(status)?.[1];
  if (!hex) return [...CAPABILITIES];
  const mask = BigInt(`0x${hex}`);
  return CAPABILITIES.filter((_, bit) => (mask >> BigInt(bit)) & 1n);
}

/** Parents before children: a volume at /a/b must come after one at /a. */
function byDepth(a: Mount, b: Mount): number {
  return a.destination.split('/').length - b.destination.split('/').length;
}

export function buildContainerSpec(input: ContainerSpecInput): Spec {
  const caps = effectiveCapabilities(input.privileged, input.capAdd, input.capDrop, input.availableCapabilities);
  const namespaces: Namespace[] = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  if (input.network !== 'host') namespaces.push({ type: 'network' });
  const userMounts = [...input.mounts].sort(byDepth);
  // A user mount replaces a default one at the same place (e.g. `--tmpfs /dev/shm`).
  const taken = new Set(userMounts.map((m) => m.destination));
  const mounts = [...defaultMounts(input.privileged).filter((m) => !taken.has(m.destination)), ...userMounts];
  const seccomp = input.privileged || input.seccomp === 'unconfined'
    ? undefined
    : input.seccomp === 'default'
      ? (defaultSeccompProfile(caps) as Seccomp)
      : input.seccomp;
  return {
    ociVersion: OCI_VERSION,
    process: {
      terminal: input.tty,
      user: { uid: input.user.uid, gid: input.user.gid, additionalGids: input.user.additionalGids },
      args: input.args,
      env: input.env,
      cwd: input.cwd,
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      noNewPrivileges: input.noNewPrivileges,
    },
    root: { path: input.rootfs, readonly: input.readonlyRootfs },
    hostname: input.hostname,
    mounts,
    linux: {
      namespaces,
      cgroupsPath: input.cgroupsPath,
      resources: { devices: input.privileged ? [{ allow: true, access: 'rwm' }] : DEFAULT_DEVICE_RULES.map((r) => ({ ...r })) },
      ...(seccomp ? { seccomp } : {}),
      ...(input.privileged ? {} : { maskedPaths: [...DEFAULT_MASKED_PATHS], readonlyPaths: [...DEFAULT_READONLY_PATHS] }),
    },
  };
}

/**
 * The process arguments from the image and the flags, docker's rules: `--entrypoint` replaces the
 * image's entrypoint and then drops its Cmd; a command replaces Cmd.
 */
export function resolveArgs(image: { Entrypoint?: string[] | null; Cmd?: string[] | null }, entrypoint: string | undefined, command: string[]): string[] {
  let ep = image.Entrypoint ?? [];
  let cmd = image.Cmd ?? [];
  if (entrypoint !== undefined) {
    ep = entrypoint === '' ? [] : [entrypoint];
    cmd = [];
  }
  if (command.length) cmd = command;
  const args = [...ep, ...cmd];
  if (!args.length) throw usageError('no command specified');
  return args;
}

/** Merge env lists: later KEY=… entries replace earlier ones, keeping the first position. */
export function mergeEnv(...lists: string[][]): string[] {
  const out = new Map<string, string>();
  for (const list of lists) {
    for (const e of list) {
      const eq = e.indexOf('=');
      const key = eq < 0 ? e : e.slice(0, eq);
      out.set(key, e);
    }
  }
  return [...out.values()];
}

export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** CFS period hull uses for --cpus (docker's). */
export const CPU_PERIOD = 100_000;

type StatFn = (p: string) => { isCharacterDevice(): boolean; isBlockDevice(): boolean; isDirectory(): boolean; rdev: number; mode: number; uid: number; gid: number };

/** A device node's stat → its linux.devices entry at `containerPath`, or undefined if not a device. */
function deviceEntry(st: ReturnType<StatFn>, containerPath: string): Device | undefined {
  const type = st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : undefined;
  if (!type) return undefined;
  const rdev = BigInt(st.rdev);
  // glibc's gnu_dev_major/minor: the numbers are split across the low and high bits of dev_t.
  const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
  return { type, path: containerPath, major, minor, fileMode: st.mode & 0o777, uid: st.uid, gid: st.gid };
}

/**
 * `--device` → linux.devices entries. A device node gives one (symlinks to it are followed, as
 * docker does); a directory gives every device node below it, recursively, at the same relative
 * path under the container path (docker's `--device /dev/snd`), skipping symlinks and other files.
 * Reads the host; `stat`/`lstat`/`readdir` are for tests.
 */
export function resolveDevice(
  req: DeviceRequest,
  io: { stat: StatFn; lstat: StatFn; readdir: (dir: string) => string[] } = { stat: statSync, lstat: lstatSync, readdir: (d) => readdirSync(d) },
): Device[] {
  const fail = (why: string) => usageError(`error gathering device information while adding custom device "${req.hostPath}": ${why}`);
  let st;
  try {
    st = io.stat(req.hostPath);
  } catch (err) {
    throw fail((err as NodeJS.ErrnoException).code ?? (err as Error).message);
  }
  const single = deviceEntry(st, req.containerPath);
  if (single) return [single];
  if (!st.isDirectory()) throw fail('not a device node');
  const found: Device[] = [];
  const walk = (hostDir: string, containerDir: string) => {
    let names: string[];
    try {
      names = io.readdir(hostDir).sort();
    } catch (err) {
      throw fail(`${hostDir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    for (const name of names) {
      const hostPath = path.join(hostDir, name);
      let entry;
      try {
        entry = io.lstat(hostPath);
      } catch {
        continue; // gone while walking
      }
      if (entry.isDirectory()) walk(hostPath, path.posix.join(containerDir, name));
      else {
        const dev = deviceEntry(entry, path.posix.join(containerDir, name));
        if (dev) found.push(dev);
      }
    }
  };
  walk(req.hostPath, req.containerPath);
  if (!found.length) throw fail('not a device node, and a directory without device nodes');
  return found;
}

/** The spec's resources for the limits (what `update` also writes). */
export function limitResources(limits: ContainerLimits): Resources {
  const r: Resources = {};
  if (limits.memory !== undefined || limits.memorySwap !== undefined || limits.memoryReservation !== undefined) {
    r.memory = {
      ...(limits.memory !== undefined ? { limit: limits.memory } : {}),
      ...(limits.memorySwap !== undefined ? { swap: limits.memorySwap } : {}),
      ...(limits.memoryReservation !== undefined ? { reservation: limits.memoryReservation } : {}),
    };
  }
  if (limits.nanoCpus !== undefined || limits.cpuShares !== undefined || limits.cpusetCpus !== undefined) {
    r.cpu = {
      ...(limits.nanoCpus !== undefined ? { period: CPU_PERIOD, quota: Math.round((limits.nanoCpus / 1e9) * CPU_PERIOD) } : {}),
      ...(limits.cpuShares !== undefined ? { shares: limits.cpuShares } : {}),
      ...(limits.cpusetCpus !== undefined ? { cpus: limits.cpusetCpus } : {}),
    };
  }
  if (limits.pidsLimit !== undefined) r.pids = { limit: limits.pidsLimit };
  return r;
}

/**
 * Put the limits into a spec from buildContainerSpec: cgroup resources, rlimits, oom score, sysctls,
 * and each --device as a node in /dev plus a device cgroup rule with exactly its permissions (the
 * runtime adds none for linux.devices). `devices[i]` are the nodes `resolveDevice` found for
 * `limits.devices[i]`.
 */
export function applyLimits(spec: Spec, limits: ContainerLimits, devices: Device[][] = []): Spec {
  const linux = (spec.linux ??= {});
  const resources = (linux.resources ??= {});
  Object.assign(resources, limitResources(limits));
  const proc = spec.process!;
  if (limits.ulimits.length) {
    // -1 is RLIM_INFINITY to the helper.
    proc.rlimits = limits.ulimits.map((u) => ({ type: ULIMIT_NAMES[u.name], soft: u.soft, hard: u.hard }));
  }
  if (limits.oomScoreAdj !== undefined) proc.oomScoreAdj = limits.oomScoreAdj;
  if (Object.keys(limits.sysctls).length) linux.sysctl = { ...limits.sysctls };
  if (devices.some((nodes) => nodes.length)) {
    linux.devices = devices.flat().map((d) => ({ ...d }));
    resources.devices ??= [];
    devices.forEach((nodes, i) => {
      for (const d of nodes) {
        resources.devices!.push({ allow: true, type: d.type as 'c' | 'b', major: d.major, minor: d.minor, access: limits.devices[i]?.permissions ?? 'rwm' });
      }
    });
  }
  return spec;
}

/** `--userns remap`: a user namespace mapping ids 0–(size-1) inside to the host ranges. */
export function applyUserns(spec: Spec, uid: { start: number; count: number }, gid: { start: number; count: number }): Spec {
  const linux = (spec.linux ??= {});
  linux.namespaces = [...(linux.namespaces ?? []).filter((n) => n.type !== 'user'), { type: 'user' }];
  linux.uidMappings = [{ containerID: 0, hostID: uid.start, size: uid.count }];
  linux.gidMappings = [{ containerID: 0, hostID: gid.start, size: gid.count }];
  return spec;
}

/** Docker's names for process.arch in a profile's `includes.arches`. */
const DOCKER_ARCH: Record<string, string[]> = { x64: ['amd64', 'x86_64'], arm64: ['arm64', 'aarch64'], ia32: ['x86', '386'], arm: ['arm'] };

interface DockerSyscallRule {
  name?: string;
  names?: string[];
  action: string;
  errnoRet?: number;
  args?: Seccomp['syscalls'] extends (infer R)[] | undefined ? R extends { args?: infer A } ? A : never : never;
  includes?: { caps?: string[]; arches?: string[]; minKernel?: string };
  excludes?: { caps?: string[]; arches?: string[] };
}

/**
 * `--security-opt seccomp=FILE`: an OCI seccomp object, or a Docker profile (`archMap`, per-rule
 * `includes`/`excludes` by capability and architecture) resolved for the container's capabilities.
 * Unreadable, not JSON, or not compilable (unknown action, comparison, flag): a usage error.
 */
export function loadSeccompProfile(file: string, caps: string[], arch: string = process.arch, read = (f: string) => readFileSync(f, 'utf8')): Seccomp {
  let raw: unknown;
  try {
    raw = JSON.parse(read(file));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw usageError(`opening seccomp profile (${file}) failed: ${e.code ?? e.message}`);
  }
  const bad = (why: string) => usageError(`invalid seccomp profile ${file}: ${why}`);
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw bad('not a JSON object');
  const p = raw as { defaultAction?: unknown; defaultErrnoRet?: number; architectures?: string[]; archMap?: { architecture: string; subArchitectures?: string[] }[]; flags?: string[]; syscalls?: DockerSyscallRule[] };
  if (typeof p.defaultAction !== 'string') throw bad('defaultAction is missing');
  if (p.syscalls !== undefined && !Array.isArray(p.syscalls)) throw bad('syscalls must be a list');
  const held = new Set(caps);
  const archNames = DOCKER_ARCH[arch] ?? [arch];
  const applies = (r: DockerSyscallRule) => {
    if (r.includes?.caps?.some((c) => !held.has(c))) return false;
    if (r.includes?.arches?.length && !r.includes.arches.some((a) => archNames.includes(a))) return false;
    if (r.excludes?.caps?.some((c) => held.has(c))) return false;
    if (r.excludes?.arches?.some((a) => archNames.includes(a))) return false;
    return true;
  };
  const syscalls = (p.syscalls ?? []).filter(applies).map((r, i) => {
    const names = r.names ?? (r.name ? [r.name] : []);
    if (!names.length || names.some((n) => typeof n !== 'string')) throw bad(`syscalls[${i}]: names is missing`);
    if (typeof r.action !== 'string') throw bad(`syscalls[${i}]: action is missing`);
    return { names, action: r.action, ...(r.errnoRet !== undefined ? { errnoRet: r.errnoRet } : {}), ...(r.args ? { args: r.args } : {}) };
  });
  const architectures = p.architectures ?? (p.archMap ?? []).flatMap((a) => [a.architecture, ...(a.subArchitectures ?? [])]);
  const profile: Seccomp = {
    defaultAction: p.defaultAction,
    ...(p.defaultErrnoRet !== undefined ? { defaultErrnoRet: p.defaultErrnoRet } : {}),
    ...(architectures.length ? { architectures } : {}),
    ...(p.flags ? { flags: p.flags } : {}),
    syscalls,
  };
  try {
    compileSeccomp(profile);
  } catch (err) {
    throw bad((err as Error).message);
  }
  return profile;
}
