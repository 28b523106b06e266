// Many sandboxes from one process: 20 at once, then 200 in a row and in batches, with the host's
// mounts, cgroups and processes compared before and after.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { prepareImage, releaseIdle, runSandbox, Sandbox, sandboxResources, SANDBOX_RUN_DIR } from '../../src/sandbox';
import { applyLayer } from '../../src/image/apply';
import { loadArchive } from '../../src/image/archive';
import { ImageStore, type ApplyLayerFn } from '../../src/image/store';
import { testImages } from '../setup/images';
import { makeBusyboxRootfs, mountsContaining, removeTree, tempDir } from '../setup/rootfs';

let dir: string;
let rootfs: string;
let storeRoot: string;
let imageRef: string;

beforeAll(async () => {
  dir = tempDir('hull-sbx-many-');
  rootfs = makeBusyboxRootfs(path.join(dir, 'rootfs'));
  storeRoot = path.join(dir, 'store');
  const [image] = await loadArchive(new ImageStore(storeRoot, { applyLayer: applyLayer as ApplyLayerFn }), (await testImages()).dockerArchive);
  imageRef = image.repoTags[0] ?? image.id;
});
afterAll(() => removeTree(dir));

const openFds = () => fs.readdirSync('/proc/self/fd').length;

describe('many sandboxes from one process', () => {
  it('runs 20 sandboxes at once, each isolated from the others', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        runSandbox({ rootfs, argv: ['sh', '-c', `echo ${i} > /tmp/id; sleep 0.2; cat /tmp/id; ls /tmp | wc -l`], memory: '64m', timeoutMs: 60_000 }),
      ),
    );
    results.forEach((r, i) => expect(r).toMatchObject({ reason: 'exit', exitCode: 0, stdout: `${i}\n1\n` }));
    await releaseIdle();
    expect(sandboxResources()).toEqual({ cgroups: [], mounts: [], processes: [] });
  });

  it('leaves nothing behind after 200 runs (sequential, in batches, with limits, timeouts and failures)', async () => {
    const before = { fds: openFds() };
    const image = await prepareImage(imageRef, { storeRoot });
    let i = 0;
    const kinds = [
      () => runSandbox({ rootfs, argv: ['true'] }),
      () => runSandbox({ image, argv: ['sh', '-c', 'echo x >/tmp/x'] }),
      () => runSandbox({ rootfs, argv: ['sleep', '1000'], timeoutMs: 50 }),
      () => runSandbox({ rootfs, argv: ['no-such-command'] }),
      () => runSandbox({ rootfs, argv: ['yes'], outputLimitBytes: 100 }),
      () => runSandbox({ rootfs, argv: ['hull-probe', 'memhog', '64'], memory: '8m' }),
      () => runSandbox({ rootfs, readonlyRoot: false, argv: ['touch', '/x'] }),
    ];
    const reasons = new Map<string, number>();
    const one = async () => {
      const r = await kinds[i++ % kinds.length]();
      reasons.set(r.reason, (reasons.get(r.reason) ?? 0) + 1);
    };
    for (let n = 0; n < 100; n++) await one();
    for (let n = 0; n < 10; n++) await Promise.all(Array.from({ length: 10 }, one));
    await image.close();
    await releaseIdle();
    expect(i).toBe(200);
    expect([...reasons.keys()].sort()).toEqual(['error', 'exit', 'oom', 'output-limit', 'timeout']);
    expect(sandboxResources()).toEqual({ cgroups: [], mounts: [], processes: [] });
    expect(mountsContaining(dir)).toEqual([]);
    expect(mountsContaining(SANDBOX_RUN_DIR)).toEqual([]); // (other jobs on the host may mount meanwhile: count only ours)
    expect(openFds()).toBeLessThanOrEqual(before.fds);
  });

  it('leaves nothing behind after 50 long-lived sandboxes with execs', async () => {
    for (let n = 0; n < 5; n++) {
      await Promise.all(
        Array.from({ length: 10 }, async () => {
          await using box = await Sandbox.start({ rootfs, memory: '32m' });
          await box.exec(['true']);
          await box.exec(['sh', '-c', 'sleep 1000 & echo bg']);
        }),
      );
    }
    await releaseIdle();
    expect(sandboxResources()).toEqual({ cgroups: [], mounts: [], processes: [] });
  });
});
