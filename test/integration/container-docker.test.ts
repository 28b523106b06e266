// The same operations on the same image through docker and through hull: the writable layer's
// `diff` lines and the exit codes must match.
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { applyLayer } from '../../src/image/apply';
import { saveArchive } from '../../src/image/archive';
import { ImageStore, type ApplyLayerFn } from '../../src/image/store';
import { loadTestImage, removeAllContainers, runHull } from '../setup/hull-cli';
import { describeWithPeers, startDockerd, stopDockerd, type Dockerd } from '../setup/peers';
import { mountsContaining, removeTree, tempDir } from '../setup/rootfs';

let root: string;
let tmp: string;
let dockerd: Dockerd | undefined;
let image: string;

const hull = (args: string[]) => runHull(args, { HULL_ROOT: root });

describeWithPeers(['docker'], 'hull and docker agree', () => {
  beforeAll(async () => {
    tmp = tempDir('hull-container-docker-');
    root = path.join(tmp, 'root');
    const images = await loadTestImage(root);
    image = images.repoTag;
    dockerd = await startDockerd();
    const loaded = dockerd.docker(['load', '-i', images.dockerArchive], { timeoutMs: 120_000 });
    expect(loaded.status, loaded.stderr).toBe(0);
  }, 300_000);

  afterAll(async () => {
    if (dockerd) await stopDockerd(dockerd);
    if (root) {
      await removeAllContainers(hull);
      expect(mountsContaining(root)).toEqual([]);
    }
    if (tmp) removeTree(tmp);
  });

  const script = [
    'echo x > /etc/newfile', 'rm /bin/ls', 'mkdir -p /root/a/b', 'echo hi > /root/a/b/c', 'rm -rf /home',
    'mkdir /home', 'touch /home/fresh', 'chmod 700 /tmp', 'exit 3',
  ].join('; ');

  it('diff lines and exit codes', async () => {
    const name = `cmp-${process.pid}`;
    const d = dockerd!.docker(['run', '--name', name, '--network', 'none', image, 'sh', '-c', script]);
    const h = await hull(['run', '--name', name, '--network', 'none', image, 'sh', '-c', script]);
    expect(h.code).toBe(3);
    expect(d.status).toBe(3);
    const dockerDiff = dockerd!.docker(['diff', name]).stdout.split('\n').filter(Boolean).sort();
    const hullDiff = (await hull(['diff', name])).stdout.split('\n').filter(Boolean).sort();
    expect(hullDiff).toEqual(dockerDiff);
    for (const [args, expected] of [
      [['sh', '-c', 'exit 0'], 0],
      [['no-such-command'], 127],
      [['/etc/passwd'], 126],
    ] as const) {
      const dr = dockerd!.docker(['run', '--rm', '--network', 'none', image, ...args]);
      const hr = await hull(['run', '--rm', image, ...args]);
      expect([hr.code, dr.status], `${args.join(' ')}: ${hr.stderr} | ${dr.stderr}`).toEqual([expected, expected]);
    }
    const dBad = dockerd!.docker(['run', '--rm', 'localhost/no-such-image-here:1', 'true']);
    const hBad = await hull(['run', '--rm', '--pull', 'never', 'localhost/no-such-image-here:1', 'true']);
    expect([hBad.code, dBad.status]).toEqual([125, 125]);
    expect((await hull(['rm', name])).code).toBe(0);
  }, 300_000);

  it('an image committed by hull runs in docker', async () => {
    const name = `commit-${process.pid}`;
    const tag = `localhost/hull-committed-${process.pid}:v1`;
    expect((await hull(['run', '--name', name, image, 'sh', '-c', 'echo made-by-hull > /etc/mark; rm /bin/ls'])).code).toBe(0);
    expect((await hull(['commit', '-c', 'CMD ["cat", "/etc/mark"]', name, tag])).code).toBe(0);
    const file = path.join(tmp, 'committed.tar');
    await saveArchive(new ImageStore(root, { applyLayer: applyLayer as ApplyLayerFn }), [tag], file);
    const loaded = dockerd!.docker(['load', '-i', file], { timeoutMs: 120_000 });
    expect(loaded.status, loaded.stderr).toBe(0);
    const out = dockerd!.docker(['run', '--rm', '--network', 'none', tag]);
    expect(out.stdout).toBe('made-by-hull\n');
    expect(dockerd!.docker(['run', '--rm', '--network', 'none', tag, 'ls', '/']).status).toBe(127);
    expect((await hull(['rm', name])).code).toBe(0);
  }, 300_000);
});
