// `hull push`: blobs first (skip what the registry has, cross-repository mount when the blob came
// from another repository of the same registry, else a monolithic or chunked upload), the
// manifest last with its own media type and its exact bytes.
import * as fs from 'node:fs';
import { HullConfig } from '../config';
import type { Credentials } from './auth';
import { sha256Digest } from './digest';
import { ProgressReporter, silentProgress } from './progress';
import { familiarName, familiarString, ImageReference, parseReference, repositoryName } from './reference';
import { RegistryClient } from './registry';
import { ImageRecord, ImageStore } from './store';
import { errorFromResponse, RegistryError, RetryPolicy } from './transport';
import type { Descriptor } from './types';

export interface PushOptions {
  progress?: ProgressReporter;
  retry?: RetryPolicy;
  config?: HullConfig;
  credentials?: Credentials | null;
  /** Always upload in chunks (PATCH) instead of one PUT. */
  chunked?: boolean;
  /** Blobs larger than this go up in chunks (default 64 MiB). */
  monolithicLimit?: number;
  /** Chunk size for PATCH uploads (default 16 MiB; raised to OCI-Chunk-Min-Length). */
  chunkSize?: number;
  onRequest?: (method: string, url: string, headers: Record<string, string>) => void;
}

const OCTET = 'application/octet-stream';

/** Push `reference` (an image in the store, by that name) to its registry. Returns the manifest digest. */
export async function pushImage(store: ImageStore, reference: string, options: PushOptions = {}): Promise<string> {
  const ref = parseReference(reference);
  if (ref.digest) throw new Error(`push: "${reference}": push a tag, not a digest`);
  const image = store.getImage(reference);
  const progress = options.progress ?? silentProgress;
  const client = new RegistryClient({ registry: ref.domain, retry: options.retry, config: options.config, credentials: options.credentials, onRequest: options.onRequest });
  const manifest = store.manifestOf(image);
  const manifestBytes = store.readBlob(image.manifestDigest);
  progress.message(`The push refers to repository [${repositoryName(ref)}]`);

  const blobs: Descriptor[] = [...manifest.layers, manifest.config];
  const mountFrom = mountSource(image, ref);
  try {
    for (const blob of blobs) {
      const id = blob.digest.slice(7, 19);
      if (!store.hasBlob(blob.digest)) {
        throw new Error(`push: blob ${blob.digest} of ${familiarString(ref)} is not in the store (the layer was shared with another image); pull the image again`);
      }
      progress.update(id, 'Preparing');
      const outcome = await pushBlob(store, client, ref, blob, mountFrom, options, (sent) => progress.update(id, 'Pushing', sent, blob.size));
      progress.update(id, outcome === 'exists' ? 'Layer already exists' : outcome === 'mounted' ? `Mounted from ${mountFrom}` : 'Pushed');
    }
    const digest = await putManifest(client, ref, manifestBytes, image.manifestMediaType);
    progress.finish();
    progress.message(`${ref.tag}: digest: ${digest} size: ${manifestBytes.length}`);
    await store.updateImages((images) => {
      const rec = images[image.id];
      const entry = `${repositoryName(ref)}@${digest}`;
      if (rec && !rec.repoDigests.includes(entry)) rec.repoDigests.push(entry);
    });
    return digest;
  } finally {
    progress.finish();
  }
}

/** A repository on the same registry the image was pulled from (for a cross-repository mount). */
function mountSource(image: ImageRecord, target: ImageReference): string | null {
  for (const entry of [...image.repoDigests, ...image.repoTags]) {
    try {
      const ref = parseReference(entry);
      if (ref.domain === target.domain && ref.path !== target.path) return ref.path;
    } catch {
      /* ignore malformed */
    }
  }
  return null;
}

