// Each way a sandboxed command can be stopped: timeout (the whole tree, grandchildren included),
// OOM, the pids limit, the output limit; and the CPU quota. Host processes are checked directly.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as path from 'node:path';
import { releaseIdle, runSandbox, sandboxResources } from '../../src/sandbox';
import { makeBusyboxRootfs, processesContaining, removeTree, tempDir } from '../setup/rootfs';

let dir: string;
let rootfs: string;

beforeAll(() => {
  dir = tempDir('hull-sbx-limits-');
  rootfs = makeBusyboxRootfs(path.join(dir, 'rootfs'));
});
afterEach(async () => {
  await releaseIdle();
  expect(sandboxResources()).toEqual({ cgroups: [], mounts: [], processes: [] });
});
afterAll(() => removeTree(dir));

/** Polls until `check` holds (bounded by the test timeout, no timing assertion). */
async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 20));
}

describe('timeout', () => {
  it('kills the whole tree: children, grandchildren and background jobs', async () => {
    // A unique sleep length marks this test's processes among the host's.
    const mark = String(4000 + (process.pid % 1000));
    const script = `sleep ${mark} & (sleep ${mark} & sh -c "sleep ${mark}" & wait) & echo started; wait`;
    let started = false;
    const run = runSandbox({ rootfs, argv: ['sh', '-c', script], timeoutMs: 1500, onStdout: () => (started = true) });
    await until(() => started && processesContaining(`sleep ${mark}`).length >= 3);
    const tree = processesContaining(`sleep ${mark}`);
    const r = await run;
    expect(r).toMatchObject({ reason: 'timeout', signal: 'SIGKILL', exitCode: 137, stdout: 'started\n' });
    for (const pid of tree) expect(processesContaining(`sleep ${mark}`)).not.toContain(pid);
    expect(processesContaining(`sleep ${mark}`)).toEqual([]);
  });

  it('also stops a PID 1 that ignores SIGTERM', async () => {
    const r = await runSandbox({ rootfs, argv: ['hull-probe', 'sleep', '1000'], timeoutMs: 300 });
    expect(r).toMatchObject({ reason: 'timeout', signal: 'SIGKILL' });
  });

  it('does not fire for a command that ends in time', async () => {
    const r = await runSandbox({ rootfs, argv: ['true'], timeoutMs: 60_000 });
    expect(r).toMatchObject({ reason: 'exit', exitCode: 0 });
  });
});

describe('memory', () => {
  it('ends a memory hog with reason "oom"', async () => {
    const r = await runSandbox({ rootfs, argv: ['hull-probe', 'memhog', '256'], memory: '32m' });
    expect(r).toMatchObject({ reason: 'oom', exitCode: 137, signal: 'SIGKILL' });
    expect(r.stdout).toBe(''); // killed before it could report the allocation
    expect(r.peakMemoryBytes).toBeGreaterThan(16 * 1024 * 1024);
    expect(r.peakMemoryBytes).toBeLessThanOrEqual(32 * 1024 * 1024);
  });

  it('kills the whole tree when a grandchild hits the limit', async () => {
    const mark = String(5000 + (process.pid % 1000));
    const r = await runSandbox({ rootfs, argv: ['sh', '-c', `sleep ${mark} & sh -c "hull-probe memhog 256"; sleep ${mark}`], memory: '32m', timeoutMs: 60_000 });
    expect(r.reason).toBe('oom');
    expect(processesContaining(`sleep ${mark}`)).toEqual([]);
  });

  it('lets a command within the limit finish', async () => {
    const r = await runSandbox({ rootfs, argv: ['hull-probe', 'memhog', '8', '0'], memory: '64m' });
    expect(r).toMatchObject({ reason: 'exit', exitCode: 0 });
    expect(JSON.parse(r.stdout)).toEqual({ allocated_mb: 8 });
  });
});

