// `--userns remap` root filesystems through idmapped mounts: each image layer enters the
// container's overlay as a *detached* idmapped mount (native idmappedTree), so the container's root
// (a host id from the subordinate range) sees the image's root-owned files as its own while nothing
// on disk is copied or chowned, and no extra mount is attached anywhere (nothing to unmount or leak:
// the overlay holds the only references). The container's own directories (init layer, upper,
// work) are already owned by the range on disk and enter unmapped.
//
// Where the kernel or the filesystem cannot — no mount_setattr (< 5.12), a filesystem without
// idmapped mounts, an overlay that refuses idmapped layers (< 5.19) or detached ones (checked to
// work on this 6.18; older kernels may answer EINVAL) — create falls back to shifted copies of the
// layers (src/container/userns.ts) with one warning.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { native, type IdMapping } from '../native';
import { mountRootfs, type MountRootfsOptions } from '../image/rootfs';
import type { Spec } from '../runtime/spec';
import { isShiftedLayer, shiftedLayer, type IdRange, type RemapRanges } from './userns';

/** Errors that mean "this kernel/filesystem has no idmapped layers": use copies instead. */
const UNSUPPORTED = new Set(['EINVAL', 'ENOSYS', 'EPERM', 'EOPNOTSUPP', 'ENOTSUP']);

function mapping(r: IdRange): IdMapping[] {
  return [{ inside: 0, outside: r.start, count: r.count }];
}

/** True for layers that are shown through an idmap: image layers, not the container's own dirs or shifted copies. */
export function needsIdmap(stateRoot: string, containerDir: string, layer: string): boolean {
  const abs = path.resolve(layer);
  const own = path.resolve(containerDir) + path.sep;
  return !abs.startsWith(own) && !isShiftedLayer(stateRoot, abs);
}

/**
 * Mounts the overlay with every layer for which `idmap(layer)` holds shown through an idmapped
 * mount of `ranges`. All fds (the user namespace's and the detached mounts') are closed before
 * returning: the mounted overlay keeps what it needs.
 */
export function mountIdmappedRootfs(opts: MountRootfsOptions, ranges: { uid: IdRange; gid: IdRange }, idmap: (layer: string) => boolean): void {
  const n = native();
  const fds: number[] = [];
  try {
    const userns = n.usernsFd(mapping(ranges.uid), mapping(ranges.gid));
    fds.push(userns);
    const layers = opts.layers.map((l) => {
      if (!idmap(l)) return l;
      const fd = n.idmappedTree(path.resolve(l), userns, false);
      fds.push(fd);
      // The magic link resolves to exactly the detached mount (overlay takes layers as fds on 6.13+).
      return `/proc/self/fd/${fd}`;
    });
    mountRootfs({ ...opts, layers });
  } finally {
    for (const fd of fds) fs.closeSync(fd);
  }
}

let warnedFallback = false;

/**
 * The rootfs of a new remapped container: idmapped image layers where possible, else shifted
 * copies (one warning per process). Returns the layers to record (what a later remount uses).
 */
export function mountRemappedRootfs(
  stateRoot: string,
  containerDir: string,
  opts: MountRootfsOptions,
  ranges: RemapRanges,
  warn: (message: string) => void,
): string[] {
  const idmap = (l: string) => needsIdmap(stateRoot, containerDir, l);
  // HULL_USERNS_COPY=1 forces the copy path, so tests cover it on kernels with idmapped mounts.
  if (process.env.HULL_USERNS_COPY !== '1') {
    try {
      mountIdmappedRootfs(opts, ranges, idmap);
      return opts.layers;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (!UNSUPPORTED.has(code)) throw err;
      if (!warnedFallback) {
        warnedFallback = true;
        warn(`--userns remap: no idmapped layers here (${(err as Error).message}); using shifted copies of the image layers`);
      }
    }
  }
  const layers = opts.layers.map((l) => (idmap(l) ? shiftedLayer(stateRoot, l, ranges) : l));
  mountRootfs({ ...opts, layers });
  return layers;
}

/** The id ranges of a remapped container's spec (undefined: not remapped). */
export function specRanges(spec: Spec | undefined): { uid: IdRange; gid: IdRange } | undefined {
  const u = spec?.linux?.uidMappings?.[0];
  const g = spec?.linux?.gidMappings?.[0];
  if (!u || !g) return undefined;
  return { uid: { start: u.hostID, count: u.size }, gid: { start: g.hostID, count: g.size } };
}
