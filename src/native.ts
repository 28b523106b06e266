// The whole JS <-> C++ contract: every function the addon (build/Release/hull_native.node) exports,
// with its types. Nothing here changes namespaces, root, cwd or credentials of the Node process:
// that work belongs to the single-threaded helper executable (docs/internals/plan.md).
//
// Every native failure is thrown as a NativeError shaped like Node's SystemError:
//   `mount /x/rootfs/proc: EPERM (Operation not permitted)` with code 'EPERM', errno 1,
//   syscall 'mount', path '/x/rootfs/proc'.
import * as path from 'node:path';
import * as fs from 'node:fs';

export interface NativeError extends Error {
  code: string; // 'EPERM'
  errno: number; // 1 (positive, as the kernel's errno)
  syscall: string; // 'mount'
  path?: string;
}

export interface XattrEntry {
  name: string;
  value: Buffer;
}

export interface HullNative {
  /** Addon build identifier. */
  readonly version: string;

  // --- mounts in the host mount namespace (image layers, container root filesystems) ---
  /** mount(2). flags are MS_* numbers (see MS in src/runtime/flags.ts). */
  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): void;
  /** umount2(2). flags: MNT_DETACH=2, MNT_FORCE=1, UMOUNT_NOFOLLOW=8. */
  umount(target: string, flags: number): void;
  /**
   * Overlay mount of `lowers` (top first) at `target`. Uses fsopen + one `lowerdir+` per layer
   * where the kernel has it (no page-size limit on options), else mount(2) with the shortest form.
   * `upper`/`work` null = read-only overlay. `options` are extra fsconfig strings ("redirect_dir=off").
   */
  mountOverlay(target: string, lowers: string[], upper: string | null, work: string | null, options: string[]): void;

  // --- files confined to a root directory (openat2 RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) ---
  /** open(2) flags/mode; returns an fd the caller closes with fs.closeSync. */
  openInRoot(rootFd: number, relPath: string, flags: number, mode: number): number;
  /** mkdir -p inside the root; returns nothing; existing directories are fine. */
  mkdirInRoot(rootFd: number, relPath: string, mode: number): void;
  /** mknod(2) at an absolute host path. type: 'c' | 'b' | 'p'. */
  mknod(path: string, type: 'c' | 'b' | 'p', mode: number, major: number, minor: number): void;
  /** lgetxattr/lsetxattr/llistxattr/lremovexattr: never follow the last symlink. */
  getxattr(path: string, name: string): Buffer | null;
  setxattr(path: string, name: string, value: Buffer, flags: number): void;
  listxattr(path: string): string[];
  removexattr(path: string, name: string): void;
  /** flock(2) on an fd. Returns false when `nonblock` and the lock is held elsewhere. */
  flock(fd: number, op: 'sh' | 'ex' | 'un', nonblock: boolean): boolean;
  /** fsync a directory (or file) by path, for atomic renames. */
  fsyncPath(path: string): void;
  /** statfs(2) f_type of a path (e.g. 0x63677270 cgroup2, 0x9fa0 proc). */
  statfsType(path: string): number;

  // --- seccomp ---
  /**
   * Compile a plan's `seccomp` op and its `seccomp-rule` ops (each as [op, ...fields], in order) to
   * classic BPF with the helper's own compiler (native/seccomp.cc); returns the program as base64,
   * the last field of a `seccomp-bpf` op. Throws EINVAL (syscall 'seccomp') with the compiler's reason.
   */
  compileSeccomp(ops: string[][]): string;

  // --- processes ---
  /** pidfd_open(2); returns an fd. */
  pidfdOpen(pid: number): number;
  /** pidfd_send_signal(2). */
  pidfdSendSignal(pidfd: number, signal: number): void;
  /** kill(2); signal 0 checks existence (returns false on ESRCH). */
  kill(pid: number, signal: number): boolean;
  /** prctl(PR_SET_CHILD_SUBREAPER). */
  setChildSubreaper(on: boolean): void;
  /** Mark every fd >= minFd close-on-exec (close_range CLOSE_RANGE_CLOEXEC). */
  cloexecFrom(minFd: number): void;
  /** _exit(code): ends the process without Node's teardown. Everything must be written by then. */
  exitNow(code: number): never;

  // --- unix sockets ---
  /** socketpair(AF_UNIX, type | SOCK_CLOEXEC); returns two fds. */
  socketpair(type: 'stream' | 'seqpacket'): [number, number];
  /** write(2) of `data` (a string as UTF-8) until a non-blocking fd would block: null once all is written, else the rest. */
  writeSome(fd: number, data: string | Buffer): Buffer | null;
  /** One read(2) of up to `max` bytes as UTF-8 text: '' at end of file, null if a non-blocking fd would block. */
  readSome(fd: number, max: number): string | null;
  /** sendmsg with SCM_RIGHTS. */
  sendFds(sockFd: number, data: Buffer, fds: number[]): void;
  /** recvmsg with SCM_RIGHTS (blocking); received fds are CLOEXEC. */
  recvFds(sockFd: number, maxData: number, maxFds: number): { data: Buffer; fds: number[] };
  /** Listen on a unix socket path, accept one connection, receive one message with fds (console socket). */
  receiveFdOnce(socketPath: string, timeoutMs: number): Promise<{ data: Buffer; fds: number[] }>;

  // --- cgroupfs files in bulk (native/cgroup.cc) ---
  /**
   * Many cgroupfs operations in one call (a v1 container start makes ~10 directories and writes ~15
   * files; through fs.*Sync each costs ~3x its syscall here). In order; returns per op: `mkdir`
   * (-p) whether it made the directory; `write` (O_CREAT|O_TRUNC, one write) true; `inherit`
   * (file, parent's file) the value copied when the file was empty, else null; `rmdir` '' when
   * removed or absent, else the errno name. The first other failure throws a NativeError (syscall
   * `mkdir` or `write`, path) with `index`, the op's position.
   */
  cgroupFiles(ops: CgroupFileOp[]): (boolean | string | null)[];

  // --- cgroup v2 device filters (native/cgroup.cc) ---
  /**
   * The BPF_PROG_TYPE_CGROUP_DEVICE program for OCI `linux.resources.devices` rules, as raw
   * `struct bpf_insn` (8 bytes each). The last matching rule wins; nothing matched = deny. An allow
   * rule must cover every requested access bit, a deny rule matches if it names any of them.
   */
  compileDeviceFilter(rules: DeviceFilterRule[]): Buffer;
  /**
   * Load that program and attach it to the cgroup2 directory (BPF_F_ALLOW_MULTI), then detach the
   * device programs attached there before. Returns the program id. A verifier failure is an
   * EINVAL/EACCES NativeError whose message and `verifierLog` carry the verifier's log.
   */
  setDeviceFilter(cgroupDir: string, rules: DeviceFilterRule[]): number;
  /** Ids of the device programs attached to that cgroup itself (BPF_PROG_QUERY). */
  deviceFilters(cgroupDir: string): number[];
  /** Detach every device program attached to that cgroup. */
  clearDeviceFilters(cgroupDir: string): void;
  /** Whether the kernel still holds the BPF program with this id (leak checks). */
  bpfProgramExists(id: number): boolean;

  // --- image layers (native/layer.cc) ---
  /**
   * Apply an uncompressed tar stream onto `dir` in overlay form, confined with openat2.
   * Feed chunks with `write`, finish with `end` (resolves with stats). Runs on its own thread.
   */
  createLayerApplier(dir: string, options: LayerApplyOptions): LayerApplier;

  // --- starting helpers without node:child_process (native/spawn.cc) ---
  /**
   * An fd of `path` nobody in a container can write, once per process and path (CLOEXEC, kept
   * open): `path` itself through a detached read-only bind of its directory (O_PATH; page cache
   * shared by every monitor), else (no mount API, no CAP_SYS_ADMIN, noexec, or
   * HULL_HELPER_MEMFD=1) a copy in a memfd sealed SEAL|SHRINK|GROW|WRITE (+EXEC where the kernel
   * has it). A helper exec'd from it skips its own copy (CVE-2019-5736, docs/internals/helper.md
   * "The protected binary").
   */
  sealedHelper(path: string): number;
  /**
   * clone(CLONE_VM|CLONE_VFORK|CLONE_PIDFD) + execveat(fd) or execve(path). The child gets default
   * signal dispositions and an empty signal mask, exactly the fds of `fds` ([childFd, ourFd] pairs;
   * sources may overlap targets) and nothing else. A failure before the program runs is thrown with
   * its syscall ('execve', 'dup3', …) and `path`; the failed child is already reaped.
   */
  spawn(options: NativeSpawnOptions): { pid: number; pidfd: number };
  /** waitid(P_PIDFD, WEXITED|WNOHANG): null while it runs; reaps it. exitCode null when killed by `signal`. */
  waitPidfd(pidfd: number): { exitCode: number | null; signal: number } | null;
  /** waitid(P_PID, WEXITED|WNOHANG), for a child whose pidfd is closed; throws ECHILD if it is not ours. */
  waitPid(pid: number): { exitCode: number | null; signal: number } | null;
  /** pipe2(O_CLOEXEC): [read end, write end]. */
  pipe(): [number, number];
  /** Set or clear O_NONBLOCK (on our end only: the child's end of a pipe is another open file). */
  setNonblocking(fd: number, on?: boolean): void;
  /**
   * Watch an fd from the event loop (uv_poll, level-triggered): `callback(status, events)` with
   * events 1 readable, 2 writable. Nothing happens until `start(events)`; `close()` ends it (the fd
   * itself stays open). A started, ref'd watch keeps Node alive, like a socket.
   */
  watchFd(fd: number, callback: (status: number, events: number) => void): FdWatch;

  // --- user namespaces and idmapped mounts (native/userns.cc, `--userns remap`) ---
  /**
   * A user namespace with these id maps, made by a short-lived child (the Node process never
   * changes namespace). Returns an fd of /proc/PID/ns/user; the caller closes it with fs.closeSync.
   */
  usernsFd(uidMap: IdMapping[], gidMap: IdMapping[]): number;
  /**
   * open_tree(OPEN_TREE_CLONE [|AT_RECURSIVE]) + mount_setattr(MOUNT_ATTR_IDMAP): a detached copy
   * of the mount at `source` whose owners are mapped through the namespace of `usernsFd` (on-disk
   * id N shows as the host id that N inside maps to). Attached nowhere; returns its fd, usable as
   * `/proc/self/fd/N` (e.g. an overlay layer) until closed. EINVAL: the filesystem has no idmapped mounts.
   */
  idmappedTree(source: string, usernsFd: number, recursive?: boolean): number;
  /** idmappedTree, then move_mount onto `target` (an attached mount; the caller unmounts it). */
  idmappedMount(source: string, target: string, usernsFd: number, recursive?: boolean): void;
}

