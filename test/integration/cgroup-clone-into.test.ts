// CLONE_INTO_CGROUP: the container process is born in its cgroup2 directory (the v2 group, or its
// directory in the unified hierarchy of a hybrid host) instead of being moved there by a
// cgroup.procs write; it moves itself into the v1 hierarchies (`echo 0 > tasks`). Checked from the
// host's view of /proc/<pid>/cgroup while the container waits in `created`, for `exec` too, and
// nothing is left.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { detectCgroupLayout } from '../../src/cgroup';
import { cgroupDirsContaining, hullOci, makeBundle, uniqueId, type Bundle } from '../setup/bundle';
import { processesContaining } from '../setup/rootfs';

const HULL_OCI = path.resolve(__dirname, '../../bin/hull-oci');
const root = `/run/hull-oci-test-clone-into-${process.pid}`;
const layout = detectCgroupLayout();
const bundles: Bundle[] = [];
const ids: string[] = [];

afterEach(() => {
  for (const id of ids.splice(0)) hullOci(root, ['delete', '--force', id]);
});
afterAll(() => {
  for (const b of bundles) b.cleanup();
  fs.rmSync(root, { recursive: true, force: true });
});

function newContainer(args: string[]): { id: string; b: Bundle } {
  const b = makeBundle({ args });
  bundles.push(b);
  const id = uniqueId('cgin');
  ids.push(id);
  return { id, b };
}

/** `<hierarchy id>:<controllers>:<path>` lines of a process, keyed by controllers ("" for v2). */
function cgroupsOf(pid: number | string): Map<string, string> {
  const lines = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n');
  return new Map(lines.map((l) => {
    const [, controllers, p] = /^\d+:([^:]*):(.*)$/.exec(l)!;
    return [controllers, p];
  }));
}

/** `hull-oci create` with HULL_TRACE=1: its trace (stderr). */
function createTraced(b: Bundle, id: string): string {
  // stderr to a file: the created container keeps its stdio open, a pipe would never end.
  const errFile = path.join(b.dir, 'trace.txt');
  const err = fs.openSync(errFile, 'w');
  const r = spawnSync(process.execPath, [HULL_OCI, '--root', root, 'create', '--bundle', b.dir, id], {
    env: { ...process.env, HULL_TRACE: '1' },
    stdio: ['ignore', 'ignore', err],
    timeout: 60_000,
  });
  fs.closeSync(err);
  const trace = fs.readFileSync(errFile, 'utf8');
  expect(r.status, trace).toBe(0);
  return trace;
}

describe.skipIf(!layout.unifiedRoot)('clone3 CLONE_INTO_CGROUP', () => {
  it('the container process starts in its v2 directory and moves itself into the v1 ones: no cgroup.procs write', () => {
    const { id, b } = newContainer(['/bin/hull-probe', 'sleep', '1000']);
    const unifiedDir = path.join(layout.unifiedRoot!, 'hull-oci', id);
    const trace = createTraced(b, id);
    expect(trace).toContain(`CLONE_INTO_CGROUP, cgroup=open("${unifiedDir}")`);
    expect(trace).not.toContain('/cgroup.procs');
    // v1 (hybrid hosts): `echo 0 > tasks` from the container process itself, which the kernel
    // does without the attach lock's RCU grace period.
    for (const h of layout.v1) expect(trace).toContain(`moving itself into its cgroup: echo 0 > ${path.join(h.mountPoint, 'hull-oci', id)}/tasks`);
    const state = JSON.parse(hullOci(root, ['state', id]).stdout);
    const cgroups = cgroupsOf(state.pid);
    expect(cgroups.get('')).toBe(`/hull-oci/${id}`);
    // ...and sits in every v1 hierarchy's directory too.
    for (const h of layout.v1) {
      const key = [...cgroups.keys()].find((k) => k.split(',').map((c) => c.replace(/^name=/, '')).sort().join(',') === h.name.split(',').sort().join(','));
      if (key !== undefined) expect(cgroups.get(key), h.name).toBe(`/hull-oci/${id}`);
    }
    expect(fs.readFileSync(path.join(unifiedDir, 'cgroup.procs'), 'utf8').trim().split('\n')).toContain(String(state.pid));

    expect(hullOci(root, ['delete', '--force', id]).code).toBe(0);
    expect(cgroupDirsContaining(id)).toEqual([]);
    expect(fs.existsSync(unifiedDir)).toBe(false);
    expect(processesContaining(b.dir)).toEqual([]);
  });

  it('exec processes are born in the container cgroup too', () => {
    const { id, b } = newContainer(['/bin/hull-probe', 'sleep', '1000']);
    expect(hullOci(root, ['run', '--detach', '--bundle', b.dir, id]).code).toBe(0);
    const r = hullOci(root, ['exec', id, '/bin/cat', '/proc/self/cgroup']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^0::/hull-oci/${id}$`, 'm'));
    if (layout.v1.some((h) => h.name === 'memory')) expect(r.stdout).toMatch(new RegExp(`^\\d+:memory:/hull-oci/${id}$`, 'm'));
    expect(hullOci(root, ['delete', '--force', id]).code).toBe(0);
    expect(cgroupDirsContaining(id)).toEqual([]);
  });
});
