// Container root filesystems from a chain of applied layer directories (overlay form, see
// native/layer.cc): an overlay mount with a writable upper per container, or — where overlay cannot
// be used — a merged copy. docs/internals/layers.md explains both.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { native } from '../native';

/**
 * Overlay options hull always sets: no redirect or metacopy xattrs are ever followed (a layer could
 * otherwise point overlay at files it does not own, REFERENCE §8), and no inode index (layers are
 * shared between containers, as containerd does).
 */
export const OVERLAY_OPTIONS = ['redirect_dir=off', 'metacopy=off', 'index=off'];

/** Linux caps an overlay at 500 lower layers (OVL_MAX_STACK). */
export const MAX_OVERLAY_LAYERS = 500;

const MS_BIND = 0x1000;
const MNT_DETACH = 2;
const UMOUNT_NOFOLLOW = 8;

export interface MountRootfsOptions {
  /** Layer directories, top first. */
  layers: string[];
  /** The container's writable directory and the overlay work dir (same filesystem); omit for read-only. */
  upper?: string;
  work?: string;
  /** The mount point (an existing directory). */
  target: string;
  /** Read-only root: the layers only, no upper. */
  readonly?: boolean;
  /**
   * A writable layer that is thrown away (`run --rm`): overlay's `volatile`, so nothing syncs the
   * upper filesystem, not even the unmount (~1.5 ms, far more while other I/O is queued). The
   * kernel then marks the work dir (work/work/incompat/volatile) and refuses to mount that upper
   * again until the mark is removed (see clearVolatileMark).
   */
  volatile?: boolean;
}

export class RootfsError extends Error {
  constructor(message: string, readonly code: string) {
    super(message);
    this.name = 'RootfsError';
  }
}

/** Mounts the overlay (or, with no layers at all, binds the upper dir) at `target`. */
export function mountRootfs(opts: MountRootfsOptions): void {
  const layers = opts.layers.map((l) => path.resolve(l));
  const target = path.resolve(opts.target);
  if (layers.length > MAX_OVERLAY_LAYERS) {
    throw new RootfsError(`${layers.length} layers: overlayfs stacks at most ${MAX_OVERLAY_LAYERS}`, 'EHULLLAYERS');
  }
  const n = native();
  if (opts.readonly || !opts.upper) {
    if (layers.length === 0) throw new RootfsError(`read-only root filesystem for ${target} has no layers`, 'EHULLLAYERS');
    n.mountOverlay(target, layers, null, null, OVERLAY_OPTIONS);
    return;
  }
  if (!opts.work) throw new RootfsError(`overlay upper ${opts.upper} needs a work directory`, 'EINVAL');
  const upper = path.resolve(opts.upper);
  if (layers.length === 0) {
    // An image with no layers (FROM scratch + nothing): the container writes straight into upper.
    n.mount(upper, target, null, MS_BIND, null);
    return;
  }
  n.mountOverlay(target, layers, upper, path.resolve(opts.work), opts.volatile ? [...OVERLAY_OPTIONS, 'volatile'] : OVERLAY_OPTIONS);
}

/**
 * Lets a `volatile` upper be mounted again (after a reboot took the mount away). Only for a layer
 * that is disposable anyway: the mark says writes may have been lost in a crash.
 */
export function clearVolatileMark(work: string): void {
  fs.rmSync(path.join(work, 'work', 'incompat', 'volatile'), { recursive: true, force: true });
}

/** Decodes the octal escapes mountinfo uses for spaces, tabs, newlines and backslashes. */
function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** True when `target` is itself a mount point (not merely inside one). */
export function isMountPoint(target: string): boolean {
  const abs = path.resolve(target);
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((line) => line && unescapeMountinfo(line.split(' ')[4] ?? '') === abs);
}

/**
 * Detaches the root filesystem mounted at `target`. Does nothing (returns false) when nothing is
 * mounted there, so it never detaches an unrelated mount that merely contains `target`: umount2
 * detaches only a mount whose root `target` is, and says EINVAL for any other directory (no
 * mountinfo to read and scan first, which grows with the host's mounts).
 */
