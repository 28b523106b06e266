// `hull pull`: resolve a reference (through mirrors first), choose the platform, then download
// layers three at a time and apply each one as soon as its parent is applied. Every blob is
// verified (size + sha256) before it is committed to the store and before it is unpacked.
import { HullConfig, loadConfig, normalizeRegistryHost } from '../config';
import type { Credentials } from './auth';
import { assertDigest, chainIds } from './digest';
import { formatPlatform, hostPlatform, listPlatforms, normalizePlatform, parsePlatform, PlatformSpec, selectManifest } from './platform';
import { ProgressReporter, silentProgress } from './progress';
import { familiarString, ImageReference, parseReference } from './reference';
import { FetchedManifest, RegistryClient } from './registry';
import { ImageRecord, ImageStore } from './store';
import { RegistryError, RetryPolicy } from './transport';
import { Descriptor, ImageConfig, isIndexMediaType, isManifestMediaType, layerCompression, Manifest } from './types';

export interface PullOptions {
  /** "linux/arm64" or a parsed platform; default the host's. */
  platform?: string | PlatformSpec;
  progress?: ProgressReporter;
  /** Parallel layer downloads (docker's default: 3). */
  concurrency?: number;
  retry?: RetryPolicy;
  config?: HullConfig;
  /** Override the credential lookup (null = anonymous). */
  credentials?: Credentials | null;
  /** Skip mirrors (tests, `--no-mirrors`). */
  noMirrors?: boolean;
  onRequest?: (method: string, url: string, headers: Record<string, string>) => void;
}

/** The endpoints to try for a pull: configured mirrors (with path prefixes), then the registry. */
export function pullEndpoints(ref: ImageReference, options: PullOptions = {}): RegistryClient[] {
  const config = options.config ?? loadConfig();
  const common = { registry: ref.domain, retry: options.retry, config, onRequest: options.onRequest };
  const mirrors = options.noMirrors ? [] : config.mirrors[normalizeRegistryHost(ref.domain)] ?? [];
  return [
    ...mirrors.map(
      (m) => new RegistryClient({ ...common, host: m.host, pathPrefix: m.pathPrefix, insecure: m.insecure ? true : undefined, credentials: options.credentials }),
    ),
    new RegistryClient({ ...common, credentials: options.credentials }),
  ];
}

export async function pullImage(store: ImageStore, reference: string, options: PullOptions = {}): Promise<ImageRecord> {
  const ref = parseReference(reference);
  store.cleanLeftovers(); // partial downloads of killed pulls
  const progress = options.progress ?? silentProgress;
  const platform = typeof options.platform === 'string' ? parsePlatform(options.platform) : options.platform ?? hostPlatform();
  progress.message(`${ref.digest ?? ref.tag}: Pulling from ${ref.path}`);

  const current = await upToDate(store, ref, platform, options);
  if (current) {
    progress.message(`Digest: ${current.digest}`);
    progress.message(`Status: Image is up to date for ${familiarString(ref)}`);
    return current.record;
  }

  const { client, top } = await resolve(ref, options);
  const { manifest, manifestBytes, manifestDigest } = await chooseManifest(client, ref, top, platform);

  const lease = store.createLease();
  try {
    // Lease first, then write: a concurrent garbage collection must never see unleased content.
    assertDigest(manifest.config?.digest, 'config digest');
    lease.add(manifestDigest, manifest.config.digest);
    store.writeBlob(manifestBytes, { digest: manifestDigest, what: `manifest ${manifestDigest}` });
    if (!store.hasBlob(manifest.config.digest)) {
      const configBytes = await client.getBlobBytes(ref.path, manifest.config);
      store.writeBlob(configBytes, { digest: manifest.config.digest, size: manifest.config.size, what: 'image config' });
    }
    const config = JSON.parse(store.readBlob(manifest.config.digest).toString('utf8')) as ImageConfig;
    const diffIds = config.rootfs?.diff_ids ?? [];
    if (!Array.isArray(manifest.layers) || diffIds.length !== manifest.layers.length) {
      throw new Error(`${familiarString(ref)}: image config lists ${diffIds.length} diffIDs for ${manifest.layers?.length ?? 0} layers`);
    }
    for (const layer of manifest.layers) {
      assertDigest(layer.digest, 'layer digest');
      if (!Number.isSafeInteger(layer.size) || layer.size < 0) throw new Error(`layer ${layer.digest}: invalid size ${layer.size}`);
      if (layerCompression(layer.mediaType) === null) throw new Error(`layer ${layer.digest}: unsupported media type "${layer.mediaType}"`);
    }
    const chain = chainIds(diffIds);
    lease.add(...manifest.layers.map((l) => l.digest), ...chain);
    const before = store.findImage(familiarString(ref));

    await downloadAndApply(store, client, ref, manifest.layers, diffIds, chain, progress, options.concurrency ?? 3);

    const record = await store.addImage({ manifestDigest, tags: ref.digest ? [] : [ref], repoDigest: { ref, digest: top.digest } });
    progress.finish();
    progress.message(`Digest: ${top.digest}`);
    const upToDate = before?.id === record.id;
    progress.message(`Status: ${upToDate ? 'Image is up to date' : 'Downloaded newer image'} for ${familiarString(ref)}`);
    return record;
  } finally {
    progress.finish();
    lease.release();
  }
}

/**
 * A tag we pulled before whose registry digest (HEAD) is unchanged: nothing to do. HEAD does not
 * count as a pull on Docker Hub, and the digest is only compared with one we verified ourselves.
 */
