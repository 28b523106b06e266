// Issue 6, `--userns remap` through idmapped mounts: the image's layers reach the container as
// detached idmapped mounts inside its overlay, so nothing is copied or chowned in the store, image
// files are root's inside, and whatever the container writes (writable layer, volume) carries the
// mapped ids on disk. HULL_USERNS_COPY=1 forces the old copy path, whose copies rmi removes.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupHullRoot, loadTestImage, runHull } from '../setup/hull-cli';
import { native } from '../../src/native';
import { isShiftedLayer, pruneShiftedLayers, shiftedLayer } from '../../src/container/userns';
import { mountRemappedRootfs, needsIdmap } from '../../src/container/idmap';
import { unmountRootfs } from '../../src/image/rootfs';
import { mountsContaining, tempDir } from '../setup/rootfs';

const IMAGE = 'localhost/hull-test:latest';
const BASE = 296608;
let root: string;
let tmp: string;
let subuid: string;

const hull = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  runHull(args, { HULL_ROOT: root, HULL_SUBUID_FILE: subuid, HULL_SUBGID_FILE: subuid, ...env });

/** Every file and directory under `dir` (itself included) with its owner. */
function owners(dir: string): { file: string; uid: number; gid: number }[] {
  const out: { file: string; uid: number; gid: number }[] = [];
  const walk = (p: string) => {
    const st = fs.lstatSync(p);
    out.push({ file: p, uid: st.uid, gid: st.gid });
    if (st.isDirectory()) for (const e of fs.readdirSync(p)) walk(path.join(p, e));
  };
  walk(dir);
  return out;
}

function layerDirs(): string[] {
  const layers = path.join(root, 'layers');
  return fs.readdirSync(layers).filter((n) => !n.startsWith('.')).map((n) => path.join(layers, n));
}

/** The shifted layer copies in the store (the fallback path): beside their layer, or under <root>/userns. */
function shiftedCopies(): string[] {
  const beside = layerDirs().flatMap((l) => fs.readdirSync(l).filter((n) => n.startsWith('userns-')).map((n) => path.join(l, n)));
  const base = path.join(root, 'userns');
  const apart = fs.existsSync(base) ? fs.readdirSync(base).flatMap((r) => fs.readdirSync(path.join(base, r)).map((n) => path.join(base, r, n))) : [];
  return [...beside, ...apart];
}

async function pidOf(id: string): Promise<number> {
  return Number((await hull(['inspect', '-f', '{{.State.Pid}}', id])).stdout.trim());
}

beforeAll(async () => {
  tmp = tempDir('hull-userns-idmap-');
  fs.chmodSync(tmp, 0o755); // the mapped root walks through the state root
  root = path.join(tmp, 'root');
  subuid = path.join(tmp, 'subuid');
  fs.writeFileSync(subuid, `hull:${BASE}:65536\n`);
  await loadTestImage(root);
});

afterAll(async () => {
  if (root) await cleanupHullRoot(hull, root, tmp, { volumes: true });
});

