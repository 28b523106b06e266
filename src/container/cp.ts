// `hull cp` through volumes and bind mounts: a container path at or below a mount point is read or
// written in the mount's host directory (docker does the same), still confined: the part below the
// mount point is resolved in-root (openat2 RESOLVE_IN_ROOT) relative to that directory.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ContainerCliError } from './errors';
import { copyIn, copyOut } from './layer';
import type { MountPoint } from './types';

/** Where a container path lives on the host: a root to resolve in, the path below it, the mount if any. */
export interface CopyLocation {
  root: string;
  rel: string;
  mount?: MountPoint;
}

/**
 * The deepest volume or bind mount at or above `containerPath` (compared component by component
 * after `..` is folded, as docker does before it looks at mounts), else the container's rootfs.
 * tmpfs mounts have no host directory: a path in one resolves in the rootfs beneath it.
 */
export function locateCopyPath(mounts: readonly MountPoint[], rootfs: string, containerPath: string): CopyLocation {
  const clean = path.posix.normalize(`/${containerPath}`).replace(/(.)\/+$/, '$1');
  let best: MountPoint | undefined;
  let bestDest = '';
  for (const m of mounts) {
    if (m.Type === 'tmpfs' || !m.Source) continue;
    const dest = path.posix.normalize(`/${m.Destination}`).replace(/(.)\/+$/, '$1');
    const inside = clean === dest || clean.startsWith(dest === '/' ? '/' : `${dest}/`);
    if (inside && dest.length >= bestDest.length) {
      best = m;
      bestDest = dest;
    }
  }
  if (!best) return { root: rootfs, rel: clean };
  return { root: best.Source, rel: `/${clean.slice(bestDest.length).replace(/^\/+/, '')}`, mount: best };
}

/**
 * docker cp in either direction, through the container's mounts. `rootfs` is the mounted root
 * filesystem; the caller keeps the container paused meanwhile.
 */
export function copyThroughMounts(
  mounts: readonly MountPoint[], rootfs: string, direction: 'in' | 'out', containerPath: string, hostPath: string,
): void {
  const loc = locateCopyPath(mounts, rootfs, containerPath);
  if (direction === 'in' && loc.mount && !loc.mount.RW) {
    throw new ContainerCliError(`mounted volume is marked read-only: ${loc.mount.Destination}`, 1);
  }
  let root = loc.root;
  let rel = loc.rel;
  if (loc.mount && !isDirectory(loc.root)) {
    // A bind-mounted file: only the file itself, found in its host directory.
    if (rel !== '/') throw new ContainerCliError(`Could not find the file ${containerPath} in container`, 1);
    if (direction === 'in') throw new ContainerCliError(`copying onto the bind-mounted file ${loc.mount.Destination} is not supported`, 1);
    root = path.dirname(loc.root);
    rel = `/${path.basename(loc.root)}`;
    copyOut(root, rel, hostPath);
    return;
  }
  if (direction === 'in') {
    copyIn(root, hostPath, rel);
    return;
  }
  if (loc.mount && rel === '/') {
    // The mount point itself: named after the mount point, not after the host directory.
    const name = path.posix.basename(loc.mount.Destination);
    const target = fs.existsSync(hostPath) && fs.statSync(hostPath).isDirectory() && name ? path.join(hostPath, name) : hostPath;
    copyOut(root, '/', target);
    return;
  }
  copyOut(root, rel, hostPath);
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}
