// Mutated archives: flipped bytes and truncations of a layer full of links, whiteouts and PAX
// records. Every run must end in either success or a clean error — never a crash, a hang, or a
// write outside the layer directory.
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { applyLayer } from '../../src/image/apply';
import { buildTar, headerBlock } from '../setup/tarball';
import { removeTree, tempDir } from '../setup/rootfs';

let work: string;
beforeAll(() => {
  work = tempDir('hull-layer-fuzz-');
  fs.mkdirSync(path.join(work, 'sentinel'));
  fs.writeFileSync(path.join(work, 'sentinel/victim'), 'original');
});
afterAll(() => removeTree(work));

/** Deterministic PRNG (mulberry32) so a failure reproduces. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const base = buildTar([
  { name: 'etc/', type: 'dir', mode: 0o755 },
  { name: 'etc/passwd', content: 'root:x:0:0\n', xattrs: { 'user.a': Buffer.from([0, 1, 2]) } },
  { name: 'abs', type: 'symlink', linkname: '/tmp' },
  { name: 'up', type: 'symlink', linkname: '../sentinel' },
  { name: 'sentinel/', type: 'dir' },
  { name: 'up/victim', content: 'inside' },
  { name: 'hard', type: 'hardlink', linkname: '/etc/passwd' },
  { name: 'etc/.wh.gone' },
  { name: 'etc/.wh..wh..opq' },
  { name: `${'long/'.repeat(30)}file`, content: 'long', mtime: '1700000000.5' },
  { name: 'gnu/' + 'g'.repeat(150), content: 'g', longNames: 'gnu' },
  { name: 'dev/null', type: 'char', devmajor: 1, devminor: 3 },
]);

it('survives 300 mutated archives without writing outside the layer', async () => {
  const rand = rng(1234);
  let ok = 0;
  let failed = 0;
  for (let i = 0; i < 300; i++) {
    const tar = Buffer.from(base);
    const mutation = i % 3;
    if (mutation === 0) {
      for (let k = 0; k < 1 + Math.floor(rand() * 4); k++) tar[Math.floor(rand() * tar.length)] = Math.floor(rand() * 256);
    } else if (mutation === 1) {
      // rewrite a header with a hostile name but a valid checksum
      const names = ['../sentinel/victim', '/../../sentinel/victim', 'up/../../sentinel/victim', '.wh..', 'up/.wh.victim'];
      const block = headerBlock({ name: names[i % names.length], typeflag: '0', size: 0 });
      const at = 512 * Math.floor(rand() * (tar.length / 512 - 2));
      block.copy(tar, at);
    }
    const cut = mutation === 2 ? tar.subarray(0, Math.floor(rand() * tar.length)) : tar;
    const dir = path.join(work, `l${i}`);
    fs.mkdirSync(dir);
    try {
      await applyLayer({ blob: Readable.from([cut]), dir });
      ok++;
    } catch (err) {
      expect((err as NodeJS.ErrnoException).code, String(err)).toMatch(/^(EHULLTAR|E[A-Z0-9]+)$/);
      failed++;
    }
    expect(fs.readFileSync(path.join(work, 'sentinel/victim'), 'utf8')).toBe('original');
    expect(fs.readdirSync(path.join(work, 'sentinel'))).toEqual(['victim']);
    fs.rmSync(dir, { recursive: true, force: true });
    expect(fs.readdirSync(work)).toEqual(['sentinel']);
  }
  expect(ok + failed).toBe(300);
  expect(failed).toBeGreaterThan(0);
});
