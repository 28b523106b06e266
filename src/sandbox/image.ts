// Root filesystems for sandboxes. An image from the hull store is prepared ONCE per process and
// shared: a single-layer image is used in place (its layer directory), a multi-layer one gets one
// read-only overlay mount. Each sandbox then binds that directory inside its own mount namespace, so
// a run does no layer or host mount work. A sandbox with a writable root gets its own overlay (upper
// on a size-limited tmpfs) on top, removed when it ends.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stateRoot } from '../config';
import { ImageNotFoundError, ImageStore } from '../image/store';
import type { ContainerConfig } from '../image/types';
import { mountRootfs, unmountRootfs } from '../image/rootfs';
import { native } from '../native';
import { SandboxOptionError, type SandboxTrace } from './options';

/** Where the sandbox library keeps its host mounts (tmpfs on every distribution). */
export const SANDBOX_RUN_DIR = '/run/hull/sandbox';
const IMAGES_DIR = path.join(SANDBOX_RUN_DIR, 'images');
const WRITABLE_DIR = path.join(SANDBOX_RUN_DIR, 'rw');

/** How long an image prepared implicitly (runSandbox({image: 'ref'})) stays mounted once unused. */
export const IMAGE_IDLE_MS = 2000;

const MS_NOSUID = 0x2;
const MS_NODEV = 0x4;
const MNT_DETACH = 2;

/** An image ready to be the root of many sandboxes; close() it when done (or use `await using`). */
export interface PreparedImage {
  /** Image ID (config digest). */
  readonly id: string;
  readonly reference: string;
  /** The directory sandboxes use as their root (read-only). */
  readonly rootfs: string;
  /** Layer directories, top first. */
  readonly layers: readonly string[];
  /** The image's Env, Entrypoint, Cmd, WorkingDir, User. */
  readonly config: Readonly<ContainerConfig>;
  readonly closed: boolean;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** One mounted (or in-place) image shared by every handle and sandbox using it. */
class SharedImage {
  private refs = 0;
  private idleTimer?: NodeJS.Timeout;
  unmounted = false;

  constructor(
    readonly key: string,
    readonly id: string,
    readonly layers: string[],
    readonly config: ContainerConfig,
    readonly rootfs: string,
    /** The overlay mount point, when the image has more than one layer. */
    readonly mountPoint: string | undefined,
  ) {}

