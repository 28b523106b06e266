// Runs the examples of docs/sandbox.md (docs/examples/) against the busybox + hull-probe root, so
// the documented code keeps working.
import { afterAll, describe, expect, it } from 'vitest';
import * as path from 'node:path';
import { releaseIdle, sandboxResources } from '../../src/sandbox';
import { makeBusyboxRootfs, removeTree, tempDir } from '../setup/rootfs';

const dir = tempDir('hull-sbx-examples-');
const rootfs = makeBusyboxRootfs(path.join(dir, 'rootfs'));
process.env.HULL_EXAMPLE_ROOTFS = rootfs;

afterAll(async () => {
  await releaseIdle();
  expect(sandboxResources()).toEqual({ cgroups: [], mounts: [], processes: [] });
  removeTree(dir);
});

describe('docs/examples/untrusted-code.test.ts', async () => {
  await import('../../docs/examples/untrusted-code.test');
});

describe('docs/examples/code-runner.ts', () => {
  it('judges submissions against test cases with time and memory limits', async () => {
    const { CodeRunner } = await import('../../docs/examples/code-runner');
    await using runner = await CodeRunner.open({ rootfs });
    const sum = [
      { input: '1 2\n', expected: '3' },
      { input: '40 2\n', expected: '42' },
    ];
    const limits = { timeMs: 2000, memory: '32m' };
    const verdicts = async (source: string, interpreter = ['awk']) =>
      (await runner.judge({ interpreter, source }, sum, limits)).map((r) => r.verdict);

    expect(await verdicts('{ print $1 + $2 }')).toEqual(['accepted', 'accepted']);
    expect(await verdicts('{ print $1 * $2 }')).toEqual(['wrong-answer', 'wrong-answer']);
    expect(await verdicts('BEGIN { while (1) {} }')).toEqual(['time-limit', 'time-limit']);
    expect(await verdicts('exec hull-probe memhog 256', ['sh', '-c'])).toEqual(['memory-limit', 'memory-limit']);
    expect(await verdicts('exit 3', ['sh', '-c'])).toEqual(['runtime-error', 'runtime-error']);
    expect(await verdicts('yes', ['sh', '-c'])).toEqual(['output-limit', 'output-limit']);
    expect(await verdicts('x', ['no-such-interpreter'])).toEqual(['runtime-error', 'runtime-error']);

    const [report] = await runner.judge({ interpreter: ['awk'], source: '{ print $1 + $2 }' }, sum.slice(0, 1), limits);
    expect(report.peakMemoryBytes).toBeGreaterThan(0);
  });
});
