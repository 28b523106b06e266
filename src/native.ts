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

  // --- unix sockets ---
  /** socketpair(AF_UNIX, type | SOCK_CLOEXEC); returns two fds. */
  socketpair(type: 'stream' | 'seqpacket'): [number, number];
  /** sendmsg with SCM_RIGHTS. */
  sendFds(sockFd: number, data: Buffer, fds: number[]): void;
  /** recvmsg with SCM_RIGHTS (blocking); received fds are CLOEXEC. */
  recvFds(sockFd: number, maxData: number, maxFds: number): { data: Buffer; fds: number[] };
  /** Listen on a unix socket path, accept one connection, receive one message with fds (console socket). */
  receiveFdOnce(socketPath: string, timeoutMs: number): Promise<{ data: Buffer; fds: number[] }>;

  // --- image layers (native/layer.cc) ---
  /**
   * Apply an uncompressed tar stream onto `dir` in overlay form, confined with openat2.
   * Feed chunks with `write`, finish with `end` (resolves with stats). Runs on its own thread.
   */
  createLayerApplier(dir: string, options: LayerApplyOptions): LayerApplier;
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

/** Where node-gyp put the build products. */
export const buildDir = path.resolve(__dirname, '..', 'build', 'Release');
export const helperPath = path.join(buildDir, 'hull-helper');
export const probePath = path.join(buildDir, 'hull-probe');

let loaded: HullNative | undefined;

/** The addon, loaded on first use (keeps `hull-oci state` and friends fast). */
export function native(): HullNative {
  if (!loaded) {
    const file = path.join(buildDir, 'hull_native.node');
    if (!fs.existsSync(file)) {
      throw new Error(`hull native addon not built: ${file} is missing (run npm install)`);
    }
    loaded = require(file) as HullNative;
  }
  return loaded;
}
