// The container's writable layer: `diff` (A/C/D from the overlay upper dir), `commit` (the upper
// dir as an image layer, overlay whiteouts turned back into `.wh.` files), `export` (the merged
// root filesystem as a tar) and `cp` (in and out, confined to the container's root).
import { spawn, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { PassThrough, type Writable } from 'node:stream';
import { native } from '../native';
import { applyChanges, unpackAndRecord } from '../image/archive';
import { parseReference } from '../image/reference';
import type { ImageRecord, ImageStore } from '../image/store';
import { MediaType, type ContainerConfig, type ImageConfig, type Manifest } from '../image/types';
import { ContainerCliError, usageError } from './errors';
import type { ContainerRecord } from './types';

const OPAQUE_XATTRS = ['trusted.overlay.opaque', 'user.overlay.opaque'];

export interface Change {
  kind: 'A' | 'C' | 'D';
  path: string;
}

function isWhiteout(st: fs.Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

function isOpaque(dir: string): boolean {
  return OPAQUE_XATTRS.some((x) => {
    try {
      return native().getxattr(dir, x)?.toString() === 'y';
    } catch {
      return false;
    }
  });
}

/** Does `rel` exist in the lower layers (top first)? Looked up in-root, so image symlinks stay inside. */
function existsBelow(lowerFds: number[], rel: string): boolean {
  for (const fd of lowerFds) {
    let f: number;
    try {
      f = native().openInRoot(fd, rel, fs.constants.O_RDONLY | 0o10000000 /* O_PATH */ | fs.constants.O_NOFOLLOW, 0);
    } catch {
      continue;
    }
    try {
      const st = fs.fstatSync(f);
      return !isWhiteout(st);
    } finally {
      fs.closeSync(f);
    }
  }
  return false;
}

/** docker diff: every path in the upper dir, A (new), C (changed) or D (deleted), sorted. */
export function diffLayer(upper: string, lowers: string[]): Change[] {
  const lowerFds = lowers.map((l) => fs.openSync(l, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY));
  const changes: Change[] = [];
  const walk = (dir: string, rel: string, parentAdded: boolean) => {
    for (const name of fs.readdirSync(dir).sort()) {
      const full = path.join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = fs.lstatSync(full);
      if (isWhiteout(st)) {
        changes.push({ kind: 'D', path: `/${r}` });
        continue;
      }
      const added = parentAdded || !existsBelow(lowerFds, r);
      changes.push({ kind: added ? 'A' : 'C', path: `/${r}` });
      if (st.isDirectory()) walk(full, r, added);
    }
  };
  try {
    walk(upper, '', false);
  } finally {
    for (const fd of lowerFds) fs.closeSync(fd);
  }
  return changes.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * A copy of the upper dir in image-layer form: whiteout devices become empty `.wh.<name>` files,
 * opaque directories get a `.wh..wh..opq` entry, overlay xattrs are left behind.
 */
function stageLayer(upper: string, stage: string): void {
  const r = spawnSync('cp', ['-a', '--', `${upper}/.`, stage], { encoding: 'utf8' });
  if (r.status !== 0) throw new ContainerCliError(`commit: copy of the container layer failed: ${r.stderr.trim()}`);
  const walk = (dir: string) => {
    if (isOpaque(dir)) {
      for (const x of OPAQUE_XATTRS) {
        try {
          native().removexattr(dir, x);
        } catch {
          /* not set */
        }
      }
      fs.writeFileSync(path.join(dir, '.wh..wh..opq'), '');
    }
    for (const name of fs.readdirSync(dir)) {
      const full = path.join(dir, name);
      const st = fs.lstatSync(full);
      if (isWhiteout(st)) {
        fs.rmSync(full);
        fs.writeFileSync(path.join(dir, `.wh.${name}`), '');
      } else if (st.isDirectory()) {
        walk(full);
      }
    }
  };
  walk(stage);
}

/** tar of `dir` (GNU tar: numeric owners, xattrs, sorted names) into `out`. */
function tarDirectory(dir: string, out: Writable, extra: string[] = []): Promise<void> {
  const child = spawn('tar', ['--numeric-owner', '--sort=name', '--xattrs', '--xattrs-include=security.capability', ...extra, '-C', dir, '-cf', '-', '.'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new ContainerCliError(`tar: ${stderr.trim() || `exit ${code}`}`))));
  });
  return Promise.all([pipeline(child.stdout, out), done]).then(() => undefined);
}

export interface CommitOptions {
  reference?: string;
  message?: string;
  author?: string;
  changes?: string[];
}

/** The container's config as an image config (docker commit keeps Cmd, Env, WorkingDir, …). */
function committedConfig(rec: ContainerRecord, base: ContainerConfig, changes: string[]): ContainerConfig {
  const config: ContainerConfig = {
    ...base,
    User: rec.Config.User || undefined,
    Env: rec.Config.Env.filter((e) => !e.startsWith('HOSTNAME=')),
    Cmd: rec.Config.Cmd ?? undefined,
    Entrypoint: rec.Config.Entrypoint ?? undefined,
    WorkingDir: rec.Config.WorkingDir,
    Labels: Object.keys(rec.Config.Labels).length ? rec.Config.Labels : undefined,
    Volumes: rec.Config.Volumes ?? undefined,
    StopSignal: rec.Config.StopSignal !== 'SIGTERM' ? rec.Config.StopSignal : base.StopSignal,
  };
  for (const k of Object.keys(config) as (keyof ContainerConfig)[]) if (config[k] === undefined) delete config[k];
  return applyChanges(config, changes);
}