describe('reused cgroups (the run pool)', () => {
  it('give each run its own limits, peak, CPU time and OOM count', async () => {
    const oom = await runSandbox({ rootfs, argv: ['hull-probe', 'memhog', '256'], memory: '16m' });
    expect(oom.reason).toBe('oom');
    // The next runs may get the same group: no limit left over, no OOM counted again, a fresh peak.
    const big = await runSandbox({ rootfs, argv: ['hull-probe', 'memhog', '24', '0'] });
    expect(big).toMatchObject({ reason: 'exit', exitCode: 0 });
    expect(big.peakMemoryBytes).toBeGreaterThan(24 * 1024 * 1024);
    for (let i = 0; i < 4; i++) {
      const small = await runSandbox({ rootfs, argv: ['true'] });
      expect(small).toMatchObject({ reason: 'exit', exitCode: 0 });
      expect(small.peakMemoryBytes).toBeLessThan(8 * 1024 * 1024);
      expect(small.cpuMs).toBeLessThan(1000);
    }
    const bomb = await runSandbox({ rootfs, argv: ['hull-probe', 'forkbomb', '100'], pids: 8 });
    expect(JSON.parse(bomb.stdout).forked).toBeLessThan(8);
    const many = await runSandbox({ rootfs, argv: ['hull-probe', 'forkbomb', '20'], pids: 64 });
    expect(JSON.parse(many.stdout).forked).toBe(20);
  });
});

describe('pids', () => {
  it('contains a fork bomb, and the host can still start processes', async () => {
    const r = await runSandbox({ rootfs, argv: ['hull-probe', 'forkbomb', '1000'], pids: 32 });
    expect(r).toMatchObject({ reason: 'exit', exitCode: 0 });
    const report = JSON.parse(r.stdout);
    expect(report.forked).toBeLessThan(32);
    expect(report.errnoName).toBe('EAGAIN');
    expect(processesContaining('hull-probe forkbomb')).toEqual([]);
    const after = await runSandbox({ rootfs, argv: ['echo', 'fine'] });
    expect(after.stdout).toBe('fine\n');
  });

  it('contains a shell fork bomb until the timeout', async () => {
    const r = await runSandbox({ rootfs, argv: ['sh', '-c', 'bomb() { bomb | bomb & }; bomb; sleep 1000'], pids: 64, timeoutMs: 2000 });
    expect(['timeout', 'exit']).toContain(r.reason);
    await releaseIdle();
    expect(sandboxResources().processes).toEqual([]);
  });
});

describe('output', () => {
  it('cuts stdout at the limit and kills the tree', async () => {
    const r = await runSandbox({ rootfs, argv: ['yes'], outputLimitBytes: 10_000 });
    expect(r.reason).toBe('output-limit');
    expect(r.signal).toBe('SIGKILL');
    expect(r.stdout.length).toBe(10_000);
    expect(r.stdout.startsWith('y\ny\n')).toBe(true);
  });

  it('counts stdout and stderr together', async () => {
    const r = await runSandbox({ rootfs, argv: ['sh', '-c', 'echo 12345; while :; do echo err >&2; done'], outputLimitBytes: 100 });
    expect(r.reason).toBe('output-limit');
    expect(r.stdout.length + r.stderr.length).toBe(100);
  });

  it('keeps output under the limit whole', async () => {
    const r = await runSandbox({ rootfs, argv: ['sh', '-c', 'seq 1 1000'], outputLimitBytes: 1_000_000 });
    expect(r.reason).toBe('exit');
    expect(r.stdout.split('\n').length).toBe(1001);
  });
});

describe('cpus', () => {
  it('writes the CFS quota for the requested share of a CPU', async () => {
    const writes: string[] = [];
    const r = await runSandbox({ rootfs, argv: ['hull-probe', 'spin', '0.2'], cpus: 0.25, trace: (_s, op, text) => op === 'cgroup' && writes.push(text) });
    expect(r.reason).toBe('exit');
    expect(JSON.parse(r.stdout)).toHaveProperty('cpu_ms');
    expect(writes.some((w) => /cpu\.cfs_quota_us", "25000"|cpu\.max", "25000 100000"/.test(w))).toBe(true);
    expect(r.cpuMs).toBeGreaterThan(0);
  });
});
