import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { applyChanges, importRootfs, loadArchive, saveArchive } from '../../src/image/archive';
import { ImageStore, setImageInUseProvider } from '../../src/image/store';
import { buildDockerArchive, buildOciLayout } from '../setup/images';
import { makeBusyboxRootfs, removeTree, tempDir } from '../setup/rootfs';
import { describeRun, requirePeer, run, unmountAndRemove } from '../setup/peers';
import { layerOf, makeStore, treeOf } from './image-helpers';

let tmp: string;
let store: ImageStore;
beforeEach(() => {
  tmp = tempDir('hull-image-archive-');
  store = makeStore(path.join(tmp, 'root'));
});
afterEach(() => {
  setImageInUseProvider(undefined);
  removeTree(tmp);
});

async function tarDir(dir: string, file: string): Promise<string> {
  const r = spawnSync('tar', ['-C', dir, '-cf', file, '.']);
  if (r.status !== 0) throw new Error(String(r.stderr));
  return file;
}

describe('load', () => {
  it('loads a legacy docker-archive and unpacks its layer', async () => {
    const file = await buildDockerArchive(path.join(tmp, 'legacy.tar'), { repoTag: 'localhost/legacy:v1' });
    const [image] = await loadArchive(store, file);
    expect(image.repoTags).toEqual(['localhost/legacy:v1']);
    expect(store.getImage('localhost/legacy:v1').id).toBe(image.id);
    const diff = store.layerDiffDir(image.layers[0].chainId);
    expect(fs.readlinkSync(path.join(diff, 'bin/sh'))).toBe('busybox');
    expect(image.size).toBeGreaterThan(100_000);
  });

  it('loads an OCI layout tarball (oci-archive), gzip or plain', async () => {
    const layout = await buildOciLayout(path.join(tmp, 'oci'), { tag: 'localhost/oci:1' });
    const file = await tarDir(layout, path.join(tmp, 'oci.tar'));
    spawnSync('gzip', ['-k', file]);
    const [a] = await loadArchive(store, file);
    expect(a.repoTags).toEqual(['localhost/oci:1']);
    const store2 = makeStore(path.join(tmp, 'root2'));
    const [b] = await loadArchive(store2, `${file}.gz`);
    expect(b.id).toBe(a.id);
    expect(b.manifestDigest).toBe(a.manifestDigest);
  });

  it('refuses a blob whose bytes do not match its digest', async () => {
    const layout = await buildOciLayout(path.join(tmp, 'oci'));
    const blobs = path.join(layout, 'blobs/sha256');
    const biggest = fs.readdirSync(blobs).map((f) => path.join(blobs, f)).sort((x, y) => fs.statSync(y).size - fs.statSync(x).size)[0];
    const data = fs.readFileSync(biggest);
    data[100] ^= 0xff;
    fs.writeFileSync(biggest, data);
    await expect(loadArchive(store, await tarDir(layout, path.join(tmp, 'bad.tar')))).rejects.toThrow(/digest mismatch/);
    expect(store.listImages()).toEqual([]);
  });

  it('refuses manifest.json paths that leave the archive', async () => {
    const dir = path.join(tmp, 'evil');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify([{ Config: '../../etc/passwd', RepoTags: [], Layers: [] }]));
    await expect(loadArchive(store, await tarDir(dir, path.join(tmp, 'evil.tar')))).rejects.toThrow(/leaves the archive/);
  });

  it('refuses a digest with path characters in index.json', async () => {
    const dir = path.join(tmp, 'evil');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: 'sha256:../../x', size: 1 }] }));
    await expect(loadArchive(store, await tarDir(dir, path.join(tmp, 'evil.tar')))).rejects.toThrow(/invalid .*digest "sha256:..\/..\/x"/);
  });

  it('says what is wrong with something that is not a tarball', async () => {
    fs.writeFileSync(path.join(tmp, 'junk'), 'hello');
    await expect(loadArchive(store, path.join(tmp, 'junk'))).rejects.toThrow();
  });
});

