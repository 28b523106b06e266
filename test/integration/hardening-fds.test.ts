// Issue 6, host file descriptors (CVE-2024-21626 class): nothing of hull's reaches the container
// process, and a working directory of /proc/self/fd/N never lands outside the container's root.
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupHullRoot, loadTestImage, runHull } from '../setup/hull-cli';
import { tempDir } from '../setup/rootfs';

const IMAGE = 'localhost/hull-test:latest';
let root: string;
let tmp: string;

const hull = (args: string[]) => runHull(args, { HULL_ROOT: root });

beforeAll(async () => {
  tmp = tempDir('hull-hardening-fds-');
  root = path.join(tmp, 'root');
  await loadTestImage(root);
});

afterAll(async () => {
  if (root) await cleanupHullRoot(hull, root, tmp);
});

describe('host fds', () => {
  it('the container process has only stdio open', async () => {
    const r = await hull(['run', '--rm', IMAGE, 'hull-probe', 'fds']);
    expect(r.code, r.stderr).toBe(0);
    const { fds } = JSON.parse(r.stdout) as { fds: { fd: number; target: string | null }[] };
    expect(fds.map((f) => f.fd)).toEqual([0, 1, 2]);
  });

  it('an exec into a running container gets no host fd either', async () => {
    const run = await hull(['run', '-d', IMAGE, 'sleep', '60']);
    expect(run.code, run.stderr).toBe(0);
    const id = run.stdout.trim();
    try {
      const r = await hull(['exec', id, 'hull-probe', 'fds']);
      expect(r.code, r.stderr).toBe(0);
      expect((JSON.parse(r.stdout) as { fds: { fd: number }[] }).fds.map((f) => f.fd)).toEqual([0, 1, 2]);
    } finally {
      await hull(['rm', '-f', id]);
    }
  });

  it('-w /proc/self/fd/N is refused or stays inside the container for every N the helper may hold', async () => {
    for (let fd = 3; fd <= 12; fd++) {
      // `ls ..` from a cwd outside the root would list a host directory (state dir, bundle, /).
      const r = await hull(['run', '--rm', '-w', `/proc/self/fd/${fd}`, IMAGE, 'sh', '-c', 'cd .. && cd .. && ls /proc/self/cwd/ && pwd']);
      if (r.code !== 0) {
        expect(r.code, `fd ${fd}: ${r.stderr}`).toBe(125);
        continue;
      }
      // It ran: its cwd must resolve to the container's own root filesystem.
      expect(r.stdout, `fd ${fd}`).toContain('bin');
      expect(r.stdout.trim().split('\n').at(-1), `fd ${fd}`).toBe('/');
    }
  });
});
