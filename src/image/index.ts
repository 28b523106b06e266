// hull's image API: references, the content/layer store, registry pull/push and image tarballs.
// (src/index.ts re-exports this.)
export { parseReference, familiarName, familiarString, fullString, repositoryName, InvalidReferenceError } from './reference';
export type { ImageReference } from './reference';
export { isValidDigest, assertDigest, chainIds, sha256Digest, DigestError } from './digest';
export { ImageStore, ImageNotFoundError, setImageInUseProvider, shortId } from './store';
export type { ImageRecord, LayerRecord, LayerMeta, InUseProvider, ApplyLayerFn } from './store';
export { pullImage } from './pull';
export { ensureImage } from './ensure';
export type { PullPolicy, ResolvedImage } from './ensure';
export type { PullOptions } from './pull';
export { pushImage } from './push';
export type { PushOptions } from './push';
export { loadArchive, saveArchive, importRootfs, applyChanges, unpackAndRecord } from './archive';
export { RegistryClient } from './registry';
export { RegistryError } from './transport';
export { findCredentials, saveCredentials, removeCredentials, parseWwwAuthenticate } from './auth';
export { parsePlatform, hostPlatform, normalizePlatform, formatPlatform } from './platform';
export type { PlatformSpec } from './platform';
export { ProgressRenderer, silentProgress } from './progress';
export type { ProgressReporter } from './progress';
export { MediaType } from './types';
export type { Manifest, Index, Descriptor, ImageConfig } from './types';
