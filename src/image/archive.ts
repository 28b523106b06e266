// Image tarballs: `load` (docker-archive legacy and Docker >= 25 OCI-inside, oci-archive / OCI
// layout, gzip'ed or plain), `save` (docker-archive with BOTH manifest.json and an OCI layout, so
// docker load, containerd and skopeo all read it) and `import` of a root filesystem tarball.
//
// node-tar handles only the OUTER archive (plain files and directories); layers are applied by
// src/image/apply.ts. Every blob is verified against its digest before it enters the store.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import { assertDigest, chainIds, digestHex, digestStream, sha256Digest } from './digest';
import { fsyncDir, uniqueName } from './fsutil';
import { hostPlatform, selectManifest, formatPlatform, PlatformSpec } from './platform';
import { familiarName, fullString, ImageReference, parseReference } from './reference';
import { ImageRecord, ImageStore } from './store';
import {
  ContainerConfig, Descriptor, ImageConfig, Index, isIndexMediaType, isManifestMediaType, Manifest, MAX_MANIFEST_BYTES, MediaType,
} from './types';

export interface ProgressSink {
  (line: string): void;
}

/** Apply an image's layers (bottom first, skipping those already unpacked) and record it. */
export async function unpackAndRecord(
  store: ImageStore,
  manifestDigest: string,
  tags: ImageReference[],
  options: {
    repoDigest?: { ref: ImageReference; digest: string };
    onLayer?: (layer: Descriptor, state: 'exists' | 'applied') => void;
    /** Lease the layer chainIDs against a concurrent garbage collection until the record exists. */
    protect?: (...ids: string[]) => void;
  } = {},
): Promise<ImageRecord> {
  const manifest = JSON.parse(store.readBlob(manifestDigest).toString('utf8')) as Manifest;
  const config = JSON.parse(store.readBlob(manifest.config.digest).toString('utf8')) as ImageConfig;
  const diffIds = config.rootfs?.diff_ids ?? [];
  if (diffIds.length !== manifest.layers.length) {
    throw new Error(`image config ${manifest.config.digest} lists ${diffIds.length} diffIDs for ${manifest.layers.length} layers`);
  }
  const chain = chainIds(diffIds);
  options.protect?.(...chain);
  for (let i = 0; i < manifest.layers.length; i++) {
    const layer = manifest.layers[i];
    if (store.hasLayer(chain[i])) {
      options.onLayer?.(layer, 'exists');
      continue;
    }
    await store.applyLayer({ blobDigest: layer.digest, mediaType: layer.mediaType, diffId: diffIds[i], chainId: chain[i], parentChainIds: chain.slice(0, i) });
    options.onLayer?.(layer, 'applied');
  }
  return store.addImage({ manifestDigest, tags, repoDigest: options.repoDigest });
}

// ---------------------------------------------------------------- load

export interface LoadOptions {
  /** Platform to pick from multi-platform indexes (default: the host's). */
  platform?: PlatformSpec;
  progress?: ProgressSink;
}

/** Load a docker-archive, oci-archive or OCI layout tarball (plain or gzip). Returns the loaded images. */
export async function loadArchive(store: ImageStore, input: string | Readable, options: LoadOptions = {}): Promise<ImageRecord[]> {
  const work = path.join(store.ingestDir, uniqueName());
  fs.mkdirSync(work, { mode: 0o700 });
  const lease = store.createLease();
  try {
    const source = typeof input === 'string' ? fs.createReadStream(input) : input;
    let refused: string | null = null;
    await pipeline(
      source,
      tar.x({
        cwd: work,
        strict: true,
        // An image archive holds files, directories and links between them (skopeo's
        // docker-archive links <id>/layer.tar to the blob); devices, FIFOs and the like are skipped.
        // Links are followed later only after checking that they stay inside the archive.
        filter: (_p, entry) => {
          const type = (entry as tar.ReadEntry).type;
          if (['File', 'OldFile', 'ContiguousFile', 'Directory', 'SymbolicLink', 'Link'].includes(type)) return true;
          refused ??= `unexpected ${type} entry "${(entry as tar.ReadEntry).path}"`;
          return false;
        },
        preserveOwner: false,
      }),
    );
    if (refused) throw new Error(`image archive: ${refused}`);
    return await loadFromDirectory(store, work, lease.add.bind(lease), options);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'TAR_BAD_ARCHIVE' || /TAR_BAD_ARCHIVE|invalid tar|unrecognized archive/i.test(String((err as Error).message))) {
      throw new Error(`${typeof input === 'string' ? input : 'input'}: not a tar archive (${(err as Error).message})`);
    }
    throw err;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
    lease.release();
  }
}

