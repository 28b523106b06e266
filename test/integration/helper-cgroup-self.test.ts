// `cgroup-self` (docs/internals/plan.md): a helper started without its plan moves itself into cgroup
// directories before the plan, as the sandbox pool's warm helpers do (src/sandbox/pool.ts).
import { afterEach, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HelperProcess } from '../../src/runtime/helper-process';

const PIDS = '/sys/fs/cgroup/pids';
const made: string[] = [];

function newGroup(name: string): string {
  const root = fs.existsSync(path.join(PIDS, 'cgroup.procs')) ? PIDS : '/sys/fs/cgroup';
  const dir = path.join(root, `hull-test-cgroup-self-${process.pid}-${name}`);
  fs.mkdirSync(dir);
  made.push(dir);
  return dir;
}

afterEach(() => {
  // The helpers were killed and reaped: the groups are empty.
  for (const dir of made.splice(0)) fs.rmdirSync(dir);
});

describe('cgroup-self', () => {
  it('moves the waiting helper into the groups and answers attached; the plan still comes after', async () => {
    const dir = newGroup('ok');
    const helper = new HelperProcess(null, { stdio: ['ignore', 'ignore', 'ignore'], env: {} });
    await helper.joinCgroups([dir]);
    expect(fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').trim().split('\n')).toEqual([String(helper.monitorPid)]);
    expect(helper.started).toBe(false);
    helper.kill();
    await helper.exited;
  });

  it('reports a group it cannot join with errno, syscall and path, and exits 125', async () => {
    const missing = `/sys/fs/cgroup/pids/hull-test-no-such-group-${process.pid}`;
    const helper = new HelperProcess(null, { stdio: ['ignore', 'ignore', 'ignore'], env: {} });
    await expect(helper.joinCgroups([missing])).rejects.toMatchObject({
      code: 'ENOENT', syscall: 'open', path: `${missing}/cgroup.procs`, op: 'cgroup-self',
    });
    await helper.helperGone();
    expect(helper.child.exitCode).toBe(125);
  });
});