describe('--userns remap with idmapped layers', () => {
  it('maps root to the range, shows image files as root, writes mapped ids, copies nothing, leaks no mount', async () => {
    const before = layerDirs().flatMap(owners);
    const vol = `idvol-${process.pid}`;
    const r = await hull(['run', '-d', '--userns', 'remap', '-v', `${vol}:/data`, IMAGE, 'sleep', '300']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const id = r.stdout.trim();
    const dir = path.join(root, 'containers', id);
    try {
      // Root inside is an unprivileged id outside, as the host sees it.
      const status = fs.readFileSync(`/proc/${await pidOf(id)}/status`, 'utf8');
      expect(status.match(/^Uid:\s+(.*)$/m)?.[1].split(/\s+/)).toEqual([String(BASE), String(BASE), String(BASE), String(BASE)]);
      expect(status.match(/^Gid:\s+(.*)$/m)?.[1].split(/\s+/)).toEqual([String(BASE), String(BASE), String(BASE), String(BASE)]);

      // Image files are root's inside; the container writes to its layer (new file and copy-up) and to the volume.
      const e = await hull(['exec', id, 'sh', '-c',
        'stat -c "%u:%g" /bin/busybox /etc/passwd /; echo new > /newfile; echo more >> /etc/passwd; echo v > /data/f; mkdir /data/d; chown 1000:1000 /data/d']);
      expect(e.stderr).toBe('');
      expect(e.code).toBe(0);
      expect(e.stdout.trim().split('\n')).toEqual(['0:0', '0:0', '0:0']);

      const upper = path.join(dir, 'layer', 'upper');
      for (const f of ['newfile', 'etc/passwd', 'etc']) {
        const st = fs.statSync(path.join(upper, f));
        expect([f, st.uid, st.gid]).toEqual([f, BASE, BASE]);
      }
      const mountpoint = JSON.parse((await hull(['volume', 'inspect', vol])).stdout)[0].Mountpoint as string;
      const vf = fs.statSync(path.join(mountpoint, 'f'));
      expect([vf.uid, vf.gid]).toEqual([BASE, BASE]);
      const vd = fs.statSync(path.join(mountpoint, 'd'));
      expect([vd.uid, vd.gid]).toEqual([BASE + 1000, BASE + 1000]);

      // Nothing in the store was copied or chowned.
      expect(shiftedCopies()).toEqual([]);
      expect(layerDirs().flatMap(owners)).toEqual(before);

      // On the host the container has its overlay and nothing else: the idmapped layers are detached.
      const mine = mountsContaining(dir).map((l) => l.split(' ')[4]);
      expect(mine).toEqual([path.join(dir, 'rootfs')]);
    } finally {
      await hull(['rm', '-f', id]);
    }
    expect(mountsContaining(dir)).toEqual([]);
    expect(fs.existsSync(dir)).toBe(false);
  });

  it('a stopped container whose overlay is gone (as after a reboot) starts again with idmapped layers', async () => {
    const r = await hull(['create', '--userns', 'remap', IMAGE, 'sh', '-c', 'stat -c "%u:%g" /bin/busybox; cat /proc/self/uid_map; touch /again']);
    expect(r.code).toBe(0);
    const id = r.stdout.trim();
    const dir = path.join(root, 'containers', id);
    try {
      const rootfs = path.join(dir, 'rootfs');
      expect(mountsContaining(rootfs).length).toBe(1);
      // What a reboot does to the mount.
      native().umount(rootfs, 2);
      expect(mountsContaining(rootfs)).toEqual([]);
      const s = await hull(['start', '-a', id]);
      expect(s.stderr).toBe('');
      expect(s.code).toBe(0);
      const [owner, map] = s.stdout.trim().split('\n');
      expect(owner).toBe('0:0');
      expect(map.trim().split(/\s+/)).toEqual(['0', String(BASE), '65536']);
      expect(fs.statSync(path.join(dir, 'layer', 'upper', 'again')).uid).toBe(BASE);
      expect(shiftedCopies()).toEqual([]);
    } finally {
      await hull(['rm', '-f', id]);
    }
    expect(mountsContaining(dir)).toEqual([]);
  });

  it('HULL_USERNS_COPY=1 (kernels without idmapped mounts) uses shifted copies, and rmi removes them', async () => {
    // A tag of its own, so rmi removes the image and its layers without touching the shared one.
    const own = 'localhost/hull-userns-copy:1';
    expect((await hull(['tag', IMAGE, own])).code).toBe(0);
    const r = await hull(['run', '--rm', '--userns', 'remap', own, 'sh', '-c', 'stat -c "%u:%g" /bin/busybox; touch /x'], { HULL_USERNS_COPY: '1' });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('0:0');
    const copies = shiftedCopies();
    expect(copies.length).toBeGreaterThan(0);
    // The copies (beside their layers) are owned by the range; the layers themselves are not touched.
    expect(copies.every((c) => path.basename(c) === `userns-${BASE}.${BASE}`)).toBe(true);
    expect(copies.map((c) => fs.statSync(c).uid)).toEqual(copies.map(() => BASE));
    expect(layerDirs().map((l) => fs.statSync(path.join(l, 'diff')).uid)).toEqual(layerDirs().map(() => 0));
    // Untagging while another tag remains keeps the layers, so the copies stay...
    await hull(['rmi', own]);
    expect(shiftedCopies()).toEqual(copies);
    // ...removing the image removes its layers and, with them, the copies.
    const rm = await hull(['rmi', IMAGE]);
    expect(rm.code).toBe(0);
    expect(layerDirs()).toEqual([]);
    expect(shiftedCopies()).toEqual([]);
  });

  it('the addon: a user namespace fd with the given maps; refusals name syscall, path and errno', () => {
    const n = native();
    const ns = n.usernsFd([{ inside: 0, outside: BASE, count: 65536 }], [{ inside: 0, outside: BASE, count: 65536 }]);
    try {
      expect(fs.readlinkSync(`/proc/self/fd/${ns}`)).toMatch(/^user:\[\d+\]$/);
      expect(fs.readlinkSync(`/proc/self/fd/${ns}`)).not.toBe(fs.readlinkSync('/proc/self/ns/user'));
      const tree = n.idmappedTree(path.join(root, 'layers'), ns);
      try {
        // On-disk root (0) shows as the range's first id through the detached mount.
        expect(fs.statSync(`/proc/self/fd/${tree}`).uid).toBe(BASE);
      } finally {
        fs.closeSync(tree);
      }
      // The attached form: an idmapped bind the caller unmounts.
      const target = path.join(tmp, 'idmapped-bind');
      fs.mkdirSync(target);
      n.idmappedMount(path.join(root, 'layers'), target, ns);
      try {
        expect(fs.statSync(target).uid).toBe(BASE);
        expect(fs.statSync(path.join(root, 'layers')).uid).toBe(0);
      } finally {
        n.umount(target, 0);
      }
      expect(mountsContaining(target)).toEqual([]);
      // procfs has no idmapped mounts: the refusal the copy fallback keys on.
      expect(() => n.idmappedTree('/proc', ns)).toThrow(expect.objectContaining({ code: 'EINVAL', syscall: 'mount_setattr', path: '/proc' }));
      expect(() => n.idmappedTree(path.join(tmp, 'missing'), ns)).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'open_tree' }));
    } finally {
      fs.closeSync(ns);
    }
    // Overlapping ranges: the kernel refuses the map.
    expect(() => n.usernsFd([{ inside: 0, outside: BASE, count: 10 }, { inside: 5, outside: BASE + 100, count: 10 }], [{ inside: 0, outside: BASE, count: 1 }]))
      .toThrow(expect.objectContaining({ code: 'EINVAL', syscall: 'write', path: expect.stringMatching(/^\/proc\/\d+\/uid_map$/) }));
  });

  it('copies of directories outside the store live under <root>/userns and go once their source does', () => {
    const ranges = { uid: { start: BASE, count: 65536 }, gid: { start: BASE, count: 65536 }, user: 'hull' };
    const src = path.join(tmp, 'outside-layer');
    fs.mkdirSync(path.join(src, 'etc'), { recursive: true });
    fs.writeFileSync(path.join(src, 'etc', 'f'), 'x');
    fs.chownSync(path.join(src, 'etc', 'f'), 7, 8);
    const copy = shiftedLayer(root, src, ranges);
    expect(copy.startsWith(path.join(root, 'userns') + path.sep)).toBe(true);
    expect(isShiftedLayer(root, copy)).toBe(true);
    expect(needsIdmap(root, path.join(root, 'containers', 'x'), copy)).toBe(false);
    expect(needsIdmap(root, path.join(root, 'containers', 'x'), src)).toBe(true);
    expect(needsIdmap(root, path.join(root, 'containers', 'x'), path.join(root, 'containers', 'x', 'init'))).toBe(false);
    const st = fs.statSync(path.join(copy, 'etc', 'f'));
    expect([st.uid, st.gid]).toEqual([BASE + 7, BASE + 8]);
    expect(shiftedLayer(root, src, ranges)).toBe(copy); // made once
    expect(pruneShiftedLayers(root)).toBe(0); // its source is still there
    fs.rmSync(src, { recursive: true });
    expect(pruneShiftedLayers(root, new Set([copy]))).toBe(0); // still named by a container
    expect(pruneShiftedLayers(root)).toBe(1);
    expect(fs.existsSync(copy)).toBe(false);
    expect(fs.readdirSync(path.dirname(copy))).toEqual([]);
  });

  it('a layer on a filesystem without idmapped mounts (ramfs): one warning, then a shifted copy', () => {
    const ranges = { uid: { start: BASE, count: 65536 }, gid: { start: BASE, count: 65536 }, user: 'hull' };
    const ram = path.join(tmp, 'ramfs');
    fs.mkdirSync(ram);
    native().mount('ramfs', ram, 'ramfs', 0, null);
    const dir = path.join(tmp, 'ctr');
    const target = path.join(dir, 'rootfs');
    try {
      fs.mkdirSync(path.join(ram, 'layer', 'etc'), { recursive: true });
      fs.writeFileSync(path.join(ram, 'layer', 'etc', 'f'), 'x');
      for (const d of ['upper', 'work', 'rootfs']) fs.mkdirSync(path.join(dir, d), { recursive: true });
      const warnings: string[] = [];
      const opts = { layers: [path.join(ram, 'layer')], upper: path.join(dir, 'upper'), work: path.join(dir, 'work'), target };
      const layers = mountRemappedRootfs(root, dir, opts, ranges, (m) => warnings.push(m));
      try {
        expect(warnings).toHaveLength(1);
        expect(warnings[0]).toMatch(/mount_setattr .*EINVAL.*shifted copies/);
        expect(layers).toHaveLength(1);
        expect(isShiftedLayer(root, layers[0])).toBe(true);
        expect(fs.statSync(path.join(target, 'etc', 'f')).uid).toBe(BASE);
      } finally {
        unmountRootfs(target);
      }
      // A second container: the same copy, no second warning.
      expect(mountRemappedRootfs(root, dir, opts, ranges, (m) => warnings.push(m))).toEqual(layers);
      unmountRootfs(target);
      expect(warnings).toHaveLength(1);
      fs.rmSync(layers[0], { recursive: true });
    } finally {
      native().umount(ram, 0);
    }
    expect(mountsContaining(tmp)).toEqual([]);
  });
});
