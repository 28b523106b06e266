// Compiles a validated OCI spec into the helper plan (docs/internals/plan.md). Pure: no system calls,
// so every decision about a container is unit-testable. Reading `compilePlan` top to bottom is reading
// the creation sequence of REFERENCE §2:
//
//   header → namespaces → id maps → [time offsets] → cgroup → rlimits → oom score → [create-runtime hooks]
//   → propagation → rootfs → mounts → /dev → [create-container hooks] → pivot → readonly root
//   → masked/readonly paths → hostname, sysctl → umask, nnp → [seccomp] → caps, user → cwd, env, args
//   → [startContainer hooks] → exec
//
// With `cgroupWait` (every container start of the Runtime) the cgroup joins move to a
// `cgroup-wait` step before the first step that needs them (see insertCgroupWait).
import * as path from 'node:path';
import { defaultDevices } from './default-devices';
import { MOUNT_ATTR, MS, PROPAGATION_MASK, capabilityMask, parseMountOptions } from './flags';
import { OCI_VERSION, type Hooks, type IdMapping, type Mount, type Namespace, type NamespaceType, type Process, type Seccomp, type Spec } from './spec';

/** One plan line: the op name followed by its fields. */
export type PlanOp = readonly [op: string, ...fields: string[]];

export type PlanMode = 'create' | 'run' | 'exec';

/** A cgroup v1 controller hierarchy, for mounting `/sys/fs/cgroup` inside the container. */
export interface CgroupMountSource {
  /** Directory name under /sys/fs/cgroup, e.g. "cpu,cpuacct" or "memory". */
  name: string;
  /** The container's own cgroup directory in that hierarchy (host path). */
  hostDir: string;
  /** Extra names that point at it ("cpu" and "cpuacct" → "cpu,cpuacct"). */
  aliases: string[];
}

export interface PlanOptions {
  mode: PlanMode;
  id: string;
  /** Bundle directory: relative root.path and relative bind sources resolve against it. */
  bundle: string;
  /** Container state directory; the monitor writes exit.json there (none: nobody needs it). */
  stateDir?: string;
  /** create mode: the exec fifo `start` opens. */
  execFifo?: string;
  consoleSocket?: string;
  /** The monitor keeps running after `ready` when the caller goes away. */
  detach: boolean;
  /**
   * false: the helper exits right after `ready`, so the container becomes the child of the
   * caller's subreaper (containerd-shim, conmon), as with runc. Default true.
   */
  monitor?: boolean;
  trace: boolean;
  /** Host cgroup directories to put the container process into (one per v1 hierarchy, one for v2). */
  cgroupDirs: string[];
  /**
   * The cgroup2 directory among them (v2, or the unified one of a hybrid host): the container
   * process is born there (`cgroup-clone-into`, clone3 CLONE_INTO_CGROUP) instead of joining it.
   */
  cgroupCloneInto?: string;
  /** How `/sys/fs/cgroup` mounts become real mounts: v2 mounts cgroup2, v1 binds these directories. */
  cgroupVersion?: 1 | 2;
  cgroupMountSources?: CgroupMountSource[];
  /**
   * Emit `cgroup-wait`: the container process already sets up its mounts while the caller makes
   * the v1 directories and writes the limits (then the monitor hands it their `tasks` files, and
   * writes any cgroup.procs left); `sync cgroups` asks the caller when they are in place. The
   * container process waits before anything that needs its cgroups: a cgroup mount, hooks, its
   * cgroup namespace, credentials and seccomp, execve.
   */
  cgroupWait?: boolean;
  noPivot?: boolean;
  preserveFds?: number;
  /** Add the /dev/core → /proc/kcore link (runc does when the host has /proc/kcore). */
  devCore?: boolean;
  /**
   * docker json-file logs written by the monitor (`log-file`): the container's stdout/stderr (or
   * its terminal) become lines in `path`, rotated at `maxSize` bytes (0 = never) into `maxFiles` files.
   */
  logFile?: LogFileOptions;
  /** The container's cgroup file with the `oom_kill` counter (`oom-check`): exit.json says oomKilled. */
  oomCheck?: string;
  /**
   * `exit-command`: argv the monitor runs (in a new session, stdio /dev/null, not waited for) once
   * exit.json is written, as conmon's --exit-command: `hull run -d --rm` removes its container with it.
   */
  exitCommand?: string[];
  /**
   * `attach-socket`: the monitor listens here for `hull attach` clients and relays the pty it keeps
   * (terminal mode, no console socket) or, without a terminal, the stdout/stderr pipes it reads for
   * `log-file` (docker's attach stream framing); framed input, see docs/internals/plan.md.
   */
  attachSocket?: string;
  /** With `attachSocket` and no terminal: the container's stdin is a pipe attached clients write to (`-d -i`). */
  attachStdin?: boolean;
  /**
   * The OCI state (status `created`) as a JSON object without `pid`, for startContainer hooks: the
   * container process adds the pid it sees itself (runtime-spec: the pid as seen by the container).
   */
  startHookState?: string;
  /** exec mode: the pid of the container's init, whose namespaces are joined. */
  initPid?: number;
  /** exec mode: the process to run (replaces spec.process). */
  process?: Process;
}