describe('save', () => {
  it('round-trips through save and load, with manifest.json and an OCI layout inside', async () => {
    const [image] = await loadArchive(store, await buildDockerArchive(path.join(tmp, 'in.tar'), { repoTag: 'localhost/rt:1' }));
    const out = path.join(tmp, 'out.tar');
    await saveArchive(store, ['localhost/rt:1'], out);
    const listing = spawnSync('tar', ['-tf', out], { encoding: 'utf8' }).stdout.split('\n');
    expect(listing).toEqual(expect.arrayContaining(['manifest.json', 'index.json', 'oci-layout']));
    const extracted = path.join(tmp, 'x');
    fs.mkdirSync(extracted);
    spawnSync('tar', ['-C', extracted, '-xf', out]);
    const manifestJson = JSON.parse(fs.readFileSync(path.join(extracted, 'manifest.json'), 'utf8'));
    expect(manifestJson[0].RepoTags).toEqual(['localhost/rt:1']);
    const index = JSON.parse(fs.readFileSync(path.join(extracted, 'index.json'), 'utf8'));
    expect(index.manifests[0].annotations['io.containerd.image.name']).toBe('localhost/rt:1');
    const store2 = makeStore(path.join(tmp, 'root2'));
    const [again] = await loadArchive(store2, out);
    expect(again.id).toBe(image.id);
    expect(again.repoTags).toEqual(['localhost/rt:1']);
    expect(treeOf(store2.layerDiffDir(again.layers[0].chainId))).toEqual(treeOf(store.layerDiffDir(image.layers[0].chainId)));
  });
});

describe('save: read by skopeo', () => {
  it('skopeo reads the saved tarball both as docker-archive and as oci-archive', async () => {
    if (!requirePeer('skopeo')) return;
    const [image] = await loadArchive(store, await buildDockerArchive(path.join(tmp, 'in.tar'), { repoTag: 'localhost/sk:1' }));
    const out = path.join(tmp, 'saved.tar');
    await saveArchive(store, ['localhost/sk:1'], out);
    for (const transport of ['docker-archive', 'oci-archive']) {
      const r = run('skopeo', ['inspect', '--raw', `${transport}:${out}`]);
      expect(r.status, describeRun('skopeo', ['inspect', `${transport}:${out}`], r)).toBe(0);
      const manifest = JSON.parse(r.stdout);
      expect(manifest.config.digest).toBe(image.id);
    }
    const layout = path.join(tmp, 'copied');
    const c = run('skopeo', ['copy', `docker-archive:${out}`, `oci:${layout}:copy`]);
    expect(c.status, describeRun('skopeo', ['copy'], c)).toBe(0);
  });
});

describe('save/load: podman', () => {
  it('podman loads what hull saves, and hull loads what podman saves', async () => {
    if (!requirePeer('podman')) return;
    const [image] = await loadArchive(store, await buildDockerArchive(path.join(tmp, 'in.tar'), { repoTag: 'localhost/pod:1' }));
    await saveArchive(store, ['localhost/pod:1'], path.join(tmp, 'hull.tar'));
    const podman = (...args: string[]) => {
      const full = ['--root', path.join(tmp, 'podman-root'), '--runroot', path.join(tmp, 'podman-run'), '--storage-driver', 'vfs', ...args];
      const r = run('podman', full, { timeoutMs: 120_000 });
      expect(r.status, describeRun('podman', full, r)).toBe(0);
      return r.stdout;
    };
    try {
      podman('load', '-i', path.join(tmp, 'hull.tar'));
      expect(podman('images', '--no-trunc', '--format', '{{.ID}}').trim()).toBe(image.id);
      podman('save', '-o', path.join(tmp, 'podman.tar'), 'localhost/pod:1');
      const other = makeStore(path.join(tmp, 'root2'));
      const [back] = await loadArchive(other, path.join(tmp, 'podman.tar'));
      expect(back.id).toBe(image.id);
      expect(back.repoTags).toEqual(['localhost/pod:1']);
    } finally {
      unmountAndRemove(path.join(tmp, 'podman-root'));
      unmountAndRemove(path.join(tmp, 'podman-run'));
    }
  });
});

