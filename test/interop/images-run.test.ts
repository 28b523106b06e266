// Issue 3: a tarball written by another tool loads AND runs. skopeo turns the test image's OCI
// layout into a docker-archive and an oci-archive; hull loads each and runs a container from it.
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cleanupHullRoot, runHull } from '../setup/hull-cli';
import { testImages } from '../setup/images';
import { describeRun, describeWithPeers, run } from '../setup/peers';
import { tempDir } from '../setup/rootfs';

let tmp: string;
let root: string;
const hull = (args: string[]) => runHull(args, { HULL_ROOT: root });

describeWithPeers(['skopeo'], 'images written by skopeo', () => {
  beforeAll(() => {
    tmp = tempDir('hull-skopeo-run-');
    root = path.join(tmp, 'root');
  });
  afterAll(async () => {
    if (root) await cleanupHullRoot(hull, root, tmp);
  });

  for (const transport of ['docker-archive', 'oci-archive'] as const) {
    it(`${transport}: hull load, then run a container from it`, async () => {
      const { ociLayout, ociTag } = await testImages();
      const file = path.join(tmp, `${transport}.tar`);
      const ref = `localhost/from-skopeo-${transport}:1`;
      const args = ['copy', `oci:${ociLayout}:${ociTag}`, `${transport}:${file}:${ref}`];
      const copied = run('skopeo', args);
      expect(copied.status, describeRun('skopeo', args, copied)).toBe(0);
      const loaded = await hull(['load', '-i', file]);
      expect(loaded.code, loaded.stderr).toBe(0);
      const ran = await hull(['run', '--rm', ref, 'sh', '-c', 'echo ran from $0', transport]);
      expect(ran.stderr).toBe('');
      expect(ran.stdout.trim()).toBe(`ran from ${transport}`);
      expect(ran.code).toBe(0);
    });
  }
});