export interface LogFileOptions {
  path: string;
  /** Bytes; 0 = never rotate. */
  maxSize: number;
  /** Files in total, the live one included (at least 1). */
  maxFiles: number;
}

/** A spec that can't be turned into a plan (the message names the field). */
export class PlanError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PlanError';
  }
}

/** Namespace names as the plan's `clone` op spells them. */
const CLONE_NAME: Record<NamespaceType, string> = {
  user: 'user', pid: 'pid', mount: 'mount', uts: 'uts', ipc: 'ipc', network: 'net', cgroup: 'cgroup', time: 'time',
};
/** Namespace names as `setns` and /proc/<pid>/ns spell them. */
const SETNS_NAME: Record<NamespaceType, string> = {
  user: 'user', pid: 'pid', mount: 'mnt', uts: 'uts', ipc: 'ipc', network: 'net', cgroup: 'cgroup', time: 'time',
};
/** Joining order: the user namespace first (it grants the rights for the others), mount last. */
const JOIN_ORDER: NamespaceType[] = ['user', 'ipc', 'uts', 'network', 'pid', 'cgroup', 'time', 'mount'];

const ROOTFS_PROPAGATION: Record<string, number> = {
  private: MS.PRIVATE,
  rprivate: MS.PRIVATE | MS.REC,
  slave: MS.SLAVE,
  rslave: MS.SLAVE | MS.REC,
  shared: MS.SHARED,
  rshared: MS.SHARED | MS.REC,
  unbindable: MS.UNBINDABLE,
  runbindable: MS.UNBINDABLE | MS.REC,
};

const DEV_SYMLINKS: [target: string, link: string][] = [
  ['/proc/self/fd', '/dev/fd'],
  ['/proc/self/fd/0', '/dev/stdin'],
  ['/proc/self/fd/1', '/dev/stdout'],
  ['/proc/self/fd/2', '/dev/stderr'],
];

const SECCOMP_ACTIONS: Record<string, string> = {
  SCMP_ACT_KILL: 'kill-thread',
  SCMP_ACT_KILL_THREAD: 'kill-thread',
  SCMP_ACT_KILL_PROCESS: 'kill-process',
  SCMP_ACT_TRAP: 'trap',
  SCMP_ACT_ERRNO: 'errno',
  SCMP_ACT_TRACE: 'trace',
  SCMP_ACT_ALLOW: 'allow',
  SCMP_ACT_LOG: 'log',
  SCMP_ACT_NOTIFY: 'notify',
};
/**
 * Syscalls a `notify` rule may not catch: the container process would wait for an agent that has no
 * notify fd yet. `sendmsg` carries the fd to the monitor; `write` is refused as runc and youki do
 * (their hand-off uses it), so a profile behaves the same on all of them.
 */
const NOTIFY_REFUSED = ['write', 'sendmsg'];
const SECCOMP_FLAGS: Record<string, string | null> = {
  SECCOMP_FILTER_FLAG_LOG: 'log',
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: 'spec-allow',
  SECCOMP_FILTER_FLAG_TSYNC: null, // the helper is single-threaded: nothing to synchronise
};
const SECCOMP_OPS: Record<string, string> = {
  SCMP_CMP_NE: 'ne', SCMP_CMP_LT: 'lt', SCMP_CMP_LE: 'le', SCMP_CMP_EQ: 'eq', SCMP_CMP_GE: 'ge',
  SCMP_CMP_GT: 'gt', SCMP_CMP_MASKED_EQ: 'masked-eq',
};