/** Load from an unpacked archive or an OCI layout directory. */
export async function loadFromDirectory(store: ImageStore, dir: string, protect: (...d: string[]) => void = () => {}, options: LoadOptions = {}): Promise<ImageRecord[]> {
  const progress = options.progress ?? (() => {});
  const hasIndex = fs.existsSync(path.join(dir, 'index.json'));
  const hasDockerManifest = fs.existsSync(path.join(dir, 'manifest.json'));
  if (!hasIndex && !hasDockerManifest) {
    throw new Error('image archive: neither manifest.json (docker-archive) nor index.json (OCI layout) found');
  }
  const dockerEntries = hasDockerManifest ? readDockerManifest(dir) : [];
  const loaded: ImageRecord[] = [];

  if (hasIndex) {
    // OCI layout (oci-archive, or Docker >= 25 archives which are both): keeps the real manifest digests.
    const index = readJsonFile<Index>(path.join(dir, 'index.json'), 'index.json');
    if (!Array.isArray(index.manifests)) throw new Error('index.json: "manifests" is not a list');
    for (const entry of index.manifests) {
      const manifestDigest = await importOciManifest(store, dir, entry, options.platform ?? hostPlatform(), protect);
      if (!manifestDigest) continue;
      const manifest = JSON.parse(store.readBlob(manifestDigest).toString('utf8')) as Manifest;
      const tags = new Set<string>();
      // ref.name is often just a tag ("latest", from `skopeo copy … oci:dir:latest`): a name
      // without '/' or ':' cannot say which repository, so such images load untagged.
      const refName = entry.annotations?.['org.opencontainers.image.ref.name'];
      const name = entry.annotations?.['io.containerd.image.name'] ?? (refName && /[/:]/.test(refName) ? refName : undefined);
      if (name) {
        const ref = tryParseTag(name);
        if (ref) tags.add(fullString(ref));
      }
      for (const d of dockerEntries) {
        if (d.configDigest === manifest.config.digest) for (const t of d.repoTags) tags.add(t);
      }
      const record = await unpackAndRecord(store, manifestDigest, [...tags].map((t) => parseReference(t)), { protect });
      progress(`Loaded image${tags.size ? `: ${[...tags].map(displayFull).join(', ')}` : ` ID: ${record.id}`}`);
      loaded.push(record);
    }
    if (loaded.length > 0 || !hasDockerManifest) {
      if (loaded.length === 0) throw new Error(`image archive: no manifest for platform ${formatPlatform(options.platform ?? hostPlatform())}`);
      return loaded;
    }
  }

  // Legacy docker-archive: manifest.json [{Config, RepoTags, Layers}] with layer tarballs.
  for (const entry of dockerEntries) {
    const configFile = insidePath(dir, entry.config, 'manifest.json Config');
    const configBytes = fs.readFileSync(configFile);
    const configDigest = sha256Digest(configBytes);
    const expectedFromName = /(?:^|\/)([a-f0-9]{64})(?:\.json)?$/.exec(entry.config);
    if (expectedFromName && `sha256:${expectedFromName[1]}` !== configDigest) {
      throw new Error(`image archive: config ${entry.config} has digest ${configDigest}, its name says sha256:${expectedFromName[1]}`);
    }
    protect(configDigest); // lease before writing: see ImageStore.garbageCollect
    store.writeBlob(configBytes, { digest: configDigest });
    const config = JSON.parse(configBytes.toString('utf8')) as ImageConfig;
    const layers: Descriptor[] = [];
    for (const layerPath of entry.layers) {
      const file = insidePath(dir, layerPath, 'manifest.json Layers');
      const { digest, size } = await digestStream(fs.createReadStream(file));
      const nameDigest = /blobs\/sha256\/([a-f0-9]{64})$/.exec(layerPath);
      if (nameDigest && `sha256:${nameDigest[1]}` !== digest) {
        throw new Error(`image archive: layer ${layerPath} has digest ${digest}, its name says sha256:${nameDigest[1]}`);
      }
      protect(digest);
      if (!store.hasBlob(digest)) {
        await store.writeBlobStream(fs.createReadStream(file), { digest, size, what: `layer ${layerPath}` });
      }
      layers.push({ mediaType: await sniffLayerMediaType(file, 'docker'), digest, size });
    }
    if ((config.rootfs?.diff_ids ?? []).length !== layers.length) {
      throw new Error(`image archive: config ${entry.config} lists ${(config.rootfs?.diff_ids ?? []).length} diffIDs for ${layers.length} layers`);
    }
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: MediaType.dockerManifest,
      config: { mediaType: MediaType.dockerConfig, digest: configDigest, size: configBytes.length },
      layers,
    };
    const manifestBytes = Buffer.from(JSON.stringify(manifest));
    const manifestDigest = sha256Digest(manifestBytes);
    protect(manifestDigest);
    store.writeBlob(manifestBytes, { digest: manifestDigest });
    const record = await unpackAndRecord(store, manifestDigest, entry.repoTags.map((t) => parseReference(t)), { protect });
    progress(entry.repoTags.length ? `Loaded image: ${entry.repoTags.map(displayFull).join(', ')}` : `Loaded image ID: ${record.id}`);
    loaded.push(record);
  }
  return loaded;
}