  acquire(): void {
    this.refs++;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  /** Drops one user; the last one unmounts now (`idleMs` 0) or after `idleMs` unless reused. */
  release(idleMs: number): void {
    if (--this.refs > 0) return;
    if (idleMs <= 0) {
      this.unmount();
      return;
    }
    this.idleTimer = setTimeout(() => this.unmount(), idleMs);
    this.idleTimer.unref();
  }

  get idle(): boolean {
    return this.refs === 0;
  }

  unmount(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    if (this.unmounted) return;
    this.unmounted = true;
    shared.delete(this.key);
    for (const [ref, image] of byReference) if (image === this) byReference.delete(ref);
    if (this.mountPoint) {
      try {
        unmountRootfs(this.mountPoint);
        fs.rmdirSync(this.mountPoint);
      } catch {
        /* still busy: detached already, the directory goes with the next stale sweep */
      }
    }
  }
}

/** Images by "<storeRoot>\0<image ID>". */
const shared = new Map<string, SharedImage>();
/** The same, by the reference callers used: a warm run skips reading images.json. */
const byReference = new Map<string, SharedImage>();
const pending = new Map<string, Promise<SharedImage>>();
let exitHookInstalled = false;
let staleSwept = false;

/** Unmount everything at exit: a prepared image must not outlive the process that mounted it. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const image of [...shared.values()]) image.unmount();
  });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Mount points left by processes that died without their exit hook (SIGKILL). */
function sweepStale(): void {
  if (staleSwept) return;
  staleSwept = true;
  for (const dir of [IMAGES_DIR, WRITABLE_DIR]) {
    let entries: string[] = [];
    try {
      entries = fs.readdirSync(dir);
    } catch {
      continue;
    }
    for (const entry of entries) {
      const pid = Number(entry.split('-')[0]);
      if (!Number.isInteger(pid) || pid <= 0 || pidAlive(pid)) continue;
      const full = path.join(dir, entry);
      try {
        if (dir === WRITABLE_DIR) {
          unmountRootfs(path.join(full, 'root'));
          unmountRootfs(path.join(full, 'scratch'));
        } else {
          unmountRootfs(full);
        }
        fs.rmSync(full, { recursive: true, force: true });
      } catch {
        /* leave it for a later sweep */
      }
    }
  }
}

let mountCounter = 0;

async function loadShared(storeRoot: string, reference: string, trace?: SandboxTrace): Promise<SharedImage> {
  // Opening an ImageStore creates its directories: look before, so a wrong storeRoot creates nothing.
  if (!(await fs.promises.stat(path.join(storeRoot, 'image')).catch(() => null))?.isDirectory()) {
    throw new SandboxOptionError('image', `no image ${JSON.stringify(reference)}: there is no hull image store at ${storeRoot}`, 'ENOIMAGE');
  }
  const store = new ImageStore(storeRoot);
  let record;
  try {
    record = store.getImage(reference);
  } catch (err) {
    if (err instanceof ImageNotFoundError) {
      throw new SandboxOptionError('image', `no image ${JSON.stringify(reference)} in the hull image store at ${storeRoot} (pull or load it first)`, 'ENOIMAGE');
    }
    throw new SandboxOptionError('image', (err as Error).message, 'ENOIMAGE');
  }
  const key = `${storeRoot}\0${record.id}`;
  const existing = shared.get(key);
  if (existing) return existing;
  const layers = store.imageLowerDirs(record);
  const config = store.configOf(record).config ?? {};
  for (const dir of layers) {
    if (!fs.existsSync(dir)) throw new SandboxOptionError('image', `layer directory ${dir} of ${reference} is missing (store damaged?)`, 'ENOIMAGE');
  }
  let rootfs: string;
  let mountPoint: string | undefined;
  if (layers.length === 1) {
    rootfs = layers[0]; // one layer: nothing to merge, use it in place (read-only in the sandbox)
  } else {
    installExitHook();
    sweepStale();
    if (layers.length === 0) throw new SandboxOptionError('image', `${reference} has no layers: nothing to run`, 'ENOIMAGE');
    mountPoint = path.join(IMAGES_DIR, `${process.pid}-${record.id.replace(/^sha256:/, '').slice(0, 12)}-${++mountCounter}`);
    await fs.promises.mkdir(mountPoint, { recursive: true, mode: 0o755 });
    trace?.(-1, 'image', `mount("overlay", ${JSON.stringify(mountPoint)}, "overlay", MS_RDONLY, "lowerdir=<${layers.length} layers>")`);
    try {
      mountRootfs({ layers, target: mountPoint, readonly: true });
    } catch (err) {
      await fs.promises.rmdir(mountPoint).catch(() => undefined);
      throw err;
    }
    rootfs = mountPoint;
  }
  const image = new SharedImage(key, record.id, layers, config, rootfs, mountPoint);
  shared.set(key, image);
  return image;
}

/** The shared image for a reference, prepared on first use; the caller must release() it. */
export async function acquireImage(reference: string, storeRootOption: string | undefined, trace?: SandboxTrace): Promise<SharedImage> {
  const storeRoot = stateRoot(storeRootOption);
  const refKey = `${storeRoot}\0${reference}`;
  let image = byReference.get(refKey);
  if (!image || image.unmounted) {
    let loading = pending.get(refKey);
    if (!loading) {
      loading = loadShared(storeRoot, reference, trace);
      pending.set(refKey, loading);
      loading.finally(() => pending.delete(refKey)).catch(() => undefined);
    }
    image = await loading;
    if (image.unmounted) return acquireImage(reference, storeRootOption, trace); // lost a race with an idle unmount
    byReference.set(refKey, image);
  }
  image.acquire();
  return image;
}

export type { SharedImage };

class PreparedImageHandle implements PreparedImage {
  private isClosed = false;
  constructor(
    private readonly image: SharedImage,
    readonly reference: string,
  ) {}