/** The sync point names TypeScript answers; hooks run there. */
export const SYNC_CREATE_RUNTIME = 'create-runtime';
export const SYNC_CREATE_CONTAINER = 'create-container';
/** Asked by the monitor (not a plan op) once its part of a `cgroup-wait` plan is done. */
export const SYNC_CGROUPS = 'cgroups';

export function hasHooks(hooks: Hooks | undefined, ...kinds: (keyof Hooks)[]): boolean {
  return kinds.some((k) => (hooks?.[k]?.length ?? 0) > 0);
}

/** Turns spec + options into the op list the helper executes. Throws PlanError for impossible specs. */
export function compilePlan(spec: Spec, opts: PlanOptions): PlanOp[] {
  const ops: PlanOp[] = [];
  const emit = (op: string, ...fields: (string | number)[]) => ops.push([op, ...fields.map(String)]);
  const process = opts.mode === 'exec' ? opts.process : spec.process;
  if (!process) throw new PlanError('process: is required');
  const namespaces = spec.linux?.namespaces ?? [];
  const newNamespace = (t: NamespaceType) => namespaces.some((n) => n.type === t && !n.path);

  // --- header: how the helper runs and where it reports ---
  emit('mode', opts.mode);
  emit('detach', opts.detach ? 1 : 0);
  if (opts.monitor === false) emit('monitor', 0);
  emit('trace', opts.trace ? 1 : 0);
  emit('id', opts.id);
  if (opts.stateDir) emit('state-dir', opts.stateDir);
  if (opts.mode === 'create') {
    if (!opts.execFifo) throw new PlanError('create mode needs an exec fifo');
    emit('exec-fifo', opts.execFifo);
  }
  if (opts.consoleSocket) emit('console-socket', opts.consoleSocket);
  if (process.terminal && !opts.consoleSocket) emit('terminal', 1);
  if (process.terminal && process.consoleSize) emit('console-size', process.consoleSize.height, process.consoleSize.width);
  if (opts.logFile) {
    // Only a monitor can own the log (hull-oci's `monitor 0` leaves the output to the shim).
    if (opts.monitor === false) throw new PlanError('log-file: needs the monitor (not with monitor 0)');
    emit('log-file', opts.logFile.path, opts.logFile.maxSize, Math.max(1, opts.logFile.maxFiles));
  }
  // Without a monitor nobody writes exit.json, so there is nobody to ask about OOM kills either.
  if (opts.oomCheck && opts.monitor !== false) emit('oom-check', opts.oomCheck);
  if (opts.exitCommand?.length) {
    if (opts.monitor === false) throw new PlanError('exit-command: needs the monitor (not with monitor 0)');
    if (!opts.exitCommand[0].startsWith('/')) throw new PlanError('exit-command: the program needs an absolute path');
    emit('exit-command', ...opts.exitCommand);
  }
  const listener = seccompListener(spec, opts);
  if (listener) emit('seccomp-listener', ...listener);
  if (opts.attachSocket) {
    if (opts.consoleSocket || opts.monitor === false || (!process.terminal && !opts.logFile)) {
      throw new PlanError('attach-socket: needs output the monitor keeps (a monitor, no console socket; a terminal or log-file)');
    }
    emit('attach-socket', opts.attachSocket, opts.attachStdin && !process.terminal ? 1 : 0);
  }

  // --- namespaces: join existing ones, create the rest ---
  if (opts.mode === 'exec') {
    if (!opts.initPid) throw new PlanError('exec mode needs the container init pid');
    for (const type of JOIN_ORDER) {
      if (namespaces.some((n) => n.type === type)) emit('setns', SETNS_NAME[type], `/proc/${opts.initPid}/ns/${SETNS_NAME[type]}`);
    }
  } else {
    for (const type of JOIN_ORDER) {
      const ns = namespaces.find((n: Namespace) => n.type === type && n.path);
      if (ns) emit('setns', SETNS_NAME[type], ns.path!);
    }
    const offsets = timeOffsets(spec, newNamespace);
    // With offsets the container process makes the time namespace itself (`time-offset`): one born
    // by clone3 has a process in it already, and then its offsets can no longer be written.
    const created = Object.keys(CLONE_NAME).filter((t) => newNamespace(t as NamespaceType) && !(t === 'time' && offsets.length));
    if (created.length) emit('clone', created.map((t) => CLONE_NAME[t as NamespaceType]).join(','));
    if (newNamespace('user')) {
      if (!spec.linux?.uidMappings?.length || !spec.linux?.gidMappings?.length) {
        throw new PlanError('linux.uidMappings: a new user namespace needs uidMappings and gidMappings');
      }
      emit('setgroups', 'allow');
      for (const m of spec.linux.uidMappings) emit('uid-map', m.containerID, m.hostID, m.size);
      for (const m of spec.linux.gidMappings) emit('gid-map', m.containerID, m.hostID, m.size);
    }
    for (const [clock, secs, nanosecs] of offsets) emit('time-offset', clock, secs, nanosecs);
  }

  // --- privileged setup from the outside, before any container code runs ---
  // (With cgroup-wait, insertCgroupWait moves the cgroup-joins to that step.)
  if (opts.cgroupCloneInto) emit('cgroup-clone-into', opts.cgroupCloneInto);
  for (const dir of opts.cgroupDirs) if (dir !== opts.cgroupCloneInto) emit('cgroup-join', dir);
  for (const r of process.rlimits ?? []) emit('rlimit', r.type, r.soft, r.hard);
  if (process.oomScoreAdj !== undefined) emit('oom-score-adj', process.oomScoreAdj);

  // --- a new container only: hooks, the filesystem, kernel settings (exec joins all of these) ---
  if (opts.mode !== 'exec') {
    checkKernelSettings(spec, newNamespace);
    if (hasHooks(spec.hooks, 'prestart', 'createRuntime')) emit('sync', SYNC_CREATE_RUNTIME);
    compileFilesystem(spec, opts, emit);
    if (spec.hostname) emit('hostname', spec.hostname);
    if (spec.domainname) emit('domainname', spec.domainname);
    for (const [key, value] of Object.entries(spec.linux?.sysctl ?? {})) emit('sysctl', key, value);
  }

  if (opts.cgroupWait && opts.mode !== 'exec') insertCgroupWait(ops, opts);

  // --- the process: credentials, security, then exec ---
  emit('umask', (process.user.umask ?? 0o022).toString(8).padStart(4, '0'));
  if (process.noNewPrivileges) emit('nnp');
  const seccomp = spec.linux?.seccomp;
  const seccompOps = seccomp ? compileSeccomp(seccomp) : [];
  if (!process.noNewPrivileges) ops.push(...seccompOps); // loading needs CAP_SYS_ADMIN: before dropping it
  if (process.capabilities) {
    const c = process.capabilities;
    // The kernel only raises ambient caps that are permitted and inheritable; runc ignores the
    // failures for the rest (its own default spec has ambient without inheritable), so drop them here.
    const ambient = (c.ambient ?? []).filter((cap) => c.permitted?.includes(cap) && c.inheritable?.includes(cap));
    emit('caps', capabilityMask(c.bounding), capabilityMask(c.effective), capabilityMask(c.permitted),
      capabilityMask(c.inheritable), capabilityMask(ambient));
  }
  emit('user', process.user.uid, process.user.gid, (process.user.additionalGids ?? []).join(','));
  if (opts.preserveFds) emit('preserve-fds', opts.preserveFds);
  emit('cwd', process.cwd);
  for (const e of process.env ?? []) emit('env', e);
  for (const a of process.args ?? []) emit('arg', a);
  if (process.noNewPrivileges) ops.push(...seccompOps); // as close to execve as possible
  if (opts.mode !== 'exec') compileStartHooks(spec, opts, emit);
  emit('exec');
  return ops;
}

