// Test images built from the shared busybox + hull-probe rootfs (test/setup/rootfs.ts), in the two
// formats peers load without a network: an OCI image layout and a legacy `docker save` archive.
// The global setup (test/setup/global.ts) builds them once per run; tests get their paths with
// `testImages()`.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import * as tar from 'tar';
import { makeBusyboxRootfs, removeTree, tempDir } from './rootfs';

export const IMAGE_PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Where the shared images of this test run live (provided by the global setup). */
export interface TestImages {
  dir: string;
  /** OCI image layout directory; reference it as `oci:<ociLayout>:<ociTag>`. */
  ociLayout: string;
  ociTag: string;
  /** Legacy docker-archive tarball; `docker load` / `podman load` tag it `repoTag`. */
  dockerArchive: string;
  repoTag: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    hullImages: TestImages;
  }
}

/** A built layer plus the config that describes it, shared by both output formats. */
interface ImageParts {
  layerTar: Buffer; // uncompressed
  diffId: string; // sha256:<hex> of layerTar
  config: Buffer;
}

const sha256 = (b: Buffer | string) => 'sha256:' + crypto.createHash('sha256').update(b).digest('hex');
const hex = (digest: string) => digest.slice('sha256:'.length);

function ociArch(): string {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x' };
  return map[process.arch] ?? process.arch;
}

// A fixed mtime keeps layer digests stable while the rootfs inputs are unchanged.
const EPOCH = new Date(0);

async function buildParts(): Promise<ImageParts> {
  const root = tempDir('hull-image-rootfs-');
  try {
    makeBusyboxRootfs(path.join(root, 'rootfs'));
    const chunks: Buffer[] = [];
    // Sorted, relative entries ("./bin/sh"): the order and names every image tool expects.
    const entries = fs.readdirSync(path.join(root, 'rootfs')).sort().map((e) => `./${e}`);
    const stream = tar.c({ cwd: path.join(root, 'rootfs'), mtime: EPOCH, portable: false }, entries);
    for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
    const layerTar = Buffer.concat(chunks);
    const diffId = sha256(layerTar);
    const config = Buffer.from(
      JSON.stringify({
        created: EPOCH.toISOString(),
        architecture: ociArch(),
        os: 'linux',
        config: { Env: [IMAGE_PATH_ENV], Cmd: ['sh'], WorkingDir: '/' },
        rootfs: { type: 'layers', diff_ids: [diffId] },
        history: [{ created: EPOCH.toISOString(), created_by: 'hull test setup: busybox-static + hull-probe' }],
      }),
    );
    return { layerTar, diffId, config };
  } finally {
    removeTree(root);
  }
}

let partsPromise: Promise<ImageParts> | undefined;
const parts = () => (partsPromise ??= buildParts());

/**
 * Writes an OCI image layout into `dir`: oci-layout, index.json (ref name = `tag`) and
 * blobs/sha256/{manifest, config, gzip'ed layer}. Returns `dir`.
 */
export async function buildOciLayout(dir: string, opts: { tag?: string } = {}): Promise<string> {
  const tag = opts.tag ?? 'latest';
  const { layerTar, config } = await parts();
  const blobs = path.join(dir, 'blobs', 'sha256');
  fs.mkdirSync(blobs, { recursive: true });
  const putBlob = (data: Buffer) => {
    const digest = sha256(data);
    fs.writeFileSync(path.join(blobs, hex(digest)), data);
    return { digest, size: data.length };
  };
  const layerGz = zlib.gzipSync(layerTar);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...putBlob(config) },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...putBlob(layerGz) }],
    }),
  );
  const index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        ...putBlob(manifest),
        annotations: { 'org.opencontainers.image.ref.name': tag },
      },
    ],
  };
  fs.writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify(index));
  return dir;
}

/**
 * Writes a legacy `docker save` archive to `file`: manifest.json, repositories, <config>.json and
 * <layer>/layer.tar (uncompressed). `docker load`, `podman load` and skopeo's docker-archive: read it.
 */
export async function buildDockerArchive(file: string, opts: { repoTag?: string } = {}): Promise<string> {
  const repoTag = opts.repoTag ?? 'localhost/hull-test:latest';
  const { layerTar, diffId, config } = await parts();
  const stage = tempDir('hull-docker-archive-');
  try {
    const configName = `${hex(sha256(config))}.json`;
    const layerDir = hex(diffId);
    fs.writeFileSync(path.join(stage, configName), config);
    fs.mkdirSync(path.join(stage, layerDir));
    fs.writeFileSync(path.join(stage, layerDir, 'layer.tar'), layerTar);
    fs.writeFileSync(path.join(stage, layerDir, 'VERSION'), '1.0');
    fs.writeFileSync(
      path.join(stage, 'manifest.json'),
      JSON.stringify([{ Config: configName, RepoTags: [repoTag], Layers: [`${layerDir}/layer.tar`] }]),
    );
    const colon = repoTag.lastIndexOf(':');
    const [repo, tag] = colon > repoTag.lastIndexOf('/') ? [repoTag.slice(0, colon), repoTag.slice(colon + 1)] : [repoTag, 'latest'];
    fs.writeFileSync(path.join(stage, 'repositories'), JSON.stringify({ [repo]: { [tag]: layerDir } }));
    fs.mkdirSync(path.dirname(file), { recursive: true });
    await tar.c({ cwd: stage, file, mtime: EPOCH }, [configName, layerDir, 'manifest.json', 'repositories']);
  } finally {
    removeTree(stage);
  }
  return file;
}

/** Builds both images under `dir` (the global setup calls this once per run). */
export async function buildTestImages(dir: string): Promise<TestImages> {
  const images: TestImages = {
    dir,
    ociLayout: path.join(dir, 'oci'),
    ociTag: 'latest',
    dockerArchive: path.join(dir, 'hull-test.tar'),
    repoTag: 'localhost/hull-test:latest',
  };
  await buildOciLayout(images.ociLayout, { tag: images.ociTag });
  await buildDockerArchive(images.dockerArchive, { repoTag: images.repoTag });
  return images;
}

/**
 * A new directory for the images. Its name is lower-case because podman names an image pulled from
 * an OCI layout after the layout's path, and image names must be lower-case.
 */
export function imagesTempDir(): string {
  const dir = path.join(os.tmpdir(), `hull-images-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
  fs.mkdirSync(dir, { mode: 0o755 });
  return dir;
}

let ownImages: Promise<TestImages> | undefined;

/**
 * The run's shared images. Normally provided by the global setup; a test file run without it
 * (another config, a debugger) builds a private copy under /tmp that lives until the process exits.
 */
export async function testImages(): Promise<TestImages> {
  const { inject } = await import('vitest');
  const provided = inject('hullImages');
  if (provided && fs.existsSync(provided.dockerArchive)) return provided;
  ownImages ??= (async () => {
    const dir = imagesTempDir();
    process.once('exit', () => removeTree(dir));
    return buildTestImages(dir);
  })();
  return ownImages;
}