describe('import', () => {
  it('makes a one-layer image with --change and a message', async () => {
    const rootfs = makeBusyboxRootfs(path.join(tmp, 'rootfs'));
    const file = path.join(tmp, 'rootfs.tgz');
    fs.writeFileSync(file, await layerOf(rootfs));
    const image = await importRootfs(store, file, {
      reference: 'localhost/imported:1',
      changes: ['CMD ["sh","-c","echo hi"]', 'ENV A=1 B="two words"', 'WORKDIR /srv', 'USER 1000:1000', 'EXPOSE 80 53/udp', 'LABEL x=y', 'VOLUME /data', 'STOPSIGNAL SIGINT', 'ENTRYPOINT /bin/sh'],
      message: 'from a tarball',
    });
    const config = store.configOf(image);
    expect(config.config).toEqual({
      Cmd: ['sh', '-c', 'echo hi'], Env: ['A=1', 'B=two words'], WorkingDir: '/srv', User: '1000:1000',
      ExposedPorts: { '80/tcp': {}, '53/udp': {} }, Labels: { x: 'y' }, Volumes: { '/data': {} }, StopSignal: 'SIGINT',
      Entrypoint: ['/bin/sh', '-c', '/bin/sh'],
    });
    expect(config.history?.[0].comment).toBe('from a tarball');
    expect(image.repoTags).toEqual(['localhost/imported:1']);
    expect(treeOf(store.layerDiffDir(image.layers[0].chainId))['bin/busybox'].size).toBe(fs.statSync(path.join(rootfs, 'bin/busybox')).size);
  });

  it('rejects unknown --change instructions naming them', () => {
    expect(() => applyChanges({}, ['RUN echo'])).toThrow(/invalid --change "RUN echo"/);
    expect(() => applyChanges({}, ['EXPOSE abc'])).toThrow(/bad port/);
  });
});

describe('store: tags, rmi, prune, in use, leftovers', () => {
  it('shares layers, refuses rmi of an image in use, removes unreferenced content', async () => {
    const [image] = await loadArchive(store, await buildDockerArchive(path.join(tmp, 'a.tar'), { repoTag: 'localhost/a:1' }));
    await store.tag('localhost/a:1', 'localhost/b:2');
    expect(store.getImage('localhost/b:2').id).toBe(image.id);
    expect(store.getImage(image.id.slice(7, 19)).id).toBe(image.id);
    expect(await store.removeImage('localhost/b:2')).toEqual(['Untagged: localhost/b:2']);
    setImageInUseProvider(() => new Set([image.id]));
    await expect(store.removeImage('localhost/a:1')).rejects.toThrow(/in use/);
    setImageInUseProvider(undefined);
    // The containers code's records (<root>/containers/<id>/container.json, "Image": id) count too.
    const containerDir = path.join(store.root, 'containers', 'c'.repeat(64));
    fs.mkdirSync(containerDir, { recursive: true });
    fs.writeFileSync(path.join(containerDir, 'container.json'), JSON.stringify({ Id: 'c'.repeat(64), Image: image.id }));
    await expect(store.removeImage('localhost/a:1')).rejects.toThrow(/in use by a container/);
    expect(await store.removeImage('localhost/a:1', { force: true })).toEqual(['Untagged: localhost/a:1']);
    expect(store.getImage(image.id).repoTags).toEqual([]); // kept for its container
    fs.rmSync(path.join(store.root, 'containers'), { recursive: true });
    const out = await store.removeImage(image.id);
    expect(out).toContain(`Deleted: ${image.id}`);
    expect(fs.readdirSync(store.blobsDir)).toEqual([]);
    expect(fs.readdirSync(store.layersDir)).toEqual([]);
  });

  it('cleans leftovers of a killed process and ignores layers without meta.json', async () => {
    const deadPid = 2 ** 22 + 12345; // above pid_max on most systems: never alive
    fs.writeFileSync(path.join(store.ingestDir, `${deadPid}-abcdef`), 'partial');
    fs.mkdirSync(path.join(store.layersDir, `.tmp-${deadPid}-abcdef/diff`), { recursive: true });
    const [image] = await loadArchive(store, await buildDockerArchive(path.join(tmp, 'a.tar')));
    // Simulate a layer that was being applied when the process died: no meta.json.
    fs.rmSync(path.join(store.layerPath(image.layers[0].chainId), 'meta.json'));
    await store.garbageCollect();
    expect(fs.readdirSync(store.ingestDir)).toEqual([]);
    expect(fs.readdirSync(store.layersDir).filter((n) => n.startsWith('.tmp-'))).toEqual([]);
    expect(store.hasLayer(image.layers[0].chainId)).toBe(false);
    const [again] = await loadArchive(store, path.join(tmp, 'a.tar'));
    expect(store.hasLayer(again.layers[0].chainId)).toBe(true);
  });
});