type Emit = (op: string, ...fields: (string | number)[]) => void;

/**
 * `cgroup-wait` goes before the first step that needs the container in its cgroups with its
 * limits, or its v1 directories made: a hook sync, a cgroup(2) mount or a bind of (or into, or
 * above) a v1 directory (compileCgroupMount's, or the config's own), else at the end of the
 * filesystem and kernel settings, before credentials and seccomp (the wait's recv and the cgroup
 * namespace's unshare must still be allowed) and long before execve. The `cgroup-join`s move
 * right before it: that is when they happen (the v1 ones by the container process itself, with
 * `tasks` files the monitor hands it).
 */
function insertCgroupWait(ops: PlanOp[], opts: PlanOptions): void {
  const joins = ops.filter(([op]) => op === 'cgroup-join');
  const rest = ops.filter(([op]) => op !== 'cgroup-join');
  const v1Dirs = (opts.cgroupMountSources ?? []).map((source) => source.hostDir);
  // A bind of one of them, of something in one, or of a directory above one (maybe not made yet).
  const nearV1Dir = (source: string) => v1Dirs.some((dir) => source === dir || source.startsWith(`${dir}/`) || dir.startsWith(`${source}/`));
  const at = rest.findIndex(
    ([op, source, , fstype]) => op === 'sync' || (op === 'mount' && (fstype === 'cgroup' || fstype === 'cgroup2' || nearV1Dir(source))),
  );
  rest.splice(at < 0 ? rest.length : at, 0, ...joins, ['cgroup-wait']);
  ops.splice(0, ops.length, ...rest);
}

