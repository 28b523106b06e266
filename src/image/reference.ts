// Image references with the distribution grammar (github.com/distribution/reference):
//   [domain[:port]/]path[:tag][@digest]
// "busybox" means docker.io/library/busybox:latest; "me/app" means docker.io/me/app:latest.
import { isValidDigest } from './digest';

export const DEFAULT_DOMAIN = 'docker.io';
export const DEFAULT_TAG = 'latest';
/** Docker Hub's registry API host (docker.io itself is not the API). */
export const DOCKER_HUB_API_HOST = 'registry-1.docker.io';
export const NAME_MAX_LENGTH = 255;

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[0-9a-fA-F:.]+\\])(?::[0-9]+)?$`);
const TAG = /^[\w][\w.-]{0,127}$/;
const HEX64 = /^[a-f0-9]{64}$/;

export interface ImageReference {
  /** Registry host with optional port, "docker.io" for Docker Hub. */
  domain: string;
  /** Repository path inside the registry, e.g. "library/busybox". */
  path: string;
  /** Tag; "latest" when neither tag nor digest was given. Undefined for digest-only references. */
  tag?: string;
  /** "sha256:<hex>" when pinned. */
  digest?: string;
}

export class InvalidReferenceError extends Error {
  constructor(input: string, why: string) {
    super(`invalid reference format "${input}": ${why}`);
    this.name = 'InvalidReferenceError';
  }
}

/** Parse and normalize a reference; throws InvalidReferenceError naming the input. */
export function parseReference(input: string): ImageReference {
  if (typeof input !== 'string' || input.length === 0) {
    throw new InvalidReferenceError(String(input ?? ''), 'empty reference');
  }
  if (/\s/.test(input)) throw new InvalidReferenceError(input, 'contains whitespace');
  if (HEX64.test(input)) {
    throw new InvalidReferenceError(input, 'a 64-character hexadecimal string is an image ID, not a repository name');
  }

  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!digest) throw new InvalidReferenceError(input, 'empty digest after "@"');
    if (!isValidDigest(digest)) {
      throw new InvalidReferenceError(input, `digest "${digest}" is not sha256:<64 lowercase hex digits>`);
    }
  }

  // A tag is after the last ':' that comes after the last '/' (a ':' before it is a port).
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.indexOf(':', lastSlash + 1);
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) {
      throw new InvalidReferenceError(
        input,
        tag.length > 128 ? 'tag longer than 128 characters' : `invalid tag "${tag}" (allowed: [A-Za-z0-9_.-], not starting with . or -)`,
      );
    }
  }
  if (!rest) throw new InvalidReferenceError(input, 'missing repository name');

  const { domain, path } = splitDomain(rest, input);
  const components = path.split('/');
  for (const component of components) {
    if (component === '') throw new InvalidReferenceError(input, 'empty path component (double or trailing "/")');
    if (!PATH_COMPONENT.test(component)) {
      if (component !== component.toLowerCase()) {
        throw new InvalidReferenceError(input, 'repository name must be lowercase');
      }
      throw new InvalidReferenceError(
        input,
        `invalid path component "${component}" (lowercase letters and digits, separated by ".", "_", "__" or "-")`,
      );
    }
  }
  const fullName = `${domain}/${path}`;
  if (fullName.length > NAME_MAX_LENGTH) {
    throw new InvalidReferenceError(input, `repository name longer than ${NAME_MAX_LENGTH} characters`);
  }
  if (!tag && !digest) tag = DEFAULT_TAG;
  return { domain, path, tag, digest };
}

/** Split "host:5000/ns/name" / "ns/name" / "name" into domain and path (docker's rules). */
function splitDomain(name: string, input: string): { domain: string; path: string } {
  const slash = name.indexOf('/');
  let domain = DEFAULT_DOMAIN;
  let path = name;
  if (slash >= 0) {
    const first = name.slice(0, slash);
    // Only "localhost" or something with '.', ':' or uppercase is a domain; "me/app" is a Hub path.
    if (first === 'localhost' || /[.:A-Z]/.test(first)) {
      if (!DOMAIN.test(first)) throw new InvalidReferenceError(input, `invalid registry host "${first}"`);
      domain = first;
      path = name.slice(slash + 1);
    }
  }
  if (domain === 'index.docker.io') domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = `library/${path}`;
  return { domain, path };
}

/** "docker.io/library/busybox" (no tag or digest). */
export function repositoryName(ref: ImageReference): string {
  return `${ref.domain}/${ref.path}`;
}

/** Short repository name for display: "busybox", "me/app", "localhost:5000/app". */
export function familiarName(ref: Pick<ImageReference, 'domain' | 'path'>): string {
  if (ref.domain === DEFAULT_DOMAIN) {
    return ref.path.startsWith('library/') && ref.path.split('/').length === 2 ? ref.path.slice('library/'.length) : ref.path;
  }
  return `${ref.domain}/${ref.path}`;
}

/** Familiar form with tag and digest: "busybox:latest", "me/app@sha256:…". */
export function familiarString(ref: ImageReference): string {
  return familiarName(ref) + (ref.tag ? `:${ref.tag}` : '') + (ref.digest ? `@${ref.digest}` : '');
}

/** Fully qualified form: "docker.io/library/busybox:latest". */
export function fullString(ref: ImageReference): string {
  return repositoryName(ref) + (ref.tag ? `:${ref.tag}` : '') + (ref.digest ? `@${ref.digest}` : '');
}

/** The host to talk to for a reference's domain (Hub's API lives elsewhere). */
export function registryApiHost(domain: string): string {
  return domain === DEFAULT_DOMAIN ? DOCKER_HUB_API_HOST : domain;
}

/** A tagged reference (tag required) for `hull tag`, `import`, `commit`: digests are not allowed. */
export function parseTaggedReference(input: string): ImageReference & { tag: string } {
  const ref = parseReference(input);
  if (ref.digest) throw new InvalidReferenceError(input, 'a digest cannot be used as a tag target');
  return ref as ImageReference & { tag: string };
}
