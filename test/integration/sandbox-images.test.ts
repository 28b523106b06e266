// A multi-layer image: prepared once as ONE read-only overlay shared by every sandbox (whiteouts
// and upper layers visible), unmounted when released; a writable root on top stays private.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { applyLayer } from '../../src/image/apply';
import { loadFromDirectory } from '../../src/image/archive';
import { ImageStore, type ApplyLayerFn } from '../../src/image/store';
import { prepareImage, releaseIdle, runSandbox, Sandbox, sandboxResources, SANDBOX_RUN_DIR } from '../../src/sandbox';
import { testImages } from '../setup/images';
import { mountsContaining, removeTree, tempDir } from '../setup/rootfs';
import { buildTar } from '../setup/tarball';

let dir: string;
let storeRoot: string;
const REF = 'localhost/hull-sandbox-two-layers:1';

const sha256 = (b: Buffer) => 'sha256:' + crypto.createHash('sha256').update(b).digest('hex');

/** The shared test image's OCI layout with a second layer on top (adds a file, whites one out). */
async function twoLayerLayout(target: string): Promise<string> {
  const source = (await testImages()).ociLayout;
  const blob = (digest: string) => fs.readFileSync(path.join(source, 'blobs/sha256', digest.slice(7)));
  const index = JSON.parse(fs.readFileSync(path.join(source, 'index.json'), 'utf8'));
  const manifest = JSON.parse(blob(index.manifests[0].digest).toString());
  const config = JSON.parse(blob(manifest.config.digest).toString());
  const blobs = path.join(target, 'blobs/sha256');
  fs.mkdirSync(blobs, { recursive: true });
  const put = (data: Buffer) => {
    const digest = sha256(data);
    fs.writeFileSync(path.join(blobs, digest.slice(7)), data);
    return { digest, size: data.length };
  };
  put(blob(manifest.layers[0].digest));
  const top = buildTar([
    { name: 'etc/', type: 'dir' },
    { name: 'etc/layer2', content: 'from the top layer\n' },
    { name: 'etc/.wh.hostname' },
  ]);
  config.rootfs.diff_ids.push(sha256(top));
  manifest.layers.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...put(zlib.gzipSync(top)) });
  manifest.config = { ...manifest.config, ...put(Buffer.from(JSON.stringify(config))) };
  const m = put(Buffer.from(JSON.stringify(manifest)));
  fs.writeFileSync(path.join(target, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  fs.writeFileSync(
    path.join(target, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...m, annotations: { 'org.opencontainers.image.ref.name': REF } }] }),
  );
  return target;
}

beforeAll(async () => {
  dir = tempDir('hull-sbx-images-');
  storeRoot = path.join(dir, 'store');
  const store = new ImageStore(storeRoot, { applyLayer: applyLayer as ApplyLayerFn });
  const [image] = await loadFromDirectory(store, await twoLayerLayout(path.join(dir, 'layout')));
  expect(image.layers).toHaveLength(2);
  if (!image.repoTags.length) await store.tag(image.id, REF);
});
afterEach(async () => {
  await releaseIdle();
  expect(sandboxResources()).toEqual({ cgroups: [], mounts: [], processes: [] });
});
afterAll(() => {
  expect(mountsContaining(dir)).toEqual([]);
  removeTree(dir);
});

describe('a multi-layer image', () => {
  it('is mounted once, as one read-only overlay shared by every sandbox', async () => {
    await using image = await prepareImage(REF, { storeRoot });
    expect(image.layers).toHaveLength(2);
    expect(image.rootfs.startsWith(SANDBOX_RUN_DIR + '/images/')).toBe(true);
    expect(mountsContaining(image.rootfs)).toHaveLength(1);
    const results = await Promise.all(
      Array.from({ length: 5 }, () => runSandbox({ image, argv: ['sh', '-c', 'cat /etc/layer2; ls /etc/hostname 2>&1; touch /etc/x 2>&1 || echo ro'] })),
    );
    for (const r of results) {
      expect(r.stdout).toMatch(/^from the top layer\n.*No such file or directory\n.*Read-only file system\nro\n$/s);
    }
    expect(mountsContaining(image.rootfs)).toHaveLength(1); // still the one mount
    await image.close();
    expect(mountsContaining(SANDBOX_RUN_DIR)).toEqual([]);
  });

  it('is prepared implicitly by reference and released when idle', async () => {
    const a = await runSandbox({ image: REF, storeRoot, argv: ['cat', '/etc/layer2'] });
    expect(a.stdout).toBe('from the top layer\n');
    expect(sandboxResources().mounts).toHaveLength(1); // kept for the next run
    const b = await runSandbox({ image: REF, storeRoot, argv: ['cat', '/etc/layer2'] });
    expect(b.stdout).toBe('from the top layer\n');
    expect(sandboxResources().mounts).toHaveLength(1);
    await releaseIdle();
    expect(sandboxResources().mounts).toEqual([]);
  });

  it('gives each writable sandbox its own layer on top', async () => {
    await using image = await prepareImage(REF, { storeRoot });
    await using box = await Sandbox.start({ image, readonlyRoot: false });
    await box.exec(['sh', '-c', 'echo mine > /etc/layer2']);
    expect((await box.exec(['cat', '/etc/layer2'])).stdout).toBe('mine\n');
    const other = await runSandbox({ image, argv: ['cat', '/etc/layer2'] });
    expect(other.stdout).toBe('from the top layer\n');
  });
});