/** linux.timeOffsets → [clock, secs, nanosecs]: only for a new time namespace, which they need. */
function timeOffsets(spec: Spec, newNamespace: (t: NamespaceType) => boolean): [string, number, number][] {
  const entries = Object.entries(spec.linux?.timeOffsets ?? {});
  if (!entries.length) return [];
  if (!newNamespace('time')) {
    throw new PlanError('linux.timeOffsets: time offsets need a new time namespace in linux.namespaces');
  }
  return entries.map(([clock, offset]) => {
    const field = `linux.timeOffsets.${clock}`;
    if (clock !== 'monotonic' && clock !== 'boottime') throw new PlanError(`${field}: only monotonic and boottime clocks have offsets`);
    const secs = offset?.secs ?? 0;
    const nanosecs = offset?.nanosecs ?? 0;
    if (!Number.isSafeInteger(secs)) throw new PlanError(`${field}.secs: must be an integer`);
    if (!Number.isInteger(nanosecs) || nanosecs < 0 || nanosecs > 999_999_999) {
      throw new PlanError(`${field}.nanosecs: must be an integer from 0 to 999999999`);
    }
    return [clock, secs, nanosecs];
  });
}

/**
 * hooks.startContainer → `start-hook` (+ `start-hook-arg`, `start-hook-env`): the container process
 * runs them in its namespaces, root and credentials, after `start` and right before execve (runc).
 */
function compileStartHooks(spec: Spec, opts: PlanOptions, emit: Emit): void {
  (spec.hooks?.startContainer ?? []).forEach((hook, i) => {
    if (!hook.path?.startsWith('/')) throw new PlanError(`hooks.startContainer[${i}].path: must be absolute`);
    emit('start-hook', hook.path, hook.timeout ?? 0, opts.startHookState ?? '{}');
    for (const arg of hook.args ?? []) emit('start-hook-arg', arg);
    for (const variable of hook.env ?? []) emit('start-hook-env', variable);
  });
}

/** Mount namespace work: propagation, rootfs, config mounts, /dev, pivot, masks. */
function compileFilesystem(spec: Spec, opts: PlanOptions, emit: Emit): void {
  const rootfsPropagation = spec.linux?.rootfsPropagation;
  const propagation = rootfsPropagation ? ROOTFS_PROPAGATION[rootfsPropagation] : MS.SLAVE | MS.REC;
  emit('propagation', propagation);
  emit('rootfs', path.resolve(opts.bundle, spec.root!.path));

  const mounts = spec.mounts ?? [];
  for (const mount of mounts) compileMount(mount, spec, opts, emit);

  const devIsBound = mounts.some((m) => cleanDest(m.destination) === '/dev' && isBind(m));
  if (!devIsBound) {
    // The default nodes (runc's list) but those linux.devices redefines, then linux.devices.
    for (const d of defaultDevices(spec)) if (d.path) emit('mkdev', d.path, d.type, d.major, d.minor, '0666', 0, 0);
    for (const d of spec.linux?.devices ?? []) {
      const type = d.type === 'u' ? 'c' : d.type;
      const mode = ((d.fileMode ?? 0o666) & 0o7777).toString(8).padStart(4, '0');
      emit('mkdev', d.path, type, d.major ?? 0, d.minor ?? 0, mode, d.uid ?? 0, d.gid ?? 0);
    }
    emit('symlink', 'pts/ptmx', '/dev/ptmx');
    for (const [target, link] of DEV_SYMLINKS) emit('symlink', target, link);
    if (opts.devCore) emit('symlink', '/proc/kcore', '/dev/core');
  }
  if (hasHooks(spec.hooks, 'createContainer')) emit('sync', SYNC_CREATE_CONTAINER);

  emit('pivot', opts.noPivot ? 'chroot' : 'pivot');
  if (rootfsPropagation) emit('rootfs-propagation', ROOTFS_PROPAGATION[rootfsPropagation]);
  if (spec.root!.readonly) emit('readonly-root');
  for (const p of spec.linux?.maskedPaths ?? []) emit('mask', p);
  for (const p of spec.linux?.readonlyPaths ?? []) emit('readonly', p);
}

