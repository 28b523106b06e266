// The image store under the state root:
//
//   <root>/image/blobs/sha256/<hex>    content by digest (manifests, configs, compressed layers)
//   <root>/image/ingest/<pid>-<rand>   partial writes; committed by fsync + rename after the check
//   <root>/image/ingest/partial-<hex>  a layer download, flock'ed while in use, resumed after a crash
//   <root>/image/images.json           image records (atomic temp+fsync+rename, under image/lock)
//   <root>/image/leases/<pid>-<rand>   content a running pull/load has written but not yet recorded
//   <root>/layers/<chainid-hex>/diff   unpacked layer in overlay form (shared between images)
//   <root>/layers/<chainid-hex>/meta.json   written last: a layer without it is incomplete
//   <root>/layers/.tmp-<pid>-<rand>    a layer being applied; renamed into place when complete
//
// Crash safety: nothing becomes visible under a final name until it is verified and complete, so
// kill -9 leaves only ingest/tmp/lease leftovers, which are removed once their process is gone.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { assertDigest, chainIds as computeChainIds, digestHex, digestingStream, sha256Digest } from './digest';
import { fsyncDir, ownerPid, pidAlive, tryLockFd, uniqueName, withFileLock, writeFileAtomic } from './fsutil';
import { familiarName, fullString, ImageReference, parseReference, repositoryName } from './reference';
import type { Descriptor, ImageConfig, Manifest } from './types';

/** The contract of src/image/apply.ts (owned by the layer-application code). */
export interface ApplyLayerOptions {
  blob: string | Readable;
  mediaType: string;
  dir: string;
  lowerDirs: string[];
  overlay: boolean;
  expectedDiffId?: string;
}
export type ApplyLayerFn = (options: ApplyLayerOptions) => Promise<{ diffId: string; stats: { entries: number; bytes: number; warnings?: string[] } }>;

export interface LayerRecord {
  /** Digest and size of the blob as distributed (usually gzip). */
  digest: string;
  size: number;
  mediaType: string;
  diffId: string;
  chainId: string;
}

export interface ImageRecord {
  /** Image ID = config digest, like docker. */
  id: string;
  manifestDigest: string;
  manifestMediaType: string;
  /** Fully qualified "docker.io/library/busybox:latest". */
  repoTags: string[];
  /** Fully qualified "docker.io/library/busybox@sha256:…" (where the manifest came from). */
  repoDigests: string[];
  layers: LayerRecord[];
  /** From the image config. */
  created: string;
  /** Unpacked size in bytes (sum of layer contents). */
  size: number;
  /** When this store got the image. */
  added: string;
}

export interface LayerMeta {
  chainId: string;
  diffId: string;
  parent: string | null;
  size: number;
  entries: number;
  created: string;
}

interface ImagesFile {
  version: 1;
  images: Record<string, ImageRecord>;
}

/** Says which image IDs containers use (the containers code registers one). */
export type InUseProvider = (root: string) => Set<string> | Promise<Set<string>>;
let inUseProvider: InUseProvider | undefined;

/** Register the function that reports image IDs in use by containers (rmi refuses those). */
export function setImageInUseProvider(provider: InUseProvider | undefined): void {
  inUseProvider = provider;
}

export class ImageNotFoundError extends Error {
  constructor(what: string) {
    super(`No such image: ${what}`);
    this.name = 'ImageNotFoundError';
  }
}

export interface StoreOptions {
  /** Layer applier; defaults to src/image/apply.ts. Tests inject their own. */
  applyLayer?: ApplyLayerFn;
}

export class ImageStore {
  readonly imageDir: string;
  readonly blobsDir: string;
  readonly ingestDir: string;
  readonly leasesDir: string;
  readonly layersDir: string;
  private readonly imagesFile: string;
  private readonly lockFile: string;
  private readonly applyFn?: ApplyLayerFn;

