// dockerd -> containerd -> containerd-shim-runc-v2 -> bin/hull-oci, registered with
// `--add-runtime hull=...`. The daemon is private to this file (startDockerd in peers.ts).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { testImages } from '../setup/images';
import { describeRun, describeWithPeers, interopRuntime, startDockerd, stopDockerd, type Dockerd, type RunResult } from '../setup/peers';

describeWithPeers(['docker'], `dockerd --add-runtime hull=${interopRuntime}`, () => {
  let d: Dockerd | undefined;
  let image: string;

  /** On failure, include the daemon's error lines: the shim reports hull-oci's stderr/log there. */
  function dockerOk(args: string[]): RunResult {
    const r = d!.docker(args);
    if (r.status !== 0) {
      const errors = d!
        .log()
        .split('\n')
        .filter((l) => /level=(error|warning)/.test(l))
        .slice(-15)
        .join('\n');
      throw new Error(`${describeRun('docker', args, r)}\n--- dockerd errors:\n${errors}`);
    }
    return r;
  }

  beforeAll(async () => {
    const images = await testImages();
    d = await startDockerd();
    dockerOk(['load', '-i', images.dockerArchive]);
    image = images.repoTag;
  });
  afterAll(async () => {
    if (d) await stopDockerd(d);
  });

  it('docker run --runtime hull --rm IMAGE echo ok prints ok', () => {
    const r = dockerOk(['run', '--runtime', 'hull', '--rm', image, 'echo', 'ok']);
    expect(r.stdout).toBe('ok\n');
  });

  it("passes the container's exit code through", () => {
    const r = d!.docker(['run', '--runtime', 'hull', '--rm', image, 'sh', '-c', 'exit 7']);
    expect(r.status, describeRun('docker', ['run', 'sh -c exit 7'], r)).toBe(7);
  });

  it('run -d, exec, stop and rm a long-running container', () => {
    const name = `hull-docker-${process.pid}-d`;
    dockerOk(['run', '-d', '--runtime', 'hull', '--name', name, image, 'sleep', '1000']);
    expect(dockerOk(['inspect', '-f', '{{.State.Status}} {{.HostConfig.Runtime}}', name]).stdout.trim()).toBe('running hull');
    expect(dockerOk(['exec', name, 'echo', 'inside']).stdout).toBe('inside\n');
    // Short-lived exec processes race their own reaping: the shim must get every exit status.
    for (let i = 0; i < 5; i++) {
      const r = d!.docker(['exec', name, 'sh', '-c', `exit ${i + 1}`]);
      expect(r.status, describeRun('docker', ['exec', name, 'sh', '-c', `exit ${i + 1}`], r)).toBe(i + 1);
    }
    dockerOk(['stop', '-t', '1', name]);
    expect(dockerOk(['inspect', '-f', '{{.State.Status}}', name]).stdout.trim()).toBe('exited');
    dockerOk(['rm', name]);
    expect(dockerOk(['ps', '-a', '--format', '{{.Names}}']).stdout).not.toContain(name);
  });

  it('run -t allocates a terminal (console socket)', () => {
    const r = dockerOk(['run', '--runtime', 'hull', '--rm', '-t', image, 'sh', '-c', 'test -t 0 && echo tty']);
    expect(r.stdout.replace(/\r/g, '')).toBe('tty\n');
  });
});
