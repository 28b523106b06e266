// Push and pull against a real distribution registry (docker-registry) on 127.0.0.1.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { importRootfs, loadArchive } from '../../src/image/archive';
import { pullImage } from '../../src/image/pull';
import { pushImage } from '../../src/image/push';
import type { HullConfig } from '../../src/config';
import { describeWithPeers, run, describeRun, requirePeer } from '../setup/peers';
import { startRegistry, type Registry } from '../setup/registry';
import { makeBusyboxRootfs, removeTree, tempDir } from '../setup/rootfs';
import { buildOciLayout } from '../setup/images';
import { buildImage, layerOf, makeStore, rawTar, testApplier, treeOf } from './image-helpers';
import * as zlib from 'node:zlib';
import { native } from '../../src/native';

const noConfig: HullConfig = { insecureRegistries: [], mirrors: {}, source: null };
const fast = { attempts: 3, baseDelayMs: 5, maxDelayMs: 20 };

describeWithPeers(['registry'], 'push and pull with docker-registry', () => {
  let registry: Registry;
  let tmp: string;
  let rootfs: string;
  beforeAll(async () => {
    registry = await startRegistry();
    tmp = tempDir('hull-registry-test-');
    rootfs = makeBusyboxRootfs(path.join(tmp, 'rootfs'));
    // Entries the busybox tree lacks: setuid, odd owners, a hardlink, an absolute symlink.
    fs.writeFileSync(path.join(rootfs, 'etc/owned'), 'x');
    fs.chownSync(path.join(rootfs, 'etc/owned'), 1234, 5678);
    fs.chmodSync(path.join(rootfs, 'etc/owned'), 0o4755);
    fs.linkSync(path.join(rootfs, 'etc/passwd'), path.join(rootfs, 'etc/passwd.link'));
    fs.symlinkSync('/etc/passwd', path.join(rootfs, 'etc/abs-link'));
  });
  afterAll(async () => {
    await registry?.stop();
    if (tmp) removeTree(tmp);
  });

  it('pushes an image built here and pulls it into an empty root: the tree is equal entry by entry', async () => {
    const a = makeStore(path.join(tmp, 'a'));
    const tarball = path.join(tmp, 'rootfs.tgz');
    fs.writeFileSync(tarball, await layerOf(rootfs));
    const name = `${registry.host}/test/busybox:1`;
    const image = await importRootfs(a, tarball, { reference: name });
    const requests: string[] = [];
    const digest = await pushImage(a, name, { config: noConfig, retry: fast, onRequest: (m, u) => requests.push(`${m} ${new URL(u).pathname}`) });
    expect(requests.filter((r) => r.startsWith('PUT')).pop()).toBe('PUT /v2/test/busybox/manifests/1');

    const b = makeStore(path.join(tmp, 'b'));
    const events: string[] = [];
    const pulled = await pullImage(b, name, {
      config: noConfig, retry: fast,
      progress: { message: (t) => events.push(t), update: (id, s) => events.push(`${id}: ${s}`), finish() {} },
    });
    expect(pulled.id).toBe(image.id);
    expect(pulled.manifestDigest).toBe(digest);
    expect(pulled.repoDigests).toEqual([`${registry.host}/test/busybox@${digest}`]);
    expect(events).toContain(`${image.layers[0].digest.slice(7, 19)}: Pull complete`);
    const source = treeOf(rootfs);
    const unpacked = treeOf(b.layerDiffDir(pulled.layers[0].chainId));
    expect(unpacked).toEqual(source);
    expect(unpacked['etc/owned']).toMatchObject({ uid: 1234, gid: 5678, mode: 0o4755 });
    expect(unpacked['etc/abs-link'].link).toBe('/etc/passwd');
    if (testApplier().native) {
      const st = fs.statSync(path.join(b.layerDiffDir(pulled.layers[0].chainId), 'etc/passwd.link'));
      expect(st.nlink).toBe(2);
    }

    // Pushing again uploads nothing; pulling again downloads nothing.
    const again: string[] = [];
    await pushImage(a, name, { config: noConfig, retry: fast, onRequest: (m, u) => again.push(`${m} ${new URL(u).pathname}`) });
    expect(again.filter((r) => r.startsWith('POST') || r.startsWith('PATCH'))).toEqual([]);
    const pulls: string[] = [];
    await pullImage(b, name, { config: noConfig, retry: fast, onRequest: (m, u) => pulls.push(new URL(u).pathname) });
    expect(pulls.filter((p) => p.includes('/blobs/'))).toEqual([]);

    // By digest, into another empty root.
    const c = makeStore(path.join(tmp, 'c'));
    const byDigest = await pullImage(c, `${registry.host}/test/busybox@${digest}`, { config: noConfig, retry: fast });
    expect(byDigest.id).toBe(image.id);
    expect(byDigest.repoTags).toEqual([]);
  });

  it('mounts blobs across repositories of the same registry and uploads in chunks', async () => {
    const a = makeStore(path.join(tmp, 'm'));
    const base = await layerOf(rootfs);
    const extra = path.join(tmp, 'extra');
    fs.mkdirSync(path.join(extra, 'srv'), { recursive: true });
    fs.writeFileSync(path.join(extra, 'srv/big'), Buffer.alloc(300_000, 7));
    fs.writeFileSync(path.join(extra, '.wh.home'), '');
    await buildImage(a, [base, await layerOf(extra)], `${registry.host}/test/src:1`);
    await pushImage(a, `${registry.host}/test/src:1`, { config: noConfig, retry: fast });
    const b = makeStore(path.join(tmp, 'n'));
    await pullImage(b, `${registry.host}/test/src:1`, { config: noConfig, retry: fast });
    await b.tag(`${registry.host}/test/src:1`, `${registry.host}/test/dst:1`);
    const requests: string[] = [];
    const events: string[] = [];
    await pushImage(b, `${registry.host}/test/dst:1`, {
      config: noConfig, retry: fast, onRequest: (m, u) => requests.push(`${m} ${u}`),
      progress: { message() {}, update: (id, s) => events.push(`${id}: ${s}`), finish() {} },
    });
    expect(requests.some((r) => r.startsWith('POST') && r.includes('mount=') && r.includes('from=test%2Fsrc'))).toBe(true);
    expect(events.filter((e) => e.endsWith('Mounted from test/src')).length).toBe(3);

    // Chunked upload with small chunks to a new repository (no mount source there).
    const chunked: string[] = [];
    await a.tag(`${registry.host}/test/src:1`, `127.0.0.1:${registry.host.split(':')[1]}/chunky/app:2`);
    const c = makeStore(path.join(tmp, 'o'));
    await buildImage(c, [base, await layerOf(extra)], `${registry.host}/other/app:2`);
    await pushImage(c, `${registry.host}/other/app:2`, { config: noConfig, retry: fast, chunked: true, chunkSize: 64 * 1024, onRequest: (m, u) => chunked.push(m) });
    expect(chunked.filter((m) => m === 'PATCH').length).toBeGreaterThan(3);
    const d = makeStore(path.join(tmp, 'p'));
    const pulled = await pullImage(d, `${registry.host}/other/app:2`, { config: noConfig, retry: fast });
    expect(pulled.layers.length).toBe(2);
    const top = d.layerDiffDir(pulled.layers[1].chainId);
    expect(fs.statSync(path.join(top, 'srv/big')).size).toBe(300_000);
    if (testApplier().native) {
      const wh = fs.lstatSync(path.join(top, 'home'));
      expect(wh.isCharacterDevice()).toBe(true); // overlay-form whiteout
    }
  });

  it('carries whiteouts, opaque directories and hardlinks into lower layers through the registry', async () => {
    if (!testApplier().native) return; // overlay form needs the native applier
    const a = makeStore(path.join(tmp, 'wh-a'));
    const lower = zlib.gzipSync(rawTar([
      { name: 'etc/', type: 'dir' }, { name: 'etc/file', content: 'shared\n', mode: 0o640, uid: 7, gid: 8 },
      { name: 'home/', type: 'dir' }, { name: 'home/user', content: 'x' },
      { name: 'srv/', type: 'dir' }, { name: 'srv/old', content: 'old' },
    ]));
    const upper = zlib.gzipSync(rawTar([
      { name: 'etc/', type: 'dir' }, { name: 'etc/link', type: 'hardlink', linkname: 'etc/file' },
      { name: '.wh.home', content: '' },
      { name: 'srv/', type: 'dir' }, { name: 'srv/.wh..wh..opq', content: '' }, { name: 'srv/new', content: 'new' },
    ]));
    const name = `${registry.host}/test/whiteouts:1`;
    await buildImage(a, [lower, upper], name);
    await pushImage(a, name, { config: noConfig, retry: fast });
    const b = makeStore(path.join(tmp, 'wh-b'));
    const image = await pullImage(b, name, { config: noConfig, retry: fast });
    const top = b.layerDiffDir(image.layers[1].chainId);
    const link = fs.statSync(path.join(top, 'etc/link'));
    expect(fs.readFileSync(path.join(top, 'etc/link'), 'utf8')).toBe('shared\n');
    expect({ mode: link.mode & 0o7777, uid: link.uid, gid: link.gid }).toEqual({ mode: 0o640, uid: 7, gid: 8 });
    const whiteout = fs.lstatSync(path.join(top, 'home'));
    expect(whiteout.isCharacterDevice() && whiteout.rdev === 0).toBe(true);
    expect(native().getxattr(path.join(top, 'srv'), 'trusted.overlay.opaque')?.toString()).toBe('y');
    expect(fs.existsSync(path.join(top, '.wh.home'))).toBe(false);
    expect(fs.readdirSync(path.join(top, 'srv'))).toEqual(['new']);
  });

  it('takes a single-platform manifest as is and names a missing tag', async () => {
    const a = makeStore(path.join(tmp, 'q'));
    await expect(pullImage(a, `${registry.host}/test/busybox:1`, { config: noConfig, retry: fast, platform: 'linux/s390x' })).resolves.toBeDefined();
    await expect(pullImage(a, `${registry.host}/test/nothing:1`, { config: noConfig, retry: fast })).rejects.toThrow(/manifest test\/nothing:1: not found/);
  });

  it('pulls what skopeo pushed; skopeo reads what hull pushed', async () => {
    if (!requirePeer('skopeo')) return;
    const layout = await buildOciLayout(path.join(tmp, 'skopeo-src'), { tag: 'v1' });
    const env = { ...process.env, http_proxy: '', https_proxy: '' };
    const up = ['copy', '--dest-tls-verify=false', `oci:${layout}:v1`, `docker://${registry.host}/from/skopeo:v1`];
    const r = run('skopeo', up, { env });
    expect(r.status, describeRun('skopeo', up, r)).toBe(0);
    const store = makeStore(path.join(tmp, 'from-skopeo'));
    const image = await pullImage(store, `${registry.host}/from/skopeo:v1`, { config: noConfig, retry: fast });
    expect(fs.readlinkSync(path.join(store.layerDiffDir(image.layers[0].chainId), 'bin/sh'))).toBe('busybox');
    const inspect = ['inspect', '--tls-verify=false', '--raw', `docker://${registry.host}/test/busybox:1`];
    const i = run('skopeo', inspect, { env });
    expect(i.status, describeRun('skopeo', inspect, i)).toBe(0);
    expect(JSON.parse(i.stdout).mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
  });

  it('loads what skopeo copied from the registry into a docker-archive and an oci-archive', async () => {
    if (!requirePeer('skopeo')) return;
    for (const [transport, file] of [['docker-archive', 'skopeo-docker.tar'], ['oci-archive', 'skopeo-oci.tar']]) {
      const out = path.join(tmp, file);
      const args = ['copy', '--src-tls-verify=false', `docker://${registry.host}/test/src:1`, `${transport}:${out}:${registry.host}/test/skopeo:1`];
      const r = run('skopeo', args, { env: { ...process.env, http_proxy: '', https_proxy: '' } });
      expect(r.status, describeRun('skopeo', args, r)).toBe(0);
      const store = makeStore(path.join(tmp, `load-${transport}`));
      const [image] = await loadArchive(store, out);
      expect(image.layers.length).toBe(2);
      if (transport === 'docker-archive') expect(image.repoTags).toEqual([`${registry.host}/test/skopeo:1`]);
      expect(fs.statSync(path.join(store.layerDiffDir(image.layers[1].chainId), 'srv/big')).size).toBe(300_000);
    }
  });
});