  constructor(readonly root: string, options: StoreOptions = {}) {
    this.imageDir = path.join(root, 'image');
    this.blobsDir = path.join(this.imageDir, 'blobs', 'sha256');
    this.ingestDir = path.join(this.imageDir, 'ingest');
    this.leasesDir = path.join(this.imageDir, 'leases');
    this.layersDir = path.join(root, 'layers');
    this.imagesFile = path.join(this.imageDir, 'images.json');
    this.lockFile = path.join(this.imageDir, 'lock');
    this.applyFn = options.applyLayer;
    for (const dir of [this.blobsDir, this.ingestDir, this.leasesDir, this.layersDir]) fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  // ---------- blobs ----------

  blobPath(digest: string): string {
    return path.join(this.blobsDir, digestHex(digest));
  }

  hasBlob(digest: string): boolean {
    return fs.existsSync(this.blobPath(digest));
  }

  readBlob(digest: string): Buffer {
    try {
      return fs.readFileSync(this.blobPath(digest));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`blob ${digest} is not in the store`);
      throw err;
    }
  }

  blobSize(digest: string): number {
    return fs.statSync(this.blobPath(digest)).size;
  }

  /** A new ingest file; the caller writes it, then commits with the expected digest and size. */
  createIngest(): Ingest {
    return new Ingest(this, path.join(this.ingestDir, uniqueName()));
  }

  /**
   * The ingest file of a blob download that survives the process (ingest/partial-<hex>), so a pull
   * killed mid-blob resumes where it stopped. Locked with flock while in use; null when another
   * process holds it or flock is unavailable (then use createIngest()).
   */
  openPartialIngest(digest: string): { ingest: Ingest; fd: number; release(): void } | null {
    const file = path.join(this.ingestDir, `partial-${digestHex(digest)}`);
    const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
    if (tryLockFd(fd) !== true) {
      fs.closeSync(fd);
      return null;
    }
    // Between open and lock another process may have committed (renamed) it: make sure it's ours.
    let same = false;
    try {
      same = fs.fstatSync(fd).ino === fs.statSync(file).ino;
    } catch {
      same = false;
    }
    if (!same) {
      fs.closeSync(fd);
      return this.openPartialIngest(digest);
    }
    let closed = false;
    return {
      ingest: new Ingest(this, file),
      fd,
      release: () => {
        if (!closed) fs.closeSync(fd);
        closed = true;
      },
    };
  }

  /** Store bytes whose digest is known (or computed); returns the digest. */
  writeBlob(data: Buffer, expected?: { digest?: string; size?: number; what?: string }): string {
    const digest = sha256Digest(data);
    if (expected?.digest && expected.digest !== digest) {
      throw new Error(`${expected.what ?? 'blob'}: digest mismatch: got ${digest}, expected ${expected.digest}`);
    }
    if (expected?.size !== undefined && expected.size !== data.length) {
      throw new Error(`${expected.what ?? 'blob'}: size mismatch: got ${data.length} bytes, expected ${expected.size}`);
    }
    if (!this.hasBlob(digest)) {
      const ingest = this.createIngest();
      fs.writeFileSync(ingest.path, data);
      ingest.commitVerified(digest);
    }
    return digest;
  }

  /** Stream into the store, verifying digest and size while writing. */
  async writeBlobStream(source: Readable, expected: { digest: string; size?: number; what?: string }): Promise<string> {
    assertDigest(expected.digest, `${expected.what ?? 'blob'} digest`);
    if (this.hasBlob(expected.digest)) {
      source.resume();
      source.destroy();
      return expected.digest;
    }
    const ingest = this.createIngest();
    try {
      await pipeline(source, digestingStream(expected), fs.createWriteStream(ingest.path, { flags: 'wx', mode: 0o600 }));
      ingest.commitVerified(expected.digest);
    } catch (err) {
      ingest.abort();
      throw err;
    }
    return expected.digest;
  }

  // ---------- layers ----------

  layerPath(chainId: string): string {
    return path.join(this.layersDir, digestHex(chainId));
  }

  /** The unpacked directory of a layer (a lowerdir for overlay). */
  layerDiffDir(chainId: string): string {
    return path.join(this.layerPath(chainId), 'diff');
  }