async function pushBlob(
  store: ImageStore, client: RegistryClient, ref: ImageReference, blob: Descriptor, mountFrom: string | null, options: PushOptions,
  onProgress: (sent: number) => void,
): Promise<'exists' | 'mounted' | 'uploaded'> {
  const repo = client.repoPath(ref.path);
  const scopes = [RegistryClient.pushScope(repo)];
  if (await client.hasBlob(ref.path, blob.digest, scopes)) return 'exists';

  const uploads = `${client.baseUrl}/v2/${repo}/blobs/uploads/`;
  let location: string | null = null;
  if (mountFrom) {
    const url = `${uploads}?mount=${encodeURIComponent(blob.digest)}&from=${encodeURIComponent(mountFrom)}`;
    const res = await client.request(url, { method: 'POST', scopes: [...scopes, RegistryClient.pullScope(mountFrom)], what: `mount ${blob.digest} from ${mountFrom}`, headers: { 'Content-Length': '0' } }).catch(() => null);
    if (res?.status === 201) {
      await res.body?.cancel().catch(() => {});
      return 'mounted';
    }
    if (res?.status === 202) {
      location = client.resolveLocation(res, 'mount'); // the registry started a plain upload instead
      await res.body?.cancel().catch(() => {});
    } else {
      await res?.body?.cancel().catch(() => {});
    }
  }
  let chunkMin = 0;
  if (!location) {
    const res = await client.request(uploads, { method: 'POST', scopes, what: `upload ${blob.digest}`, headers: { 'Content-Length': '0' } });
    if (res.status !== 202) throw await errorFromResponse(res, `start upload of ${blob.digest}`);
    location = client.resolveLocation(res, `start upload of ${blob.digest}`);
    chunkMin = Number(res.headers.get('oci-chunk-min-length')) || 0;
    await res.body?.cancel().catch(() => {});
  }
  const file = store.blobPath(blob.digest);
  const chunked = options.chunked || blob.size > (options.monolithicLimit ?? 64 * 1024 * 1024);
  if (chunked) {
    const chunkSize = Math.max(chunkMin, options.chunkSize ?? 16 * 1024 * 1024);
    const fd = fs.openSync(file, 'r');
    try {
      let offset = 0;
      while (offset < blob.size) {
        const length = Math.min(chunkSize, blob.size - offset);
        const chunk = Buffer.alloc(length);
        fs.readSync(fd, chunk, 0, length, offset);
        const res = await client.request(location, {
          method: 'PATCH',
          scopes,
          body: chunk,
          what: `upload ${blob.digest} bytes ${offset}-${offset + length - 1}`,
          headers: { 'Content-Type': OCTET, 'Content-Range': `${offset}-${offset + length - 1}`, 'Content-Length': String(length) },
        });
        if (res.status !== 202) throw await errorFromResponse(res, `upload ${blob.digest} chunk at ${offset}`);
        location = client.resolveLocation(res, `upload ${blob.digest}`);
        await res.body?.cancel().catch(() => {});
        offset += length;
        onProgress(offset);
      }
    } finally {
      fs.closeSync(fd);
    }
    const res = await client.request(withDigest(location, blob.digest), { method: 'PUT', scopes, what: `finish upload of ${blob.digest}`, headers: { 'Content-Length': '0', 'Content-Type': OCTET } });
    if (res.status !== 201) throw await errorFromResponse(res, `finish upload of ${blob.digest}`);
    await res.body?.cancel().catch(() => {});
  } else {
    const body = fs.readFileSync(file);
    const res = await client.request(withDigest(location, blob.digest), {
      method: 'PUT',
      scopes,
      body,
      what: `upload ${blob.digest}`,
      headers: { 'Content-Type': OCTET, 'Content-Length': String(body.length) },
    });
    if (res.status !== 201) throw await errorFromResponse(res, `upload ${blob.digest}`);
    await res.body?.cancel().catch(() => {});
    onProgress(blob.size);
  }
  return 'uploaded';
}

/** Add digest=… to an upload Location, keeping the registry's own query parameters. */
function withDigest(location: string, digest: string): string {
  const url = new URL(location);
  url.searchParams.set('digest', digest);
  return url.toString();
}

async function putManifest(client: RegistryClient, ref: ImageReference, bytes: Buffer, mediaType: string): Promise<string> {
  const repo = client.repoPath(ref.path);
  const what = `manifest ${familiarName(ref)}:${ref.tag}`;
  const res = await client.request(`${client.baseUrl}/v2/${repo}/manifests/${ref.tag}`, {
    method: 'PUT',
    scopes: [RegistryClient.pushScope(repo)],
    body: bytes,
    what,
    headers: { 'Content-Type': mediaType, 'Content-Length': String(bytes.length) },
  });
  if (res.status !== 201 && res.status !== 200) throw await errorFromResponse(res, what);
  await res.body?.cancel().catch(() => {});
  const digest = sha256Digest(bytes);
  const said = res.headers.get('docker-content-digest');
  if (said && said !== digest) throw new RegistryError(`${what}: registry stored digest ${said}, expected ${digest}`);
  return digest;
}

