// Root filesystems from applied layers: overlay mounts (fsopen + lowerdir+), whiteouts and opaque
// directories in overlay form seen through the mount, 200-layer stacks, and the copy fallback.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { applyLayer } from '../../src/image/apply';
import { copyRootfsFallback, isMountPoint, mountRootfs, unmountRootfs } from '../../src/image/rootfs';
import { native } from '../../src/native';
import { buildTar, type TarEntry } from '../setup/tarball';
import { mountsContaining, removeTree, tempDir } from '../setup/rootfs';

let work: string;
const mounted: string[] = [];

beforeEach(() => {
  work = tempDir('hull-overlay-rootfs-');
});
afterEach(() => {
  for (const m of mounted.splice(0)) unmountRootfs(m);
  expect(mountsContaining(work)).toEqual([]);
  removeTree(work);
});

/** Applies layers bottom-first, each with the layers below as lowerDirs; returns dirs top first. */
async function applyChain(layers: TarEntry[][]): Promise<string[]> {
  const dirs: string[] = [];
  for (const [i, entries] of layers.entries()) {
    const dir = path.join(work, 'layers', String(i));
    fs.mkdirSync(dir, { recursive: true });
    await applyLayer({ blob: Readable.from([buildTar(entries)]), dir, lowerDirs: [...dirs].reverse(), overlay: true });
    dirs.push(dir);
  }
  return dirs.reverse();
}

function mkdirs(...names: string[]): string[] {
  return names.map((n) => {
    const p = path.join(work, n);
    fs.mkdirSync(p, { recursive: true });
    return p;
  });
}

const threeLayers: TarEntry[][] = [
  [
    { name: 'etc/', type: 'dir' },
    { name: 'etc/passwd', content: 'root:x:0:0\n' },
    { name: 'etc/shadow', content: 'secret', mode: 0o600 },
    { name: 'cache/', type: 'dir' },
    { name: 'cache/old1', content: '1' },
    { name: 'cache/old2', content: '2' },
    { name: 'bin/tool', content: 'tool-v1', mode: 0o4755 },
  ],
  [
    { name: 'etc/.wh.shadow' },
    { name: 'cache/.wh..wh..opq' },
    { name: 'cache/new', content: 'n' },
    { name: 'usr/bin/tool', type: 'hardlink', linkname: '/bin/tool' },
  ],
  [
    { name: 'etc/hostname', content: 'top\n' },
    { name: 'etc/passwd', content: 'root:x:0:0\nuser:x:1000:1000\n' },
  ],
];