  layerMeta(chainId: string): LayerMeta | null {
    try {
      return JSON.parse(fs.readFileSync(path.join(this.layerPath(chainId), 'meta.json'), 'utf8')) as LayerMeta;
    } catch {
      return null;
    }
  }

  hasLayer(chainId: string): boolean {
    return this.layerMeta(chainId) !== null;
  }

  /** Lower directories for a chain, top first (the order overlay wants). */
  lowerDirs(chainIds: string[]): string[] {
    return chainIds.map((c) => this.layerDiffDir(c)).reverse();
  }

  /**
   * Unpack a committed layer blob as `chainId` on top of `parentChainIds` (bottom first). Applies
   * into a private temp dir, checks the diffID, writes meta.json, then renames into place; when
   * another process got there first, its copy wins.
   */
  async applyLayer(layer: { blobDigest: string; mediaType: string; diffId: string; chainId: string; parentChainIds: string[] }): Promise<LayerMeta> {
    const existing = this.layerMeta(layer.chainId);
    if (existing) return existing;
    for (const parent of layer.parentChainIds) {
      if (!this.hasLayer(parent)) throw new Error(`layer ${layer.chainId}: parent layer ${parent} is not unpacked`);
    }
    const tmp = path.join(this.layersDir, uniqueName('.tmp-'));
    const diff = path.join(tmp, 'diff');
    fs.mkdirSync(diff, { recursive: true, mode: 0o755 });
    try {
      const apply = this.applyFn ?? defaultApplyLayer();
      const result = await apply({
        blob: this.blobPath(layer.blobDigest),
        mediaType: layer.mediaType,
        dir: diff,
        lowerDirs: this.lowerDirs(layer.parentChainIds),
        overlay: true,
        expectedDiffId: layer.diffId,
      });
      if (result.diffId !== layer.diffId) {
        throw new Error(`layer ${layer.blobDigest}: diffID mismatch: got ${result.diffId}, image config says ${layer.diffId}`);
      }
      const meta: LayerMeta = {
        chainId: layer.chainId,
        diffId: layer.diffId,
        parent: layer.parentChainIds.length ? layer.parentChainIds[layer.parentChainIds.length - 1] : null,
        size: result.stats.bytes,
        entries: result.stats.entries,
        created: new Date().toISOString(),
      };
      writeFileAtomic(path.join(tmp, 'meta.json'), JSON.stringify(meta, null, 2));
      try {
        fs.renameSync(tmp, this.layerPath(layer.chainId));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
        // An incomplete leftover (no meta.json) from a killed process: replace it.
        if (!this.hasLayer(layer.chainId)) {
          removeTree(this.layerPath(layer.chainId));
          fs.renameSync(tmp, this.layerPath(layer.chainId));
        } else {
          removeTree(tmp);
        }
      }
      fsyncDir(this.layersDir);
      return this.layerMeta(layer.chainId) ?? meta;
    } catch (err) {
      removeTree(tmp);
      throw err;
    }
  }

  // ---------- image records ----------

  /** Run `fn` holding the store lock (records, tags, garbage collection). */
  withLock<T>(fn: () => Promise<T> | T): Promise<T> {
    return withFileLock(this.lockFile, fn);
  }

  /** Current records (no lock: the file is replaced atomically). */
  readImages(): Record<string, ImageRecord> {
    try {
      const data = JSON.parse(fs.readFileSync(this.imagesFile, 'utf8')) as ImagesFile;
      return data.images ?? {};
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw new Error(`${this.imagesFile}: ${(err as Error).message}`);
    }
  }

  private writeImages(images: Record<string, ImageRecord>): void {
    const data: ImagesFile = { version: 1, images };
    writeFileAtomic(this.imagesFile, JSON.stringify(data, null, 2) + '\n', 0o600);
  }

  /** Read-modify-write of the records under the lock. */
  updateImages<T>(fn: (images: Record<string, ImageRecord>) => T): Promise<T> {
    return this.withLock(() => {
      const images = this.readImages();
      const result = fn(images);
      this.writeImages(images);
      return result;
    });
  }