function isBind(m: Mount): boolean {
  return m.type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind');
}

function cleanDest(dest: string): string {
  return path.posix.normalize('/' + dest).replace(/\/+$/, '') || '/';
}

function compileMount(m: Mount, spec: Spec, opts: PlanOptions, emit: Emit): void {
  const dest = cleanDest(m.destination);
  if (dest === '/' || m.destination.split('/').includes('..')) {
    throw new PlanError(`mounts: destination "${m.destination}" is not allowed`);
  }
  // idmap/ridmap (runc 1.2) are ours, not filesystem data.
  const options = (m.options ?? []).filter((o) => o !== 'idmap' && o !== 'ridmap');
  const { flags: parsedFlags, propagation, data, recursive } = parseMountOptions(options);
  let flags = parsedFlags;
  const type = m.type ?? (isBind(m) ? 'bind' : '');
  const idmap = isBind(m) ? mountIdmap(m, spec) : undefined;
  if (!isBind(m) && (m.uidMappings?.length || m.gidMappings?.length || options.length !== (m.options ?? []).length)) {
    throw new PlanError(`mounts: ${dest}: idmapped mounts are only supported for bind mounts`);
  }
  if (idmap) {
    // Made by the monitor before the clone (open_tree + mount_setattr MOUNT_ATTR_IDMAP), moved
    // into place by the container process: docs/internals/plan.md `mount-idmap`.
    const source = path.resolve(opts.bundle, m.source ?? '');
    const attrs = mountAttrsOf(flags);
    emit('mount-idmap', source, dest, flags & MS.REC ? 'rbind' : 'bind', idmap.recursive ? 'ridmap' : 'idmap',
      hex(attrs.set), hex(attrs.clear), propagation, idMapField(idmap.uid), idMapField(idmap.gid));
  } else if (isBind(m)) {
    flags |= MS.BIND;
    const source = path.resolve(opts.bundle, m.source ?? '');
    emit('mount', source, dest, 'bind', flags, data, propagation);
  } else if (type === 'cgroup' || type === 'cgroup2') {
    compileCgroupMount(dest, flags, propagation, opts, emit);
  } else {
    emit('mount', m.source ?? type, dest, type, flags, data, propagation);
  }
  // Recursive options (rro, rnosuid…): once the mount and its submounts exist, on the whole tree.
  if (recursive) emit('mount-setattr', dest, hex(recursive.set), hex(recursive.clear));
}

/**
 * The id mapping of an idmapped bind mount, or undefined for a plain one. `mounts[].uidMappings`/
 * `gidMappings` (both, spec.ts checks), or `idmap`/`ridmap` alone: the container's own mappings
 * (runc 1.2). `ridmap` maps every mount of an rbind's tree, `idmap` only its top (as runc).
 */
function mountIdmap(m: Mount, spec: Spec): { uid: IdMapping[]; gid: IdMapping[]; recursive: boolean } | undefined {
  const options = m.options ?? [];
  const recursive = options.includes('ridmap');
  const option = recursive || options.includes('idmap');
  if (m.uidMappings?.length && m.gidMappings?.length) return { uid: m.uidMappings, gid: m.gidMappings, recursive };
  if (m.uidMappings?.length || m.gidMappings?.length) {
    throw new PlanError(`mounts: ${m.destination}: idmapped mounts need both uidMappings and gidMappings`);
  }
  if (!option) return undefined;
  const ownUserNs = spec.linux?.namespaces?.some((n) => n.type === 'user' && !n.path);
  if (!ownUserNs || !spec.linux?.uidMappings?.length || !spec.linux?.gidMappings?.length) {
    throw new PlanError(`mounts: ${m.destination}: "idmap" without uidMappings/gidMappings needs a new user namespace with mappings`);
  }
  return { uid: spec.linux.uidMappings, gid: spec.linux.gidMappings, recursive };
}