async function upToDate(store: ImageStore, ref: ImageReference, platform: PlatformSpec, options: PullOptions): Promise<{ record: ImageRecord; digest: string } | null> {
  if (ref.digest) return null;
  const record = store.findImage(familiarString(ref));
  if (record) {
    // The local copy must also be the platform asked for (a multi-platform tag has several).
    const config = store.configOf(record);
    const have = normalizePlatform({ os: config.os, architecture: config.architecture, variant: config.variant });
    if (have.os !== platform.os || have.architecture !== platform.architecture || (platform.variant && have.variant !== platform.variant)) return null;
  }
  const prefix = `${ref.domain}/${ref.path}@`;
  const known = record?.repoDigests.filter((d) => d.startsWith(prefix)).map((d) => d.slice(prefix.length)) ?? [];
  if (!record || known.length === 0 || !record.layers.every((l) => store.hasLayer(l.chainId))) return null;
  for (const client of pullEndpoints(ref, options)) {
    try {
      const digest = await client.headManifestDigest(ref.path, ref.tag as string);
      if (digest) return known.includes(digest) ? { record, digest } : null;
    } catch {
      /* this endpoint cannot say: try the next, then fall back to a full resolve */
    }
  }
  return null;
}

/** GET the manifest from the first endpoint that answers (mirrors, then the registry). */
async function resolve(ref: ImageReference, options: PullOptions): Promise<{ client: RegistryClient; top: FetchedManifest }> {
  const endpoints = pullEndpoints(ref, options);
  const failures: string[] = [];
  for (const client of endpoints) {
    try {
      const top = await client.getManifest(ref.path, ref.digest ?? (ref.tag as string));
      return { client, top };
    } catch (err) {
      failures.push(`${client.host}: ${(err as Error).message}`);
      if (client === endpoints[endpoints.length - 1]) {
        if (failures.length > 1) (err as Error).message += ` (mirrors failed too: ${failures.slice(0, -1).join('; ')})`;
        throw err;
      }
    }
  }
  throw new Error('unreachable');
}

async function chooseManifest(client: RegistryClient, ref: ImageReference, top: FetchedManifest, platform: PlatformSpec): Promise<{ manifest: Manifest; manifestBytes: Buffer; manifestDigest: string }> {
  if (isIndexMediaType(top.mediaType)) {
    const entries = top.json.manifests ?? [];
    for (const e of entries) if (e.digest !== undefined) assertDigest(e.digest, 'index entry digest');
    const chosen = selectManifest(entries, platform, isManifestMediaType);
    if (!chosen) {
      throw new RegistryError(
        `${familiarString(ref)}: no manifest for platform ${formatPlatform(platform)} (available: ${listPlatforms(entries).join(', ') || 'none'})`,
      );
    }
    const child = await client.getManifest(ref.path, chosen.digest);
    if (!isManifestMediaType(child.mediaType)) throw new RegistryError(`${familiarString(ref)}: index entry ${chosen.digest} is not an image manifest`);
    return { manifest: child.json as Manifest, manifestBytes: child.bytes, manifestDigest: child.digest };
  }
  return { manifest: top.json as Manifest, manifestBytes: top.bytes, manifestDigest: top.digest };
}

/** A tiny counting semaphore. */
function limiter(max: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const queue: Array<() => void> = [];
  return async <T>(fn: () => Promise<T>) => {
    if (active >= max) await new Promise<void>((resolve) => queue.push(resolve));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      queue.shift()?.();
    }
  };
}

async function downloadAndApply(
  store: ImageStore, client: RegistryClient, ref: ImageReference, layers: Descriptor[], diffIds: string[], chain: string[],
  progress: ProgressReporter, concurrency: number,
): Promise<void> {
  const limit = limiter(Math.max(1, concurrency));
  let failed = false;
  const short = (d: string) => d.slice(7, 19);
  for (let i = 0; i < layers.length; i++) {
    progress.update(short(layers[i].digest), store.hasLayer(chain[i]) ? 'Already exists' : 'Waiting');
  }
  const downloads = layers.map((layer, i) => {
    if (store.hasLayer(chain[i])) return Promise.resolve();
    const id = short(layer.digest);
    const p = limit(async () => {
      if (failed) throw new Error('cancelled');
      if (store.hasBlob(layer.digest)) {
        progress.update(id, 'Download complete');
        return;
      }
      // A partial file of an earlier, killed pull is resumed; when another pull holds it, download privately.
      const partial = store.openPartialIngest(layer.digest);
      const ingest = partial?.ingest ?? store.createIngest();
      try {
        progress.update(id, 'Downloading', 0, layer.size);
        await client.downloadBlob(ref.path, layer, ingest, (bytes) => progress.update(id, 'Downloading', bytes, layer.size), { resume: partial !== null });
        progress.update(id, 'Download complete');
      } catch (err) {
        if (!partial) ingest.abort(); // a partial file stays for the next pull to resume
        throw err;
      } finally {
        partial?.release();
      }
    });
    p.catch(() => {
      failed = true;
    });
    return p;
  });
  let parentApplied: Promise<void> = Promise.resolve();
  for (let i = 0; i < layers.length; i++) {
    const layer = layers[i];
    const previous = parentApplied;
    parentApplied = (async () => {
      await previous;
      await downloads[i];
      if (store.hasLayer(chain[i])) return;
      progress.update(short(layer.digest), 'Extracting');
      await store.applyLayer({ blobDigest: layer.digest, mediaType: layer.mediaType, diffId: diffIds[i], chainId: chain[i], parentChainIds: chain.slice(0, i) });
      progress.update(short(layer.digest), 'Pull complete');
    })();
  }
  try {
    await parentApplied;
  } finally {
    failed = true;
    // Let in-flight downloads settle so no ingest file is written after we return.
    await Promise.allSettled(downloads);
  }
}