/** docker commit: a new image = the container's image + its writable layer. */
export async function commitLayer(store: ImageStore, rec: ContainerRecord, upper: string, workDir: string, opts: CommitOptions): Promise<ImageRecord> {
  const target = opts.reference ? parseReference(opts.reference) : undefined;
  if (target?.digest) throw usageError(`invalid reference "${opts.reference}": a commit is tagged, not pinned by digest`);
  const base = store.getImage(rec.Image);
  const baseManifest = store.manifestOf(base);
  const baseConfig = store.configOf(base);
  const config = committedConfig(rec, baseConfig.config ?? {}, opts.changes ?? []);

  const stage = path.join(workDir, `commit-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
  fs.mkdirSync(stage, { mode: 0o700 });
  const lease = store.createLease();
  const ingest = store.createIngest();
  try {
    stageLayer(upper, stage);
    const diffHash = crypto.createHash('sha256');
    const blobHash = crypto.createHash('sha256');
    let size = 0;
    const tarStream = new PassThrough();
    tarStream.on('data', (c: Buffer) => diffHash.update(c));
    const gz = zlib.createGzip();
    gz.on('data', (c: Buffer) => {
      blobHash.update(c);
      size += c.length;
    });
    const file = fs.createWriteStream(ingest.path, { flags: 'wx', mode: 0o600 });
    await Promise.all([tarDirectory(stage, tarStream), pipeline(tarStream, gz, file)]);
    const blobDigest = `sha256:${blobHash.digest('hex')}`;
    const diffId = `sha256:${diffHash.digest('hex')}`;
    await ingest.commit({ digest: blobDigest, size });
    lease.add(blobDigest);
    const created = new Date().toISOString();
    const imageConfig: ImageConfig = {
      ...baseConfig,
      created,
      ...(opts.author ? { author: opts.author } : {}),
      config,
      rootfs: { type: 'layers', diff_ids: [...(baseConfig.rootfs?.diff_ids ?? []), diffId] },
      history: [
        ...(baseConfig.history ?? []),
        { created, created_by: [rec.Path, ...rec.Args].join(' '), ...(opts.author ? { author: opts.author } : {}), ...(opts.message ? { comment: opts.message } : {}) },
      ],
    };
    const configDigest = store.writeBlob(Buffer.from(JSON.stringify(imageConfig)));
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: configDigest, size: store.blobSize(configDigest) },
      layers: [...baseManifest.layers, { mediaType: MediaType.ociLayerGzip, digest: blobDigest, size }],
    };
    const manifestDigest = store.writeBlob(Buffer.from(JSON.stringify(manifest)));
    lease.add(configDigest, manifestDigest);
    return await unpackAndRecord(store, manifestDigest, target ? [target] : []);
  } finally {
    ingest.abort();
    lease.release();
    fs.rmSync(stage, { recursive: true, force: true });
  }
}

/** docker export: the merged root filesystem as a tar stream. */
export function exportRootfs(rootfs: string, out: Writable): Promise<void> {
  return tarDirectory(rootfs, out);
}

/** Opens `rel` (a container path) in-root as an O_PATH fd; throws docker's "no such file" message. */
function openContainerPath(rootfs: string, rel: string, flags: number): number {
  const rootFd = fs.openSync(rootfs, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    return native().openInRoot(rootFd, rel.replace(/^\/+/, '') || '.', flags, 0);
  } catch (err) {
    throw new ContainerCliError(`Could not find the file ${rel} in container: ${(err as NodeJS.ErrnoException).code}`, 1);
  } finally {
    fs.closeSync(rootFd);
  }
}

const O_PATH = 0o10000000;

/** `cp CONTAINER:SRC DEST`: the parent is opened in-root; cp -a never follows links inside the copy. */
export function copyOut(rootfs: string, src: string, dest: string): void {
  const clean = path.posix.normalize(`/${src}`);
  const parent = path.posix.dirname(clean);
  const base = path.posix.basename(clean);
  const fd = openContainerPath(rootfs, parent, O_PATH | fs.constants.O_DIRECTORY);
  try {
    const from = base ? `/proc/${process.pid}/fd/${fd}/${base}` : `/proc/${process.pid}/fd/${fd}/.`;
    if (base) {
      try {
        fs.lstatSync(from);
      } catch {
        throw new ContainerCliError(`Could not find the file ${src} in container`, 1);
      }
    }
    const target = fs.existsSync(dest) && fs.statSync(dest).isDirectory() && base ? path.join(dest, base) : dest;
    const r = spawnSync('cp', ['-a', '--no-preserve=context', '--', from, target], { encoding: 'utf8' });
    if (r.status !== 0) throw new ContainerCliError(`copy failed: ${r.stderr.trim()}`, 1);
  } finally {
    fs.closeSync(fd);
  }
}

/** `cp SRC CONTAINER:DEST`: into an existing directory, or as a new name in an existing parent. */
export function copyIn(rootfs: string, src: string, dest: string): void {
  if (!fs.existsSync(src)) throw new ContainerCliError(`stat ${src}: no such file or directory`, 1);
  const clean = path.posix.normalize(`/${dest}`);
  let dirFd: number;
  let name: string;
  try {
    dirFd = openContainerPath(rootfs, clean, O_PATH | fs.constants.O_DIRECTORY);
    name = path.basename(path.resolve(src));
  } catch {
    dirFd = openContainerPath(rootfs, path.posix.dirname(clean), O_PATH | fs.constants.O_DIRECTORY);
    name = path.posix.basename(clean);
  }
  try {
    const to = `/proc/${process.pid}/fd/${dirFd}/${name}`;
    const r = spawnSync('cp', ['-a', '--remove-destination', '--no-preserve=context', '--', src, to], { encoding: 'utf8' });
    if (r.status !== 0) throw new ContainerCliError(`copy failed: ${r.stderr.trim()}`, 1);
  } finally {
    fs.closeSync(dirFd);
  }
}