/** `mount-idmap`'s id map field: "containerID:hostID:size,…". */
function idMapField(maps: IdMapping[]): string {
  return maps.map((m) => `${m.containerID}:${m.hostID}:${m.size}`).join(',');
}

/** A bind's MS_* flags as mount_setattr(2) attributes (an atime word sets the whole atime field). */
function mountAttrsOf(flags: number): { set: number; clear: number } {
  let set = 0;
  let clear = 0;
  if (flags & MS.RDONLY) set |= MOUNT_ATTR.RDONLY;
  if (flags & MS.NOSUID) set |= MOUNT_ATTR.NOSUID;
  if (flags & MS.NODEV) set |= MOUNT_ATTR.NODEV;
  if (flags & MS.NOEXEC) set |= MOUNT_ATTR.NOEXEC;
  if (flags & MS.NODIRATIME) set |= MOUNT_ATTR.NODIRATIME;
  if (flags & MS.NOSYMFOLLOW) set |= MOUNT_ATTR.NOSYMFOLLOW;
  const atime = flags & MS.NOATIME ? MOUNT_ATTR.NOATIME : flags & MS.STRICTATIME ? MOUNT_ATTR.STRICTATIME : flags & MS.RELATIME ? MOUNT_ATTR.RELATIME : -1;
  if (atime >= 0) {
    set |= atime;
    clear |= MOUNT_ATTR._ATIME;
  }
  return { set: set >>> 0, clear: clear >>> 0 };
}

/** A mount_setattr(2) attribute mask as the plan writes it: "0x1". */
function hex(mask: number): string {
  return `0x${mask.toString(16)}`;
}

/**
 * `/sys/fs/cgroup` inside the container. On v2 it is a cgroup2 mount (the cgroup namespace, or the
 * host's view). On v1 it is a tmpfs holding a read-only bind of the container's own directory in
 * each hierarchy (as runc does without a cgroup namespace), plus "cpu" → "cpu,cpuacct" links.
 */
function compileCgroupMount(dest: string, flags: number, propagation: number, opts: PlanOptions, emit: Emit): void {
  if (opts.cgroupVersion !== 1) {
    emit('mount', 'cgroup', dest, 'cgroup2', flags, '', propagation);
    return;
  }
  const bindFlags = MS.BIND | (flags & (MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC | MS.RELATIME));
  emit('mount', 'tmpfs', dest, 'tmpfs', flags & ~MS.RDONLY, 'mode=755', 0);
  for (const source of opts.cgroupMountSources ?? []) {
    emit('mount', source.hostDir, `${dest}/${source.name}`, 'bind', bindFlags, '', 0);
    for (const alias of source.aliases) emit('symlink', source.name, `${dest}/${alias}`);
  }
  if (flags & MS.RDONLY) {
    emit('mount', 'tmpfs', dest, 'tmpfs', (flags | MS.REMOUNT) & ~PROPAGATION_MASK, 'mode=755', propagation);
  }
}

/** Refuse settings the kernel would reject late or apply to the host (as runc validates them). */
function checkKernelSettings(spec: Spec, newNamespace: (t: NamespaceType) => boolean): void {
  if (spec.hostname && !newNamespace('uts')) {
    throw new PlanError('hostname: setting the hostname needs a new uts namespace in linux.namespaces');
  }
  if (spec.domainname && !newNamespace('uts')) {
    throw new PlanError('domainname: setting the domainname needs a new uts namespace in linux.namespaces');
  }
  for (const key of Object.keys(spec.linux?.sysctl ?? {})) {
    const ipc = /^(kernel\.(msg|sem|shm)|fs\.mqueue\.)/.test(key);
    const net = key.startsWith('net.');
    if (ipc && !newNamespace('ipc')) throw new PlanError(`linux.sysctl.${key}: needs a new ipc namespace`);
    if (net && !newNamespace('network')) throw new PlanError(`linux.sysctl.${key}: needs a new network namespace`);
    if (!ipc && !net && key !== 'kernel.hostname' && key !== 'kernel.domainname') {
      throw new PlanError(`linux.sysctl.${key}: not namespaced, would change the host`);
    }
  }
}