/** One line of /proc/PID/uid_map: ids inside..inside+count-1 are outside..outside+count-1 on the host. */
export interface IdMapping {
  inside: number;
  outside: number;
  count: number;
}

/** One op of HullNative.cgroupFiles. */
export type CgroupFileOp = ['mkdir', string] | ['write', string, string] | ['inherit', string, string] | ['rmdir', string];

/** One OCI device cgroup rule (linux.resources.devices[]); -1 or missing major/minor = any. */
export interface DeviceFilterRule {
  allow: boolean;
  type?: 'a' | 'c' | 'b';
  major?: number;
  minor?: number;
  /** Subset of "rwm"; empty or missing = "rwm". */
  access?: string;
}

export interface LayerApplyOptions {
  /** Overlay form: whiteouts become 0/0 char devices, opaque dirs get trusted.overlay.opaque=y. */
  overlay: boolean;
  /** Directories of lower layers (top first) for hardlinks whose target is only in a lower layer. */
  lowerDirs: string[];
  /** Map ids (userns remap). Omitted = keep the tar's ids. */
  uidShift?: number;
  gidShift?: number;
  /** Rootless overlay (mounted with `userxattr`): opaque dirs get user.overlay.opaque instead of trusted.*. */
  userxattr?: boolean;
}

export interface LayerApplyStats {
  entries: number;
  bytes: number;
  warnings: string[];
}

