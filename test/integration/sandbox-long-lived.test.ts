// Sandbox: one set of namespaces and limits, many execs; streamed output; per-exec timeouts that
// kill only that exec's tree; close() and `await using` leaving nothing behind.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as path from 'node:path';
import { releaseIdle, runSandbox, Sandbox, sandboxResources } from '../../src/sandbox';
import { makeBusyboxRootfs, processesContaining, removeTree, tempDir } from '../setup/rootfs';

let dir: string;
let rootfs: string;

beforeAll(() => {
  dir = tempDir('hull-sbx-long-');
  rootfs = makeBusyboxRootfs(path.join(dir, 'rootfs'));
});
afterEach(async () => {
  await releaseIdle();
  expect(sandboxResources()).toEqual({ cgroups: [], mounts: [], processes: [] });
});
afterAll(() => removeTree(dir));

describe('Sandbox', () => {
  it('runs many commands in one sandbox that keeps its /tmp between them', async () => {
    const box = await Sandbox.start({ rootfs, env: { WHO: 'box' }, cwd: '/tmp' });
    try {
      expect(box.pid).toBeGreaterThan(0);
      expect(await box.exec(['sh', '-c', 'echo "$WHO" > note; pwd'])).toMatchObject({ exitCode: 0, stdout: '/tmp\n' });
      expect((await box.exec(['cat', '/tmp/note'])).stdout).toBe('box\n');
      const r = await box.exec(['sh', '-c', 'echo "$WHO $EXTRA"; exit 4'], { env: { EXTRA: 'more' }, cwd: '/' });
      expect(r).toMatchObject({ exitCode: 4, reason: 'exit', stdout: 'box more\n' });
      // Every exec shares the sandbox's PID namespace: PID 1 is its init.
      const ps = await box.exec(['ps', '-o', 'pid,args']);
      expect(ps.stdout).toMatch(/^\s*1 \/dev\/\.hull-init (init|sleep)/m);
    } finally {
      await box.close();
    }
    expect(box.closed).toBe(true);
    expect(() => box.exec(['true'])).toThrow(/is closed/);
  });

  // Needs `hull-probe init` (a PID 1 that reaps); an older hull-probe idles with `sleep` and does not.
  it('reaps what execs leave behind: no zombies pile up in the sandbox', async () => {
    const box = await Sandbox.start({ rootfs });
    try {
      for (let i = 0; i < 5; i++) {
        // The subshell exits at once: its sleep is re-parented to the sandbox's PID 1, then killed
        // with the exec's leftovers.
        expect(await box.exec(['sh', '-c', '(sleep 1000 &) ; true'])).toMatchObject({ exitCode: 0 });
      }
      const zombies = async () => {
        const r = await box.exec(['sh', '-c', 'cat /proc/[0-9]*/stat']);
        return r.stdout.split('\n').filter((line) => /\) Z /.test(line));
      };
      let left = await zombies();
      while (left.length) left = await zombies(); // reaping is asynchronous: poll (bounded by the test timeout)
      expect(left).toEqual([]);
    } finally {
      await box.close();
    }
  });

  it('streams output through an async iterator and callbacks', async () => {
    await using box = await Sandbox.start({ rootfs });
    const seen: string[] = [];
    const execution = box.exec(['sh', '-c', 'for i in 1 2 3; do echo $i; sleep 0.05; done; echo done >&2'], { onStderr: (c) => seen.push(`cb:${c}`) });
    const chunks: string[] = [];
    for await (const chunk of execution) chunks.push(`${chunk.stream}:${chunk.data}`);
    const result = await execution;
    expect(chunks.join('')).toContain('stdout:1\n');
    expect(chunks.filter((c) => c.startsWith('stdout')).map((c) => c.slice(7)).join('')).toBe('1\n2\n3\n');
    expect(chunks).toContain('stderr:done\n');
    expect(seen).toEqual(['cb:done\n']);
    expect(result.stdout).toBe('1\n2\n3\n');
  });

  it('runs execs concurrently', async () => {
    await using box = await Sandbox.start({ rootfs });
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => box.exec(['sh', '-c', `echo ${i}`])));
    expect(results.map((r) => r.stdout)).toEqual(['0\n', '1\n', '2\n', '3\n', '4\n', '5\n', '6\n', '7\n']);
  });

  it('kills only the timed-out exec tree; the sandbox stays usable', async () => {
    await using box = await Sandbox.start({ rootfs });
    const mark = String(6000 + (process.pid % 1000));
    const r = await box.exec(['sh', '-c', `sleep ${mark} & sh -c "sleep ${mark}" & sleep ${mark}`], { timeoutMs: 500 });
    expect(r).toMatchObject({ reason: 'timeout', signal: 'SIGKILL', exitCode: 137 });
    expect(processesContaining(`sleep ${mark}`)).toEqual([]);
    expect((await box.exec(['echo', 'still here'])).stdout).toBe('still here\n');
  });

  it('ends background processes an exec leaves behind', async () => {
    await using box = await Sandbox.start({ rootfs });
    const mark = String(7000 + (process.pid % 1000));
    const r = await box.exec(['sh', '-c', `sleep ${mark} > /dev/null 2>&1 & echo started`]);
    expect(r).toMatchObject({ exitCode: 0, stdout: 'started\n' });
    expect(processesContaining(`sleep ${mark}`)).toEqual([]);
  });

  it('reports a command killed by a signal, and kill() from the caller', async () => {
    await using box = await Sandbox.start({ rootfs });
    expect(await box.exec(['sh', '-c', 'kill -9 $$'])).toMatchObject({ reason: 'signal', signal: 'SIGKILL', exitCode: 137 });
    const execution = box.exec(['sleep', '1000']);
    await new Promise<void>((resolve) => {
      const poll = () => (execution.pid ? resolve() : setTimeout(poll, 10));
      poll();
    });
    execution.kill();
    expect(await execution).toMatchObject({ reason: 'signal', signal: 'SIGKILL' });
  });

  it('applies memory and output limits per exec', async () => {
    await using box = await Sandbox.start({ rootfs, memory: '32m' });
    expect(await box.exec(['hull-probe', 'memhog', '256'])).toMatchObject({ reason: 'oom' });
    expect(await box.exec(['yes'], { outputLimitBytes: 500 })).toMatchObject({ reason: 'output-limit', stdout: 'y\n'.repeat(250) });
    expect((await box.exec(['echo', 'alive'])).stdout).toBe('alive\n');
  });

  it('reports a missing command in an exec with exit code 127', async () => {
    await using box = await Sandbox.start({ rootfs });
    expect(await box.exec(['no-such-command'])).toMatchObject({ exitCode: 127, reason: 'error' });
  });

  it('close() kills running execs and is idempotent', async () => {
    const box = await Sandbox.start({ rootfs });
    const running = box.exec(['sleep', '1000']);
    await new Promise((r) => setTimeout(r, 200));
    await Promise.all([box.close(), box.close()]);
    expect((await running).signal).toBe('SIGKILL');
  });

  it('validates exec options synchronously, before anything is created', async () => {
    await using box = await Sandbox.start({ rootfs });
    expect(() => box.exec([] as string[])).toThrow(/^argv: expected a non-empty array/);
    expect(() => box.exec(['true'], { timeoutMs: -1 })).toThrow(RangeError);
    expect(() => box.exec(['true'], { memory: '1g' } as never)).toThrow(/^memory: unknown exec option/);
  });
});

describe('bad input creates nothing', () => {
  it.each([
    ['a negative limit', { memory: -1 }],
    ['an absurd limit', { pids: 1e9 }],
    ['an unknown option', { timeout: 10 }],
    ['no argv', { argv: undefined }],
  ])('%s', async (_name, extra) => {
    await releaseIdle();
    const before = sandboxResources();
    await expect(runSandbox({ rootfs, argv: ['true'], ...extra } as never)).rejects.toThrow(/^(memory|pids|timeout|argv): /);
    expect(sandboxResources()).toEqual(before);
  });

  it('a missing rootfs and a file as rootfs', async () => {
    await expect(runSandbox({ rootfs: path.join(dir, 'missing'), argv: ['true'] })).rejects.toMatchObject({ option: 'rootfs', code: 'ENOENT' });
    await expect(runSandbox({ rootfs: path.join(rootfs, 'etc/passwd'), argv: ['true'] })).rejects.toMatchObject({ option: 'rootfs', code: 'ENOTDIR' });
    await expect(Sandbox.start({ rootfs: path.join(dir, 'missing') })).rejects.toMatchObject({ option: 'rootfs', code: 'ENOENT' });
  });
});
