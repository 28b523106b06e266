// Issue 6, `hull stats --no-stream` through bin/hull: docker's columns and formats; with no memory
// limit the machine's memory is the limit (docker's), NET I/O counts the container's own netns
// without lo, BLOCK I/O comes from the blkio / io cgroup counters, PIDS from pids.current.
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytesSize } from '../../src/container/stats';
import { cleanupHullRoot, loadTestImage, runHull } from '../setup/hull-cli';
import { tempDir } from '../setup/rootfs';

const IMAGE = 'localhost/hull-test:latest';
let root: string;
let tmp: string;

const hull = (args: string[]) => runHull(args, { HULL_ROOT: root });

/** The `stats --no-stream` row of a container, split on docker's 3-space column gaps. */
async function statsRow(args: string[], name: string): Promise<string[]> {
  const r = await hull(['stats', '--no-stream', ...args]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const lines = r.stdout.trimEnd().split('\n');
  expect(lines[0].split(/\s{2,}/)).toEqual(['CONTAINER ID', 'NAME', 'CPU %', 'MEM USAGE / LIMIT', 'MEM %', 'NET I/O', 'BLOCK I/O', 'PIDS']);
  const row = lines.find((l) => l.split(/\s{2,}/)[1] === name);
  expect(row).toBeDefined();
  return row!.split(/\s{2,}/);
}

const SIZE = '\\d+(\\.\\d+)?(B|kB|MB|GB|TB)';

beforeAll(async () => {
  tmp = tempDir('hull-stats-');
  root = path.join(tmp, 'root');
  await loadTestImage(root);
});

afterAll(async () => {
  if (root) await cleanupHullRoot(hull, root, tmp);
});

describe('hull stats --no-stream', () => {
  it('without a memory limit shows the machine memory; NET I/O, BLOCK I/O and PIDS as docker does', async () => {
    const name = `stats-${process.pid}`;
    const run = await hull(['run', '-d', '--name', name, IMAGE, 'sh', '-c', 'sleep 60 & sleep 60 & wait']);
    expect(run.code).toBe(0);
    try {
      const row = await statsRow([name], name);
      expect(row[0]).toBe(run.stdout.trim().slice(0, 12));
      expect(row[2]).toMatch(/^\d+\.\d\d%$/);
      expect(row[3]).toMatch(new RegExp(`^\\d+(\\.\\d+)?(B|KiB|MiB|GiB) / ${bytesSize(os.totalmem()).replace('.', '\\.')}$`));
      expect(row[4]).toMatch(/^\d+\.\d\d%$/);
      // --network none: only lo, which docker does not count.
      expect(row[5]).toBe('0B / 0B');
      expect(row[6]).toMatch(new RegExp(`^${SIZE} / ${SIZE}$`));
      expect(row[7]).toBe('3');
    } finally {
      await hull(['rm', '-f', name]);
    }
  });

  it('a memory limit is the LIMIT; a stopped container with -a shows zeros', async () => {
    const name = `stats-m-${process.pid}`;
    const stopped = `stats-s-${process.pid}`;
    expect((await hull(['run', '-d', '--name', name, '-m', '64m', IMAGE, 'sleep', '60'])).code).toBe(0);
    expect((await hull(['create', '--name', stopped, IMAGE, 'true'])).code).toBe(0);
    try {
      const row = await statsRow([name], name);
      expect(row[3]).toMatch(/ \/ 64MiB$/);
      expect(row[7]).toBe('1');
      const all = await statsRow(['-a'], stopped);
      expect(all.slice(2)).toEqual(['0.00%', '0B / 0B', '0.00%', '0B / 0B', '0B / 0B', '0']);
    } finally {
      await hull(['rm', '-f', name, stopped]);
    }
  });
});