  get id() { return this.image.id; }
  get rootfs() { return this.image.rootfs; }
  get layers() { return this.image.layers; }
  get config() { return this.image.config; }
  get closed() { return this.isClosed; }

  /** For the sandbox code: one more user of the same mount. */
  share(): SharedImage {
    if (this.isClosed) throw new TypeError('image: this prepared image was closed');
    this.image.acquire();
    return this.image;
  }

  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    this.image.release(0);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Mount an image from the hull store for many sandboxes. Runs with this handle as `image` reuse
 * the mount; close() unmounts it once no running sandbox uses it.
 */
export async function prepareImage(reference: string, options: { storeRoot?: string; trace?: SandboxTrace } = {}): Promise<PreparedImage> {
  if (typeof reference !== 'string' || reference.trim() === '') {
    throw new TypeError(`image: expected an image reference such as "busybox:latest", got ${JSON.stringify(reference)}`);
  }
  const image = await acquireImage(reference, options.storeRoot, options.trace);
  return new PreparedImageHandle(image, reference);
}

/** A prepared image handle → its shared image with one more user (the caller releases it). */
export function shareHandle(handle: PreparedImage): SharedImage {
  if (!(handle instanceof PreparedImageHandle)) throw new TypeError('image: expected a reference string or the result of prepareImage()');
  return handle.share();
}

/** Unmount every implicitly prepared image nobody uses right now (tests, graceful shutdown). */
export async function releaseIdleImages(): Promise<void> {
  for (const image of [...shared.values()]) if (image.idle) image.unmount();
}

// ------------------------------------------------------------------ writable roots

/** A sandbox's private writable root: overlay(lowers + upper on its own tmpfs). */
export class WritableRoot {
  private constructor(
    readonly dir: string,
    readonly root: string,
    private readonly scratch: string,
  ) {}

  static async create(name: string, lowers: readonly string[], sizeBytes: number, trace?: SandboxTrace): Promise<WritableRoot> {
    installExitHookForWritable();
    sweepStale();
    const dir = path.join(WRITABLE_DIR, name);
    const scratch = path.join(dir, 'scratch');
    const root = path.join(dir, 'root');
    await fs.promises.mkdir(scratch, { recursive: true, mode: 0o700 });
    await fs.promises.mkdir(root, { mode: 0o755 });
    const writable = new WritableRoot(dir, root, scratch);
    liveWritable.add(writable);
    try {
      trace?.(-1, 'rootfs', `mount("tmpfs", ${JSON.stringify(scratch)}, "tmpfs", MS_NOSUID|MS_NODEV, "size=${sizeBytes},mode=755")`);
      native().mount('tmpfs', scratch, 'tmpfs', MS_NOSUID | MS_NODEV, `size=${sizeBytes},mode=755`);
      await fs.promises.mkdir(path.join(scratch, 'upper'), { mode: 0o755 });
      await fs.promises.mkdir(path.join(scratch, 'work'), { mode: 0o700 });
      trace?.(-1, 'rootfs', `mount("overlay", ${JSON.stringify(root)}, "overlay", 0, "lowerdir=<${lowers.length}>,upperdir=…/upper,workdir=…/work")`);
      mountRootfs({ layers: [...lowers], upper: path.join(scratch, 'upper'), work: path.join(scratch, 'work'), target: root });
    } catch (err) {
      await writable.remove();
      throw err;
    }
    return writable;
  }

  async remove(): Promise<void> {
    liveWritable.delete(this);
    this.removeSync();
  }

  removeSync(): void {
    for (const target of [this.root, this.scratch]) {
      try {
        unmountRootfs(target);
      } catch {
        try {
          native().umount(target, MNT_DETACH);
        } catch {
          /* not mounted */
        }
      }
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

const liveWritable = new Set<WritableRoot>();
let writableHookInstalled = false;
function installExitHookForWritable(): void {
  if (writableHookInstalled) return;
  writableHookInstalled = true;
  process.once('exit', () => {
    for (const w of liveWritable) w.removeSync();
  });
}