  listImages(): ImageRecord[] {
    return Object.values(this.readImages()).sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : 0));
  }

  /**
   * Record an image whose manifest, config and layer blobs are in the store and whose layers are
   * unpacked. `tags` move to this image from any other (a tag names one image).
   */
  async addImage(input: { manifestDigest: string; tags: ImageReference[]; repoDigest?: { ref: ImageReference; digest: string } }): Promise<ImageRecord> {
    const manifestBytes = this.readBlob(input.manifestDigest);
    const manifest = JSON.parse(manifestBytes.toString('utf8')) as Manifest;
    const config = JSON.parse(this.readBlob(manifest.config.digest).toString('utf8')) as ImageConfig;
    const diffIds = config.rootfs?.diff_ids ?? [];
    if (diffIds.length !== manifest.layers.length) {
      throw new Error(`image ${manifest.config.digest}: config lists ${diffIds.length} diffIDs for ${manifest.layers.length} layers`);
    }
    const chain = computeChainIds(diffIds);
    const layers: LayerRecord[] = manifest.layers.map((d: Descriptor, i) => ({
      digest: d.digest,
      size: d.size,
      mediaType: d.mediaType,
      diffId: diffIds[i],
      chainId: chain[i],
    }));
    let size = 0;
    for (const layer of layers) {
      const meta = this.layerMeta(layer.chainId);
      if (!meta) throw new Error(`image ${manifest.config.digest}: layer ${layer.chainId} is not unpacked`);
      size += meta.size;
    }
    const id = manifest.config.digest;
    return this.updateImages((images) => {
      const tagStrings = input.tags.map(fullString);
      for (const other of Object.values(images)) {
        if (other.id !== id) other.repoTags = other.repoTags.filter((t) => !tagStrings.includes(t));
      }
      const previous = images[id];
      const repoDigests = new Set(previous?.repoDigests ?? []);
      if (input.repoDigest) repoDigests.add(`${repositoryName(input.repoDigest.ref)}@${assertDigest(input.repoDigest.digest)}`);
      const record: ImageRecord = {
        id,
        manifestDigest: input.manifestDigest,
        manifestMediaType: manifest.mediaType ?? 'application/vnd.oci.image.manifest.v1+json',
        repoTags: [...new Set([...(previous?.repoTags ?? []), ...tagStrings])],
        repoDigests: [...repoDigests],
        layers,
        created: config.created ?? new Date(0).toISOString(),
        size,
        added: previous?.added ?? new Date().toISOString(),
      };
      images[id] = record;
      return record;
    });
  }

  /**
   * Find an image by name[:tag], name@digest, full ID, "sha256:" ID, or unique ID prefix.
   * Returns null when nothing matches; throws when a prefix is ambiguous.
   */
  findImage(nameOrId: string, images = this.readImages()): ImageRecord | null {
    const idLike = nameOrId.replace(/^sha256:/, '');
    if (/^[a-f0-9]{64}$/.test(idLike) && images[`sha256:${idLike}`]) return images[`sha256:${idLike}`];
    let ref: ImageReference | null = null;
    try {
      ref = parseReference(nameOrId);
    } catch {
      ref = null;
    }
    if (ref) {
      const list = Object.values(images);
      if (ref.digest) {
        const repo = repositoryName(ref);
        const hit = list.find((img) => img.repoDigests.includes(`${repo}@${ref!.digest}`)) ??
          list.find((img) => img.manifestDigest === ref!.digest && img.repoTags.some((t) => t.startsWith(repo + ':')));
        if (hit) return hit;
      } else {
        const full = fullString(ref);
        const hit = list.find((img) => img.repoTags.includes(full));
        if (hit) return hit;
      }
    }
    if (/^[a-f0-9]{1,64}$/.test(idLike) && (idLike.length >= 3 || nameOrId.startsWith('sha256:'))) {
      const matches = Object.keys(images).filter((id) => id.startsWith(`sha256:${idLike}`));
      if (matches.length > 1) throw new Error(`image ID prefix "${nameOrId}" is ambiguous (${matches.length} images)`);
      if (matches.length === 1) return images[matches[0]];
    }
    return null;
  }

  getImage(nameOrId: string): ImageRecord {
    const found = this.findImage(nameOrId);
    if (!found) throw new ImageNotFoundError(nameOrId);
    return found;
  }

  manifestOf(image: ImageRecord): Manifest {
    return JSON.parse(this.readBlob(image.manifestDigest).toString('utf8')) as Manifest;
  }

  configOf(image: ImageRecord): ImageConfig {
    return JSON.parse(this.readBlob(image.id).toString('utf8')) as ImageConfig;
  }

  /** Lower directories (top first) of an image's root filesystem. */
  imageLowerDirs(image: ImageRecord): string[] {
    return this.lowerDirs(image.layers.map((l) => l.chainId));
  }

  /** `hull tag SOURCE TARGET`. */
  async tag(source: string, target: string): Promise<ImageRecord> {
    const targetRef = parseReference(target);
    if (targetRef.digest) throw new Error(`refusing to create a tag with a digest: "${target}"`);
    const full = fullString(targetRef);
    return this.updateImages((images) => {
      const image = this.findImage(source, images);
      if (!image) throw new ImageNotFoundError(source);
      for (const other of Object.values(images)) other.repoTags = other.repoTags.filter((t) => t !== full);
      images[image.id].repoTags.push(full);
      return images[image.id];
    });
  }

  /** Image IDs used by containers: the registered provider, plus <root>/containers/*.json records. */
  async imagesInUse(): Promise<Set<string>> {
    const used = new Set<string>(inUseProvider ? await inUseProvider(this.root) : []);
    const dir = path.join(this.root, 'containers');
    let entries: string[] = [];
    try {
      entries = fs.readdirSync(dir);
    } catch {
      return used;
    }
    for (const entry of entries) {
      for (const file of ['config.json', 'container.json', 'state.json']) {
        try {
          const json = JSON.parse(fs.readFileSync(path.join(dir, entry, file), 'utf8')) as Record<string, unknown>;
          for (const key of ['imageId', 'ImageID', 'image', 'Image']) {
            const v = json[key];
            if (typeof v === 'string' && /^sha256:[a-f0-9]{64}$/.test(v)) used.add(v);
          }
        } catch {
          /* not a container record */
        }
      }
    }
    return used;
  }

  /**
   * `hull rmi`: a tag removes just that tag (the image goes when its last tag does); an ID removes
   * the image. An image in use is refused; with `force`, only its tags go (the image stays for its
   * containers, like docker). Returns docker-style "Untagged:" / "Deleted:" lines.
   */
  async removeImage(nameOrId: string, options: { force?: boolean } = {}): Promise<string[]> {
    const inUse = await this.imagesInUse();
    const out: string[] = [];
    await this.updateImages((images) => {
      const image = this.findImage(nameOrId, images);
      if (!image) throw new ImageNotFoundError(nameOrId);
      let ref: ImageReference | null = null;
      try {
        ref = parseReference(nameOrId);
      } catch {
        ref = null;
      }
      const byTag = ref && !ref.digest ? fullString(ref) : null;
      const isTagged = byTag !== null && image.repoTags.includes(byTag);
      if (isTagged && image.repoTags.length > 1) {
        image.repoTags = image.repoTags.filter((t) => t !== byTag);
        out.push(`Untagged: ${displayTag(byTag!)}`);
        return;
      }
      if (!isTagged && image.repoTags.length > 1 && !options.force) {
        throw conflict(`unable to delete ${shortId(image.id)} (must be forced) - image is referenced in multiple repositories`);
      }
      if (inUse.has(image.id)) {
        if (!options.force) {
          throw conflict(`unable to remove image ${nameOrId}: image ${shortId(image.id)} is in use by a container (use -f to untag it)`);
        }
        for (const t of image.repoTags) out.push(`Untagged: ${displayTag(t)}`);
        image.repoTags = [];
        return;
      }
      for (const t of image.repoTags) out.push(`Untagged: ${displayTag(t)}`);
      for (const d of image.repoDigests) out.push(`Untagged: ${displayTag(d)}`);
      delete images[image.id];
      out.push(`Deleted: ${image.id}`);
    });
    await this.garbageCollect();
    return out;
  }

  /** `image prune`: remove untagged images not in use (with `all`, every image not in use). */
  async prune(options: { all?: boolean } = {}): Promise<{ deleted: string[]; reclaimed: number }> {
    const inUse = await this.imagesInUse();
    const deleted: string[] = [];
    await this.updateImages((images) => {
      for (const image of Object.values(images)) {
        if (inUse.has(image.id)) continue;
        if (image.repoTags.length === 0 || options.all) {
          delete images[image.id];
          deleted.push(image.id);
        }
      }
    });
    const reclaimed = await this.garbageCollect();
    return { deleted, reclaimed };
  }

  /**
   * Remove blobs and layers no image record references (and no live lease protects), plus
   * leftovers of dead processes. Returns the bytes freed.
   */
  async garbageCollect(): Promise<number> {
    return this.withLock(() => {
      this.cleanLeftovers({ partials: true });
      const images = Object.values(this.readImages());
      const keepBlobs = new Set<string>();
      const keepLayers = new Set<string>();
      for (const image of images) {
        keepBlobs.add(image.manifestDigest);
        keepBlobs.add(image.id);
        for (const l of image.layers) {
          keepBlobs.add(l.digest);
          keepLayers.add(l.chainId);
        }
      }
      for (const lease of this.liveLeases()) {
        for (const d of lease) {
          keepBlobs.add(d);
          keepLayers.add(d);
        }
      }
      let freed = 0;
      for (const hex of safeReaddir(this.blobsDir)) {
        if (keepBlobs.has(`sha256:${hex}`)) continue;
        const file = path.join(this.blobsDir, hex);
        try {
          freed += fs.lstatSync(file).size;
          fs.rmSync(file, { force: true });
        } catch {
          /* raced with another remover */
        }
      }
      for (const name of safeReaddir(this.layersDir)) {
        if (name.startsWith('.') || keepLayers.has(`sha256:${name}`)) continue;
        const meta = this.layerMetaByDir(name);
        freed += meta?.size ?? 0;
        removeTree(path.join(this.layersDir, name));
      }
      return freed;
    });
  }

  private layerMetaByDir(name: string): LayerMeta | null {
    try {
      return JSON.parse(fs.readFileSync(path.join(this.layersDir, name, 'meta.json'), 'utf8')) as LayerMeta;
    } catch {
      return null;
    }
  }

  /**
   * Remove ingest files, temp layers and leases whose process is gone (kill -9 leftovers). Partial
   * downloads (kept for resuming) go only with `partials`, and never while a pull holds them.
   */
  cleanLeftovers(options: { partials?: boolean } = {}): void {
    for (const name of safeReaddir(this.ingestDir)) {
      const file = path.join(this.ingestDir, name);
      if (name.startsWith('partial-')) {
        if (options.partials) this.removePartialIfIdle(file);
        continue;
      }
      const pid = ownerPid(name);
      if (pid === null || !pidAlive(pid)) fs.rmSync(file, { force: true, recursive: true });
    }
    for (const name of safeReaddir(this.leasesDir)) {
      const pid = ownerPid(name);
      if (pid === null || !pidAlive(pid)) fs.rmSync(path.join(this.leasesDir, name), { force: true });
    }
    for (const name of safeReaddir(this.layersDir)) {
      if (!name.startsWith('.tmp-')) continue;
      const pid = ownerPid(name, '.tmp-');
      if (pid === null || !pidAlive(pid)) removeTree(path.join(this.layersDir, name));
    }
  }

  /** Unlink a partial download unless a pull holds it; unlinked under our lock, so no pull can be mid-open. */
  private removePartialIfIdle(file: string): void {
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch {
      return;
    }
    try {
      if (tryLockFd(fd) !== false) fs.rmSync(file, { force: true });
    } finally {
      fs.closeSync(fd);
    }
  }

  private liveLeases(): string[][] {
    const out: string[][] = [];
    for (const name of safeReaddir(this.leasesDir)) {
      const pid = ownerPid(name);
      if (pid === null || !pidAlive(pid)) continue;
      try {
        out.push(JSON.parse(fs.readFileSync(path.join(this.leasesDir, name), 'utf8')) as string[]);
      } catch {
        /* being written */
      }
    }
    return out;
  }

  /** Protect content a pull or load is writing from a concurrent garbage collection. */
  createLease(): Lease {
    return new Lease(path.join(this.leasesDir, uniqueName()));
  }

  /** `system df` figures. */
  diskUsage(): { images: number; imagesSize: number; layers: number; layersSize: number; blobsSize: number; reclaimable: number } {
    const images = this.listImages();
    let blobsSize = 0;
    for (const hex of safeReaddir(this.blobsDir)) {
      try {
        blobsSize += fs.statSync(path.join(this.blobsDir, hex)).size;
      } catch {
        /* removed meanwhile */
      }
    }
    const layerSizes = new Map<string, number>();
    for (const name of safeReaddir(this.layersDir)) {
      if (name.startsWith('.')) continue;
      layerSizes.set(`sha256:${name}`, this.layerMetaByDir(name)?.size ?? 0);
    }
    const layersSize = [...layerSizes.values()].reduce((a, b) => a + b, 0);
    const tagged = new Set(images.filter((i) => i.repoTags.length > 0).flatMap((i) => i.layers.map((l) => l.chainId)));
    const reclaimable = [...layerSizes.entries()].filter(([c]) => !tagged.has(c)).reduce((a, [, s]) => a + s, 0);
    return { images: images.length, imagesSize: images.reduce((a, i) => a + i.size, 0), layers: layerSizes.size, layersSize, blobsSize, reclaimable };
  }
}