/** config.json seccomp → `seccomp`, `seccomp-rule`…, `seccomp-load`. */
export function compileSeccomp(s: Seccomp): PlanOp[] {
  const action = (name: string, field: string) => {
    const a = SECCOMP_ACTIONS[name];
    if (!a) throw new PlanError(`${field}: seccomp action ${name} is not supported`);
    return a;
  };
  const flags = (s.flags ?? []).map((f) => {
    if (!(f in SECCOMP_FLAGS)) throw new PlanError(`linux.seccomp.flags: unknown flag ${f}`);
    return SECCOMP_FLAGS[f];
  });
  if (s.defaultAction === 'SCMP_ACT_NOTIFY') {
    throw new PlanError('linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be used as default action');
  }
  const ops: PlanOp[] = [[
    'seccomp',
    action(s.defaultAction, 'linux.seccomp.defaultAction'),
    String(s.defaultErrnoRet ?? 1),
    flags.filter((f): f is string => f !== null).join(','),
    (s.architectures ?? []).join(','),
  ]];
  (s.syscalls ?? []).forEach((rule, i) => {
    const field = `linux.seccomp.syscalls[${i}]`;
    if (!rule.names?.length) return;
    const act = action(rule.action, `${field}.action`);
    if (act === 'notify') {
      if (!s.listenerPath) throw new PlanError(`${field}.action: SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath`);
      const refused = rule.names.find((n) => NOTIFY_REFUSED.includes(n));
      if (refused) throw new PlanError(`${field}.names: SCMP_ACT_NOTIFY cannot be used for the ${refused} syscall`);
    }
    const args = (rule.args ?? []).map((a, j) => {
      const op = SECCOMP_OPS[a.op];
      if (!op) throw new PlanError(`${field}.args[${j}].op: unknown comparison ${a.op}`);
      return `${a.index}:${op}:${BigInt(a.value)}:${BigInt(a.valueTwo ?? 0)}`;
    });
    const errno = rule.errnoRet ?? (act === 'errno' ? 1 : 0);
    ops.push(['seccomp-rule', act, String(errno), rule.names.join(','), args.join(',')]);
  });
  ops.push(['seccomp-load']);
  return ops;
}

/**
 * `seccomp-listener` fields when the filter has SCMP_ACT_NOTIFY rules (else listenerPath is ignored,
 * as runtime-spec says): the socket path (relative: to our working directory, as runc dials it), the
 * OCI version, listenerMetadata and the state for the agent. Status `creating` (exec: `running`), as
 * runc; the monitor adds `pid` (exec: the init's, written here, and the exec'd process is the outer pid).
 */
function seccompListener(spec: Spec, opts: PlanOptions): string[] | undefined {
  const s = spec.linux?.seccomp;
  if (!s?.listenerPath || !s.syscalls?.some((r) => r.action === 'SCMP_ACT_NOTIFY' && r.names?.length)) return undefined;
  const state: Record<string, unknown> = {
    ociVersion: OCI_VERSION,
    id: opts.id,
    status: opts.mode === 'exec' ? 'running' : 'creating',
  };
  if (opts.mode === 'exec') state.pid = opts.initPid;
  state.bundle = path.resolve(opts.bundle);
  if (spec.annotations && Object.keys(spec.annotations).length) state.annotations = spec.annotations;
  return [path.resolve(s.listenerPath), OCI_VERSION, s.listenerMetadata ?? '', JSON.stringify(state)];
}

const NEEDS_ESCAPE = /[\\\t\n]/;

/** Field escapes of the wire format: backslash, TAB and newline. */
export function escapeField(field: string): string {
  // Most fields need nothing: one scan instead of three replaces (a seccomp-bpf program is ~7 KB).
  if (!NEEDS_ESCAPE.test(field)) return field;
  return field.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n');
}

export function unescapeField(field: string): string {
  return field.replace(/\\(\\|t|n)/g, (_, c: string) => (c === 't' ? '\t' : c === 'n' ? '\n' : '\\'));
}

/** The plan as the helper reads it: one TAB-separated line per op, then `end`. */
export function serializePlan(ops: readonly PlanOp[]): string {
  return ops.map((op) => op.map(escapeField).join('\t')).join('\n') + '\nend\n';
}

/** Parse one message line from the helper into its fields. */
export function parseLine(line: string): string[] {
  return line.split('\t').map(unescapeField);
}
