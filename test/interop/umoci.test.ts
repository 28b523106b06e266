// umoci turns the OCI image layout into a runtime bundle (config.json generated from the image
// config); bin/hull-oci must run that bundle as it is, apart from the process we ask for.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { testImages } from '../setup/images';
import { tempDir } from '../setup/rootfs';
import { describeRun, describeWithPeers, interopRuntime, run, unmountAndRemove } from '../setup/peers';

describeWithPeers(['umoci'], 'bundles unpacked by umoci', () => {
  let dir: string;
  let bundle: string;

  beforeAll(async () => {
    const images = await testImages();
    dir = tempDir('hull-umoci-');
    bundle = path.join(dir, 'bundle');
    // umoci takes a lock in the layout and may write to it: work on a copy.
    fs.cpSync(images.ociLayout, path.join(dir, 'oci'), { recursive: true });
    const args = ['unpack', '--image', `${path.join(dir, 'oci')}:${images.ociTag}`, bundle];
    const r = run('umoci', args);
    expect(r.status, describeRun('umoci', args, r)).toBe(0);
  });
  afterAll(() => {
    if (dir) unmountAndRemove(dir);
  });

  function runBundle(processArgs: string[]) {
    const file = path.join(bundle, 'config.json');
    const config = JSON.parse(fs.readFileSync(file, 'utf8'));
    config.process.terminal = false; // umoci asks for a terminal; the test has none to give
    config.process.args = processArgs;
    fs.writeFileSync(file, JSON.stringify(config));
    const id = `hull-umoci-${process.pid}-${Math.random().toString(16).slice(2, 8)}`;
    return run(interopRuntime, ['--root', path.join(dir, 'state'), 'run', '--bundle', bundle, id], { timeoutMs: 45_000 });
  }

  it('runs the image config from umoci (env, cwd, image user)', () => {
    const r = runBundle(['sh', '-c', 'echo "$PATH"; pwd; id -u']);
    expect(r.status, describeRun(interopRuntime, ['run', '--bundle', bundle], r)).toBe(0);
    expect(r.stdout).toBe('/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n/\n0\n');
  });

  it("exits with the container's exit code", () => {
    const r = runBundle(['sh', '-c', 'exit 42']);
    expect(r.status, describeRun(interopRuntime, ['run', '--bundle', bundle], r)).toBe(42);
  });
});