describe('overlay root filesystems', () => {
  it('mounts a 3-layer chain with an upper: read-through, whiteouts and opaque dirs hide lower files', async () => {
    const layers = await applyChain(threeLayers);
    const middle = layers[1];
    // overlay form on disk
    const wh = fs.lstatSync(path.join(middle, 'etc/shadow'));
    expect(wh.isCharacterDevice() && wh.rdev === 0).toBe(true);
    expect(fs.existsSync(path.join(middle, 'etc/.wh.shadow'))).toBe(false);
    expect(native().getxattr(path.join(middle, 'cache'), 'trusted.overlay.opaque')?.toString()).toBe('y');
    // the hardlink target lived only in the bottom layer: copied up, then linked, setuid intact
    expect(fs.statSync(path.join(middle, 'bin/tool')).ino).toBe(fs.statSync(path.join(middle, 'usr/bin/tool')).ino);
    expect(fs.statSync(path.join(middle, 'bin/tool')).mode & 0o7777).toBe(0o4755);

    const [upper, wk, target] = mkdirs('upper', 'work', 'merged');
    mountRootfs({ layers, upper, work: wk, target });
    mounted.push(target);
    expect(isMountPoint(target)).toBe(true);
    expect(fs.readFileSync(path.join(target, 'etc/passwd'), 'utf8')).toContain('user:x:1000');
    expect(fs.readFileSync(path.join(target, 'etc/hostname'), 'utf8')).toBe('top\n');
    expect(fs.existsSync(path.join(target, 'etc/shadow'))).toBe(false);
    expect(fs.readdirSync(path.join(target, 'cache')).sort()).toEqual(['new']);
    expect(fs.readFileSync(path.join(target, 'usr/bin/tool'), 'utf8')).toBe('tool-v1');
    // writes land in the upper dir, layers untouched
    fs.writeFileSync(path.join(target, 'etc/passwd'), 'changed');
    expect(fs.readFileSync(path.join(upper, 'etc/passwd'), 'utf8')).toBe('changed');
    expect(fs.readFileSync(path.join(layers[0], 'etc/passwd'), 'utf8')).toContain('user:x:1000');

    expect(unmountRootfs(target)).toBe(true);
    mounted.pop();
    expect(isMountPoint(target)).toBe(false);
    expect(unmountRootfs(target)).toBe(false); // nothing of ours there any more: no-op
  });

  it('mounts read-only: several layers as a lower-only overlay, one layer as a read-only bind', async () => {
    const layers = await applyChain(threeLayers);
    const [ro2, ro1] = mkdirs('ro2', 'ro1');
    mountRootfs({ layers, target: ro2, readonly: true });
    mounted.push(ro2);
    expect(fs.existsSync(path.join(ro2, 'etc/shadow'))).toBe(false);
    expect(() => fs.writeFileSync(path.join(ro2, 'x'), 'x')).toThrow(/EROFS/);
    mountRootfs({ layers: [layers[0]], target: ro1, readonly: true });
    mounted.push(ro1);
    expect(fs.readFileSync(path.join(ro1, 'etc/hostname'), 'utf8')).toBe('top\n');
    expect(() => fs.writeFileSync(path.join(ro1, 'x'), 'x')).toThrow(/EROFS/);
  });

  it('stacks 200 layers with long paths (more than a page of lowerdir options)', async () => {
    const layers: string[] = [];
    const deep = path.join(work, 'a-fairly-long-directory-name-for-layers', 'sha256');
    for (let i = 0; i < 200; i++) {
      const dir = path.join(deep, `${String(i).padStart(4, '0')}-${'x'.repeat(40)}`);
      fs.mkdirSync(dir, { recursive: true });
      await applyLayer({ blob: Readable.from([buildTar([{ name: `layer-${i}`, content: String(i) }, { name: 'top', content: String(i) }])]), dir });
      layers.unshift(dir);
    }
    expect(layers.join(':').length).toBeGreaterThan(4096);
    const [upper, wk, target] = mkdirs('upper200', 'work200', 'merged200');
    mountRootfs({ layers, upper, work: wk, target });
    mounted.push(target);
    expect(fs.readdirSync(target).length).toBe(201);
    expect(fs.readFileSync(path.join(target, 'top'), 'utf8')).toBe('199');
    expect(fs.readFileSync(path.join(target, 'layer-0'), 'utf8')).toBe('0');
  });

  it('accepts layer, upper and work paths longer than an fsconfig string (256 bytes)', async () => {
    const base = path.join(work, 'long', 'p'.repeat(200), 'q'.repeat(100));
    const lowers = ['l1', 'l2'].map((n) => path.join(base, n));
    for (const [i, dir] of lowers.entries()) {
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, `f${i}`), String(i));
    }
    const [upper, wk] = [path.join(base, 'upper'), path.join(base, 'work')];
    fs.mkdirSync(upper);
    fs.mkdirSync(wk);
    expect(upper.length).toBeGreaterThan(256);
    const [target] = mkdirs('mlong');
    mountRootfs({ layers: lowers, upper, work: wk, target });
    mounted.push(target);
    expect(fs.readdirSync(target).sort()).toEqual(['f0', 'f1']);
  });

  it('legacy mount(2) path: escapes `:` `,` `\\` in layer paths and refuses more than a page with E2BIG', async () => {
    process.env.HULL_OVERLAY_LEGACY = '1';
    try {
      const lowers = ['odd:colon', 'odd,comma', 'odd\\backslash'].map((n) => path.join(work, n));
      for (const [i, dir] of lowers.entries()) {
        fs.mkdirSync(dir);
        fs.writeFileSync(path.join(dir, `f${i}`), String(i));
      }
      const [upper, wk, target, big] = mkdirs('u:l', 'w,l', 'mlegacy', 'mbig');
      mountRootfs({ layers: lowers, upper, work: wk, target });
      mounted.push(target);
      expect(fs.readdirSync(target).sort()).toEqual(['f0', 'f1', 'f2']);
      const many = Array.from({ length: 60 }, (_, i) => path.join(work, `layer-with-a-long-name-${String(i).padStart(3, '0')}-${'z'.repeat(40)}`));
      for (const dir of many) fs.mkdirSync(dir);
      const err = (() => {
        try {
          mountRootfs({ layers: many, upper, work: wk, target: big });
        } catch (e) {
          return e as NodeJS.ErrnoException;
        }
      })();
      expect(err?.code).toBe('E2BIG');
      expect(err?.message).toMatch(/over one page/);
      expect(isMountPoint(big)).toBe(false);
    } finally {
      delete process.env.HULL_OVERLAY_LEGACY;
    }
  });

  it('does not honour overlay xattrs planted by a layer (redirect to another layer)', async () => {
    const layers = await applyChain([
      [{ name: 'private/', type: 'dir' }, { name: 'private/key', content: 'k' }],
      [{ name: 'public/', type: 'dir', xattrs: { 'trusted.overlay.redirect': '/private' } }],
    ]);
    const [upper, wk, target] = mkdirs('u', 'w', 'm');
    mountRootfs({ layers, upper, work: wk, target });
    mounted.push(target);
    expect(fs.readdirSync(path.join(target, 'public'))).toEqual([]);
  });

  it('copy fallback yields the same tree as the overlay', async () => {
    const layers = await applyChain(threeLayers);
    const [copy, upper, wk, target] = mkdirs('copy', 'u2', 'w2', 'm2');
    await copyRootfsFallback({ layers, target: copy });
    mountRootfs({ layers, upper, work: wk, target });
    mounted.push(target);
    const listing = (root: string): string[] => {
      const out: string[] = [];
      const walk = (rel: string) => {
        for (const name of fs.readdirSync(path.join(root, rel)).sort()) {
          const r = path.join(rel, name);
          const st = fs.lstatSync(path.join(root, r));
          const body = st.isFile() ? fs.readFileSync(path.join(root, r), 'utf8') : '';
          // overlay reports nlink 1 for merged directories: compare link counts of files only
          const links = st.isDirectory() ? '' : st.nlink;
          out.push(`${r} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${links} ${Math.floor(st.mtimeMs)} ${body}`);
          if (st.isDirectory()) walk(r);
        }
      };
      walk('.');
      return out;
    };
    expect(listing(copy)).toEqual(listing(target));
    expect(fs.statSync(path.join(copy, 'bin/tool')).ino).toBe(fs.statSync(path.join(copy, 'usr/bin/tool')).ino);
  });

  it('fails with a clear error for a missing lower directory and mounts nothing', async () => {
    const [upper, wk, target] = mkdirs('u3', 'w3', 'm3');
    const err = (() => {
      try {
        mountRootfs({ layers: [path.join(work, 'nope'), path.join(work, 'nope2')], upper, work: wk, target });
      } catch (e) {
        return e as NodeJS.ErrnoException;
      }
    })();
    expect(err?.code).toBe('ENOENT');
    expect(err?.message).toContain('nope');
    expect(isMountPoint(target)).toBe(false);
  });
});