interface DockerManifestEntry {
  config: string;
  configDigest: string | null;
  repoTags: string[];
  layers: string[];
}

function readDockerManifest(dir: string): DockerManifestEntry[] {
  const list = readJsonFile<Array<{ Config?: unknown; RepoTags?: unknown; Layers?: unknown }>>(path.join(dir, 'manifest.json'), 'manifest.json');
  if (!Array.isArray(list)) throw new Error('manifest.json: expected a list');
  return list.map((e, i) => {
    if (typeof e.Config !== 'string' || !Array.isArray(e.Layers) || e.Layers.some((l) => typeof l !== 'string')) {
      throw new Error(`manifest.json entry ${i}: needs "Config" and "Layers"`);
    }
    const repoTags = (Array.isArray(e.RepoTags) ? e.RepoTags : []).filter((t): t is string => typeof t === 'string');
    const m = /([a-f0-9]{64})(?:\.json)?$/.exec(e.Config);
    return {
      config: e.Config,
      configDigest: m ? `sha256:${m[1]}` : null,
      repoTags: repoTags.map((t) => {
        const ref = tryParseTag(t);
        if (!ref) throw new Error(`manifest.json entry ${i}: invalid RepoTags entry "${t}"`);
        return fullString(ref);
      }),
      layers: e.Layers as string[],
    };
  });
}

/** Copy a manifest (choosing a platform from an index) with its config and layers into the store. */
async function importOciManifest(store: ImageStore, dir: string, desc: Descriptor, platform: PlatformSpec, protect: (...d: string[]) => void): Promise<string | null> {
  assertDigest(desc.digest, 'index.json manifest digest');
  if (isIndexMediaType(desc.mediaType)) {
    const index = JSON.parse((await copyLayoutBlob(store, dir, desc, protect, MAX_MANIFEST_BYTES)).toString('utf8')) as Index;
    const chosen = selectManifest(index.manifests ?? [], platform, isManifestMediaType);
    if (!chosen) return null;
    return importOciManifest(store, dir, chosen, platform, protect);
  }
  if (!isManifestMediaType(desc.mediaType)) return null; // unknown kinds (attestations, artifacts) are skipped
  const manifest = JSON.parse((await copyLayoutBlob(store, dir, desc, protect, MAX_MANIFEST_BYTES)).toString('utf8')) as Manifest;
  if (!manifest.config || !Array.isArray(manifest.layers)) throw new Error(`manifest ${desc.digest}: missing config or layers`);
  await copyLayoutBlob(store, dir, manifest.config, protect, MAX_MANIFEST_BYTES);
  for (const layer of manifest.layers) await copyLayoutBlob(store, dir, layer, protect);
  return desc.digest;
}

/** blobs/sha256/<hex> of an OCI layout into the store, verified; returns the bytes when small. */
async function copyLayoutBlob(store: ImageStore, dir: string, desc: Descriptor, protect: (...d: string[]) => void, readLimit?: number): Promise<Buffer> {
  const hex = digestHex(assertDigest(desc.digest, 'descriptor digest'));
  const file = insidePath(dir, `blobs/sha256/${hex}`, `blob ${desc.digest}`);
  if (readLimit !== undefined && desc.size > readLimit) throw new Error(`image archive: ${desc.digest} is ${desc.size} bytes, more than the ${readLimit} allowed`);
  protect(desc.digest);
  if (!store.hasBlob(desc.digest)) {
    await store.writeBlobStream(fs.createReadStream(file), { digest: desc.digest, size: desc.size, what: `blob ${desc.digest}` });
  } else if (store.blobSize(desc.digest) !== desc.size) {
    throw new Error(`image archive: blob ${desc.digest}: size mismatch: ${store.blobSize(desc.digest)} bytes, descriptor says ${desc.size}`);
  }
  return readLimit !== undefined ? store.readBlob(desc.digest) : Buffer.alloc(0);
}