/** A partial blob under ingest/: write to `path`, then commit. */
export class Ingest {
  constructor(private readonly store: ImageStore, readonly path: string) {}

  /** Bytes written so far (for Range resume). */
  size(): number {
    try {
      return fs.statSync(this.path).size;
    } catch {
      return 0;
    }
  }

  /** Hash the file, compare, fsync and rename into blobs/. */
  async commit(expected: { digest: string; size?: number; what?: string }): Promise<void> {
    assertDigest(expected.digest, `${expected.what ?? 'blob'} digest`);
    await pipeline(fs.createReadStream(this.path), digestingStream(expected), async function* (source) {
      for await (const _ of source) {
        /* hashing only */
      }
    });
    this.commitVerified(expected.digest);
  }

  /** Commit bytes already verified to have `digest`. */
  commitVerified(digest: string): void {
    const fd = fs.openSync(this.path, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(this.path, this.store.blobPath(digest));
    fsyncDir(this.store.blobsDir);
  }

  abort(): void {
    fs.rmSync(this.path, { force: true });
  }
}

/** A list of digests/chainIDs that garbage collection leaves alone while this process lives. */
export class Lease {
  private readonly items = new Set<string>();
  constructor(private readonly file: string) {}

  add(...digests: string[]): void {
    for (const d of digests) this.items.add(d);
    writeFileAtomic(this.file, JSON.stringify([...this.items]));
  }

  release(): void {
    fs.rmSync(this.file, { force: true });
  }
}

function conflict(message: string): Error {
  return new Error(`conflict: ${message}`);
}

function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

function removeTree(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}

function defaultApplyLayer(): ApplyLayerFn {
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    return (require('./apply') as { applyLayer: ApplyLayerFn }).applyLayer;
  } catch (err) {
    throw new Error(`layer application is not available: ${(err as Error).message}`);
  }
}

/** "sha256:abc…" -> "abc…" first 12 hex digits, docker's short image ID. */
export function shortId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}

/** "docker.io/library/busybox:latest" -> "busybox:latest". */
export function displayTag(full: string): string {
  try {
    const ref = parseReference(full);
    return familiarName(ref) + (ref.digest ? `@${ref.digest}` : `:${ref.tag}`);
  } catch {
    return full;
  }
}