export function unmountRootfs(target: string): boolean {
  const abs = path.resolve(target);
  try {
    native().umount(abs, MNT_DETACH | UMOUNT_NOFOLLOW);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EINVAL' || code === 'ENOENT') return false;
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Copy fallback: for filesystems overlay refuses as upper (e.g. an overlay upper nested on
// overlayfs without xattr support, some FUSE or NFS roots) or kernels without overlay.

const OPAQUE_XATTRS = ['trusted.overlay.opaque', 'user.overlay.opaque'];

function isOverlayXattr(name: string): boolean {
  return name.startsWith('trusted.overlay.') || name.startsWith('user.overlay.');
}

function isWhiteout(st: fs.Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

function isOpaque(dir: string): boolean {
  const n = native();
  return OPAQUE_XATTRS.some((x) => n.getxattr(dir, x)?.toString() === 'y');
}

async function removeAny(p: string): Promise<void> {
  await fs.promises.rm(p, { recursive: true, force: true });
}

function copyXattrs(src: string, dst: string): void {
  const n = native();
  for (const name of n.listxattr(src)) {
    if (isOverlayXattr(name)) continue;
    const value = n.getxattr(src, name);
    if (value === null) continue;
    try {
      n.setxattr(dst, name, value, 0);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw err;
    }
  }
}

/** create → lchown → xattrs → chmod → times, as the native applier does. */
async function copyMetadata(src: string, dst: string, st: fs.Stats): Promise<void> {
  await fs.promises.lchown(dst, st.uid, st.gid);
  copyXattrs(src, dst);
  if (!st.isSymbolicLink()) await fs.promises.chmod(dst, st.mode & 0o7777);
  await fs.promises.lutimes(dst, st.atimeMs / 1000, st.mtimeMs / 1000);
}

/**
 * Merges overlay-form layer directories (top first) into the plain directory `target`: whiteouts
 * delete, opaque directories drop what lower layers put there, hardlinks inside a layer stay
 * hardlinks. Nothing is mounted; the result is an ordinary directory tree. Paths under `target`
 * are only ever entered after checking they are real directories we created or merged, so a
 * symlink from a lower layer is replaced, never followed.
 */
export async function copyRootfsFallback(opts: { layers: string[]; target: string }): Promise<void> {
  const target = path.resolve(opts.target);
  await fs.promises.mkdir(target, { recursive: true });
  for (const layer of [...opts.layers].reverse()) {
    const links = new Map<string, string>(); // "dev:ino" of the layer file -> first copy in target
    await mergeDir(path.resolve(layer), target, links);
  }
}

async function mergeDir(src: string, dst: string, links: Map<string, string>): Promise<void> {
  if (isOpaque(src)) {
    for (const name of await fs.promises.readdir(dst)) await removeAny(path.join(dst, name));
  }
  const dirStat = await fs.promises.lstat(src);
  for (const name of await fs.promises.readdir(src)) {
    const s = path.join(src, name);
    const d = path.join(dst, name);
    const st = await fs.promises.lstat(s);
    if (isWhiteout(st)) {
      await removeAny(d);
      continue;
    }
    const existing = await fs.promises.lstat(d).catch(() => null);
    if (st.isDirectory()) {
      if (!existing?.isDirectory()) {
        if (existing) await removeAny(d);
        await fs.promises.mkdir(d, { mode: 0o700 });
      }
      await mergeDir(s, d, links);
      continue;
    }
    if (existing) await removeAny(d);
    const key = `${st.dev}:${st.ino}`;
    const first = st.nlink > 1 ? links.get(key) : undefined;
    if (first) {
      await fs.promises.link(first, d);
      continue;
    }
    if (st.isFile()) {
      await fs.promises.copyFile(s, d, fs.constants.COPYFILE_FICLONE);
    } else if (st.isSymbolicLink()) {
      await fs.promises.symlink(await fs.promises.readlink(s), d);
    } else if (st.isCharacterDevice() || st.isBlockDevice() || st.isFIFO()) {
      const type = st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : 'p';
      const major = (st.rdev >> 8) & 0xfff;
      const minor = (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00);
      native().mknod(d, type, st.mode & 0o7777, major, minor);
    } else {
      continue; // sockets are not layer content
    }
    await copyMetadata(s, d, st);
    if (st.nlink > 1) links.set(key, d);
  }
  // Directory metadata last: the merge above changed its times.
  await copyMetadata(src, dst, dirStat);
}