async function sniffLayerMediaType(file: string, flavour: 'docker' | 'oci'): Promise<string> {
  const fd = fs.openSync(file, 'r');
  const head = Buffer.alloc(4);
  try {
    fs.readSync(fd, head, 0, 4, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (head[0] === 0x1f && head[1] === 0x8b) return flavour === 'docker' ? MediaType.dockerLayerGzip : MediaType.ociLayerGzip;
  if (head.readUInt32BE(0) === 0x28b52ffd) return MediaType.ociLayerZstd;
  return flavour === 'docker' ? 'application/vnd.docker.image.rootfs.diff.tar' : MediaType.ociLayer;
}

/** A path named inside the archive, refused when it (or a symlink on the way) leads out of it. */
function insidePath(dir: string, rel: string, what: string): string {
  const resolved = path.resolve(dir, rel);
  if (path.isAbsolute(rel) || rel.split('/').includes('..') || !resolved.startsWith(dir + path.sep)) {
    throw new Error(`image archive: ${what} path "${rel}" leaves the archive`);
  }
  let real: string;
  try {
    real = fs.realpathSync(resolved);
  } catch {
    throw new Error(`image archive: ${what} "${rel}" is missing`);
  }
  const realDir = fs.realpathSync(dir);
  if (!real.startsWith(realDir + path.sep) || !fs.statSync(real).isFile()) {
    throw new Error(`image archive: ${what} path "${rel}" leaves the archive or is not a file`);
  }
  return real;
}

function readJsonFile<T>(file: string, what: string): T {
  const stat = fs.statSync(file);
  if (stat.size > MAX_MANIFEST_BYTES) throw new Error(`${what}: larger than ${MAX_MANIFEST_BYTES} bytes`);
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch (err) {
    throw new Error(`${what}: invalid JSON: ${(err as Error).message}`);
  }
}

function tryParseTag(name: string): ImageReference | null {
  try {
    const ref = parseReference(name);
    return ref.digest ? null : ref;
  } catch {
    return null; // e.g. a bare "latest" ref.name in a skopeo oci layout: not a full name
  }
}

function displayFull(full: string): string {
  const ref = parseReference(full);
  return `${familiarName(ref)}:${ref.tag}`;
}

// ---------------------------------------------------------------- save

/** `hull save`: a docker-archive that is also an OCI layout. Writes to `output` (a path or stream). */
export async function saveArchive(store: ImageStore, names: string[], output: string | NodeJS.WritableStream): Promise<void> {
  if (names.length === 0) throw new Error('save: give at least one image');
  const stage = path.join(store.ingestDir, uniqueName());
  fs.mkdirSync(path.join(stage, 'blobs', 'sha256'), { recursive: true, mode: 0o700 });
  try {
    const dockerManifest: Array<{ Config: string; RepoTags: string[] | null; Layers: string[] }> = [];
    const index: Index = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] };
    const repositories: Record<string, Record<string, string>> = {};
    const seen = new Set<string>();
    const addBlob = (digest: string) => {
      const target = path.join(stage, 'blobs', 'sha256', digestHex(digest));
      if (seen.has(digest)) return;
      seen.add(digest);
      try {
        fs.linkSync(store.blobPath(digest), target); // same filesystem: no copy
      } catch {
        fs.copyFileSync(store.blobPath(digest), target);
      }
    };
    for (const name of names) {
      const image = store.getImage(name);
      // The tags to write: the one asked for, or all of the image's tags when saved by ID.
      let tags = image.repoTags;
      const asked = tryParseTag(name);
      if (asked && image.repoTags.includes(fullString(asked))) tags = [fullString(asked)];
      else if (asked && !/^[a-f0-9]+$/.test(name) && !name.startsWith('sha256:')) tags = [];
      const manifest = store.manifestOf(image);
      addBlob(image.manifestDigest);
      addBlob(manifest.config.digest);
      for (const layer of manifest.layers) addBlob(layer.digest);
      const familiarTags = tags.map(displayFull);
      dockerManifest.push({
        Config: `blobs/sha256/${digestHex(manifest.config.digest)}`,
        RepoTags: familiarTags.length ? familiarTags : null,
        Layers: manifest.layers.map((l) => `blobs/sha256/${digestHex(l.digest)}`),
      });
      const descriptor = { mediaType: image.manifestMediaType, digest: image.manifestDigest, size: store.blobSize(image.manifestDigest) };
      if (tags.length === 0) index.manifests.push(descriptor);
      for (const full of tags) {
        const ref = parseReference(full);
        index.manifests.push({ ...descriptor, annotations: { 'io.containerd.image.name': full, 'org.opencontainers.image.ref.name': ref.tag ?? 'latest' } });
        const repo = familiarName(ref);
        (repositories[repo] ??= {})[ref.tag ?? 'latest'] = digestHex(manifest.layers[manifest.layers.length - 1]?.digest ?? image.id);
      }
    }
    fs.writeFileSync(path.join(stage, 'manifest.json'), JSON.stringify(dockerManifest));
    fs.writeFileSync(path.join(stage, 'index.json'), JSON.stringify(index));
    fs.writeFileSync(path.join(stage, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    if (Object.keys(repositories).length) fs.writeFileSync(path.join(stage, 'repositories'), JSON.stringify(repositories));
    const entries = ['blobs', 'oci-layout', 'index.json', 'manifest.json', ...(Object.keys(repositories).length ? ['repositories'] : [])];
    const tarStream = tar.c({ cwd: stage, portable: true, noMtime: false, mtime: new Date(0) } as tar.TarOptionsWithAliasesAsyncNoFile, entries) as unknown as Readable;
    if (typeof output === 'string') {
      const tmp = `${output}.${uniqueName('tmp-')}`;
      try {
        await pipeline(tarStream, fs.createWriteStream(tmp, { mode: 0o644 }));
        const fd = fs.openSync(tmp, 'r');
        fs.fsyncSync(fd);
        fs.closeSync(fd);
        fs.renameSync(tmp, output);
        fsyncDir(path.dirname(path.resolve(output)));
      } catch (err) {
        fs.rmSync(tmp, { force: true });
        throw err;
      }
    } else {
      await pipeline(tarStream, output);
    }
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- import

export interface ImportOptions {
  /** Repository[:tag] for the new image (none = untagged). */
  reference?: string;
  /** Dockerfile instructions: "CMD ["sh"]", "ENV A=1", "WORKDIR /app", ... */
  changes?: string[];
  /** Commit message (history comment). */
  message?: string;
  platform?: PlatformSpec;
}

/** `hull import`: one layer from a rootfs tarball (plain or gzip), config from --change. */
export async function importRootfs(store: ImageStore, input: string | Readable, options: ImportOptions = {}): Promise<ImageRecord> {
  const target = options.reference ? parseReference(options.reference) : null;
  if (target?.digest) throw new Error(`import: "${options.reference}" has a digest; give repository[:tag]`);
  const containerConfig = applyChanges({}, options.changes ?? []);
  const lease = store.createLease();
  const ingest = store.createIngest();
  try {
    const source = typeof input === 'string' ? fs.createReadStream(input) : input;
    await pipeline(source, fs.createWriteStream(ingest.path, { flags: 'wx', mode: 0o600 }));
    const { digest: blobDigest, size } = await digestStream(fs.createReadStream(ingest.path));
    const mediaType = await sniffLayerMediaType(ingest.path, 'oci');
    if (mediaType === MediaType.ociLayerZstd) throw new Error('import: zstd tarballs are not supported; use plain or gzip');
    const diffId = mediaType === MediaType.ociLayerGzip
      ? (await digestStream(fs.createReadStream(ingest.path).pipe(zlib.createGunzip()))).digest
      : blobDigest;
    lease.add(blobDigest);
    await ingest.commit({ digest: blobDigest, size });
    const platform = options.platform ?? hostPlatform();
    const created = new Date().toISOString();
    const config: ImageConfig = {
      created,
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      config: containerConfig,
      rootfs: { type: 'layers', diff_ids: [diffId] },
      history: [{ created, created_by: 'hull import', ...(options.message ? { comment: options.message } : {}) }],
    };
    const configBytes = Buffer.from(JSON.stringify(config));
    const configDigest = sha256Digest(configBytes);
    lease.add(configDigest);
    store.writeBlob(configBytes);
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: configDigest, size: store.blobSize(configDigest) },
      layers: [{ mediaType, digest: blobDigest, size }],
    };
    const manifestBytes = Buffer.from(JSON.stringify(manifest));
    const manifestDigest = sha256Digest(manifestBytes);
    lease.add(manifestDigest);
    store.writeBlob(manifestBytes);
    return await unpackAndRecord(store, manifestDigest, target ? [target] : [], { protect: lease.add.bind(lease) });
  } finally {
    ingest.abort();
    lease.release();
  }
}

/** Apply Dockerfile-style --change instructions to a container config. */
export function applyChanges(base: ContainerConfig, changes: string[]): ContainerConfig {
  const config: ContainerConfig = JSON.parse(JSON.stringify(base));
  for (const change of changes) {
    const m = /^\s*([A-Za-z]+)\s+([\s\S]*)$/.exec(change);
    if (!m) throw new Error(`invalid --change "${change}": expected INSTRUCTION arguments`);
    const instruction = m[1].toUpperCase();
    const args = m[2].trim();
    switch (instruction) {
      case 'CMD':
        config.Cmd = execOrShellForm(args, change);
        break;
      case 'ENTRYPOINT':
        config.Entrypoint = execOrShellForm(args, change);
        break;
      case 'ENV':
        for (const [k, v] of keyValues(args, change, true)) {
          config.Env = (config.Env ?? []).filter((e) => !e.startsWith(`${k}=`));
          config.Env.push(`${k}=${v}`);
        }
        break;
      case 'LABEL':
        for (const [k, v] of keyValues(args, change, false)) (config.Labels ??= {})[k] = v;
        break;
      case 'WORKDIR':
        config.WorkingDir = args.startsWith('/') ? args : path.posix.join(config.WorkingDir || '/', args);
        break;
      case 'USER':
        config.User = args;
        break;
      case 'EXPOSE':
        for (const port of args.split(/\s+/)) {
          if (!/^\d+(-\d+)?(\/(tcp|udp|sctp))?$/i.test(port)) throw new Error(`invalid --change "${change}": bad port "${port}"`);
          (config.ExposedPorts ??= {})[port.includes('/') ? port.toLowerCase() : `${port}/tcp`] = {};
        }
        break;
      case 'VOLUME': {
        const list = args.startsWith('[') ? jsonStringArray(args, change) : args.split(/\s+/);
        for (const v of list) (config.Volumes ??= {})[v] = {};
        break;
      }
      case 'STOPSIGNAL':
        config.StopSignal = args;
        break;
      default:
        throw new Error(`invalid --change "${change}": ${instruction} is not one of CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR`);
    }
  }
  return config;
}

function execOrShellForm(args: string, change: string): string[] {
  if (args.startsWith('[')) return jsonStringArray(args, change);
  return ['/bin/sh', '-c', args];
}

function jsonStringArray(args: string, change: string): string[] {
  try {
    const list = JSON.parse(args) as unknown;
    if (Array.isArray(list) && list.every((s) => typeof s === 'string')) return list as string[];
  } catch {
    /* fall through */
  }
  throw new Error(`invalid --change "${change}": expected a JSON list of strings`);
}

/** `K=V K2="v 2"`, or the legacy `ENV K some value` form. */
function keyValues(args: string, change: string, allowLegacy: boolean): Array<[string, string]> {
  const firstSpace = args.search(/\s/);
  const firstEq = args.indexOf('=');
  if (allowLegacy && (firstEq < 0 || (firstSpace >= 0 && firstSpace < firstEq))) {
    if (firstSpace < 0) throw new Error(`invalid --change "${change}": ENV needs a value`);
    return [[args.slice(0, firstSpace), args.slice(firstSpace).trim()]];
  }
  const out: Array<[string, string]> = [];
  const re = /([^\s=]+)=("((?:[^"\\]|\\.)*)"|'([^']*)'|(\S*))/y;
  let pos = 0;
  while (pos < args.length) {
    while (pos < args.length && /\s/.test(args[pos])) pos++;
    if (pos >= args.length) break;
    re.lastIndex = pos;
    const m = re.exec(args);
    if (!m) throw new Error(`invalid --change "${change}": expected key=value pairs`);
    const value = m[3] !== undefined ? m[3].replace(/\\(.)/g, '$1') : m[4] !== undefined ? m[4] : m[5];
    out.push([m[1].replace(/^"(.*)"$/, '$1'), value]);
    pos = re.lastIndex;
  }
  return out;
}

