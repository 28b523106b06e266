// Which cgroup directory the container process is born in (`cgroup-clone-into`), and which it joins.
import { describe, it, expect } from 'vitest';
import { cgroupForContainer, parseCgroupLayout } from '../../src/cgroup';
import { compilePlan } from '../../src/runtime/plan';
import { defaultSpec } from '../../src/runtime/spec';

const HYBRID = [
  '30 25 0:26 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw',
  '31 25 0:27 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd',
  '32 25 0:28 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory',
  '33 25 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct',
].join('\n');
const UNIFIED = '50 1 0:2 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw';
const LEGACY = HYBRID.split('\n').filter((l) => !l.includes('cgroup2')).join('\n');

const plan = (cgroupDirs: string[], cgroupCloneInto?: string) =>
  compilePlan(defaultSpec(), { mode: 'run', id: 'c1', bundle: '/b', stateDir: '/s', detach: false, trace: false, cgroupDirs, cgroupCloneInto })
    .filter(([op]) => op.startsWith('cgroup-'));

describe('cgroup-clone-into', () => {
  it('v2: the one directory is cloned into, nothing joined', () => {
    const cg = cgroupForContainer(undefined, 'c1', [], parseCgroupLayout(UNIFIED));
    expect(cg.cloneIntoDir()).toBe('/sys/fs/cgroup/hull-oci/c1');
    expect(plan(cg.joinDirs(), cg.cloneIntoDir())).toEqual([['cgroup-clone-into', '/sys/fs/cgroup/hull-oci/c1']]);
  });

  it('hybrid: born in the unified directory, v1 hierarchies joined by writes', () => {
    const cg = cgroupForContainer(undefined, 'c1', [], parseCgroupLayout(HYBRID));
    expect(cg.cloneIntoDir()).toBe('/sys/fs/cgroup/unified/hull-oci/c1');
    expect(plan(cg.joinDirs(), cg.cloneIntoDir())).toEqual([
      ['cgroup-clone-into', '/sys/fs/cgroup/unified/hull-oci/c1'],
      ['cgroup-join', '/sys/fs/cgroup/systemd/hull-oci/c1'],
      ['cgroup-join', '/sys/fs/cgroup/memory/hull-oci/c1'],
      ['cgroup-join', '/sys/fs/cgroup/cpu,cpuacct/hull-oci/c1'],
    ]);
  });

  it('legacy v1 only, or no option: joins as before', () => {
    const cg = cgroupForContainer(undefined, 'c1', [], parseCgroupLayout(LEGACY));
    expect(cg.cloneIntoDir()).toBeUndefined();
    expect(plan(cg.joinDirs(), cg.cloneIntoDir()).map(([op]) => op)).toEqual(['cgroup-join', 'cgroup-join', 'cgroup-join']);
    expect(plan(['/sys/fs/cgroup/hull-oci/c1'])).toEqual([['cgroup-join', '/sys/fs/cgroup/hull-oci/c1']]);
  });
});
