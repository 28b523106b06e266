// Example: a vitest suite that runs code it does not trust (here: shell snippets, as a grader or a
// plugin host would receive them) in throwaway sandboxes, and asserts on what happened.
//
// In your project:   import { runSandbox } from 'hull';
// Root filesystem:   HULL_EXAMPLE_ROOTFS=/path/to/rootfs (any directory with /bin/sh), or
//                    HULL_EXAMPLE_IMAGE=busybox:latest (an image in the hull store: `hull pull busybox`).
// Run (as root):     test/integration/sandbox-examples.test.ts runs this file with a busybox root.
import { describe, expect, it } from 'vitest';
import { runSandbox, type RunSandboxOptions } from '../../src/sandbox';

const root: Pick<RunSandboxOptions, 'image' | 'rootfs'> = process.env.HULL_EXAMPLE_ROOTFS
  ? { rootfs: process.env.HULL_EXAMPLE_ROOTFS }
  : { image: process.env.HULL_EXAMPLE_IMAGE ?? 'busybox:latest' };

/** Every snippet gets the same tight box: 2 s, 32 MiB, 64 processes, no network, 64 KiB of output. */
function runUntrusted(source: string, stdin = '') {
  return runSandbox({
    ...root,
    argv: ['sh', '-c', source],
    stdin,
    timeoutMs: 2000,
    memory: '32m',
    pids: 64,
    outputLimitBytes: 64 * 1024,
  });
}

describe('untrusted snippets', () => {
  it('a well-behaved snippet gets its input and returns its output', async () => {
    const r = await runUntrusted('read name; echo "hello, $name"', 'world\n');
    expect(r).toMatchObject({ reason: 'exit', exitCode: 0, stdout: 'hello, world\n' });
  });

  it('an endless loop is stopped at the timeout, children and all', async () => {
    const r = await runUntrusted('while :; do :; done & while :; do :; done');
    expect(r.reason).toBe('timeout');
  });

  it('it cannot change the root filesystem, only its own /tmp', async () => {
    const r = await runUntrusted('echo pwned > /bin/sh || echo refused; echo scratch > /tmp/s && cat /tmp/s');
    expect(r.stdout).toBe('refused\nscratch\n');
  });

  it('it cannot reach the network', async () => {
    const r = await runUntrusted('wget -q -T 1 -O- http://127.0.0.1:1/ || echo offline');
    expect(r.stdout).toContain('offline');
  });

  it('a fork bomb hits the pids limit and the host does not notice', async () => {
    const r = await runUntrusted('f() { f | f & }; f; sleep 5');
    expect(['timeout', 'exit']).toContain(r.reason);
    expect((await runUntrusted('echo fine')).stdout).toBe('fine\n');
  });

  it('flooding stdout is cut at the output limit', async () => {
    const r = await runUntrusted('yes spam');
    expect(r.reason).toBe('output-limit');
    expect(r.stdout.length).toBe(64 * 1024);
  });
});
