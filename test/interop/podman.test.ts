// podman drives bin/hull-oci through conmon: `create --bundle --pid-file --console-socket`, `start`,
// `state`, `kill`, `delete`, `exec --process --detach`. The podman store is private (peers.ts).
import * as fs from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { testImages } from '../setup/images';
import { createPodmanEnv, describeRun, describeWithPeers, interopRuntime, type PodmanEnv, type RunResult } from '../setup/peers';

/** Container state directories under hull-oci's default root, which podman's runtime calls use. */
function stateDirs(): string[] {
  try {
    return fs.readdirSync('/run/hull-oci').sort();
  } catch {
    return [];
  }
}

describeWithPeers(['podman'], `podman --runtime ${interopRuntime}`, () => {
  let pm: PodmanEnv;
  let image: string;
  let stateBefore: string[] = [];

  /** On failure, the runtime calls podman made (from --log-level debug) make the message useful. */
  function podmanOk(args: string[], opts: { timeoutMs?: number } = {}): RunResult {
    const r = pm.podman(args, opts);
    if (r.status !== 0) {
      const debug = pm.podman(['--log-level', 'debug', ...args], opts);
      const calls = debug.stderr
        .split('\n')
        .filter((l) => (l.includes(interopRuntime) || /level=(error|warning)|OCI runtime error/i.test(l)) && !l.includes('initialization failed'))
        .slice(-25)
        .join('\n');
      throw new Error(`${describeRun('podman', args, r)}\n--- podman --log-level debug (runtime calls, errors):\n${calls}`);
    }
    return r;
  }

  beforeAll(async () => {
    const images = await testImages();
    stateBefore = stateDirs();
    pm = createPodmanEnv();
    const load = pm.podman(['load', '-i', images.dockerArchive]);
    expect(load.status, describeRun('podman', ['load'], load)).toBe(0);
    image = images.repoTag;
  });
  afterAll(() => {
    pm?.cleanup();
    // Every container podman made was deleted through hull-oci: no state directory is left.
    expect(stateDirs()).toEqual(stateBefore);
  });

  it('run --rm --ulimit host IMAGE echo ok prints ok', () => {
    const r = podmanOk(['run', '--rm', '--ulimit', 'host', image, 'echo', 'ok']);
    expect(r.stdout).toBe('ok\n');
  });

  it("passes the container's exit code through", () => {
    const r = pm.podman(['run', '--rm', '--ulimit', 'host', image, 'sh', '-c', 'exit 7']);
    expect(r.status, describeRun('podman', ['run', 'sh -c exit 7'], r)).toBe(7);
  });

  it('runs the image loaded from the OCI layout (oci: transport)', async () => {
    const images = await testImages();
    podmanOk(['pull', `oci:${images.ociLayout}:${images.ociTag}`]);
    const r = podmanOk(['run', '--rm', '--ulimit', 'host', `oci:${images.ociLayout}:${images.ociTag}`, 'readlink', '/bin/sh']);
    expect(r.stdout).toBe('busybox\n');
  });

  it('run -d, exec, stop and rm a long-running container', () => {
    const name = `hull-podman-${process.pid}-d`;
    const started = podmanOk(['run', '-d', '--name', name, '--ulimit', 'host', image, 'sleep', '1000']);
    expect(started.stdout.trim()).toMatch(/^[0-9a-f]{64}$/);
    expect(podmanOk(['inspect', '-f', '{{.State.Status}}', name]).stdout.trim()).toBe('running');

    expect(podmanOk(['exec', name, 'echo', 'inside']).stdout).toBe('inside\n');
    // Short-lived exec processes race their own reaping: conmon must get every exit status.
    for (let i = 0; i < 5; i++) {
      const r = pm.podman(['exec', name, 'sh', '-c', `exit ${i + 1}`]);
      expect(r.status, describeRun('podman', ['exec', name, 'sh', '-c', `exit ${i + 1}`], r)).toBe(i + 1);
    }

    // sleep as pid 1 ignores SIGTERM: stop falls back to SIGKILL after the timeout.
    podmanOk(['stop', '-t', '1', name]);
    expect(podmanOk(['inspect', '-f', '{{.State.Status}}', name]).stdout.trim()).toBe('exited');

    podmanOk(['rm', name]);
    expect(podmanOk(['ps', '-a', '--format', '{{.Names}}']).stdout).not.toContain(name);
  });

  it('run -t allocates a terminal (console socket)', () => {
    const r = podmanOk(['run', '--rm', '-t', '--ulimit', 'host', image, 'sh', '-c', 'test -t 0 && echo tty']);
    expect(r.stdout.replace(/\r/g, '')).toBe('tty\n');
  });
});