export interface LayerApplier {
  write(chunk: Buffer): Promise<void>;
  end(): Promise<LayerApplyStats>;
  abort(): void;
}

export interface NativeSpawnOptions {
  /** Program to run: `fd` (execveat AT_EMPTY_PATH) wins over `path`; `path` also names it in errors. */
  fd?: number;
  path: string;
  argv: string[];
  /** "NAME=value" strings. */
  env: string[];
  /** [child fd, our fd]: the child's fd table is exactly these. */
  fds: [number, number][];
}

export interface FdWatch {
  /** 1 readable, 2 writable, or both. Calling again changes the events. */
  start(events: number): void;
  stop(): void;
  ref(): void;
  unref(): void;
  close(): void;
}

/** Where node-gyp put the build products. */
export const buildDir = path.resolve(__dirname, '..', 'build', 'Release');
export const helperPath = path.join(buildDir, 'hull-helper');
export const probePath = path.join(buildDir, 'hull-probe');

let loaded: HullNative | undefined;

/**
 * End the process now with `code`: through the addon's _exit when it is loaded anyway (a
 * container verb), skipping Node's teardown (~3 ms); else process.exit. For CLI entry points
 * whose output is all written synchronously and whose work is all awaited.
 */
export function exitNow(code: number): never {
  if (!loaded) process.exit(code);
  process.exitCode = code;
  process.emit('exit', code); // what process.exit does before it ends the process
  return loaded.exitNow(code);
}

/** The addon, loaded on first use (keeps `hull-oci state` and friends fast). */
export function native(): HullNative {
  if (!loaded) {
    const file = path.join(buildDir, 'hull_native.node');
    // process.dlopen, not require: no module resolution or cache bookkeeping for a file whose
    // path we know (~0.35 ms of every container start).
    const module = { exports: {} as HullNative };
    try {
      process.dlopen(module, file);
    } catch (err) {
      if (!fs.existsSync(file)) throw new Error(`hull native addon not built: ${file} is missing (run npm install)`);
      throw err;
    }
    loaded = module.exports;
  }
  return loaded;
}
