// removeCgroupDir tries rmdir first and lists the directory only when the kernel says EBUSY: a
// group with sub-groups (a container that made its own, a nested runtime) must still go entirely.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { detectCgroupLayout } from '../../src/cgroup';
import { removeCgroupDir } from '../../src/cgroup/driver';

const layout = detectCgroupLayout();
const roots = [...layout.v1.map((h) => h.mountPoint), ...(layout.unifiedRoot ? [layout.unifiedRoot] : [])]
  .filter((dir) => !dir.includes('cpuset')) // a cpuset group needs cpus/mems before it can have children: not the point here
  .slice(0, 3);
const top = `hull-test-remove-${process.pid}`;

afterAll(() => {
  // Only if a test failed half-way; rmdir, as cgroup directories hold undeletable control files.
  for (const root of roots) {
    for (const sub of ['a/b', 'a', 'c', '']) {
      try {
        fs.rmdirSync(path.join(root, top, sub));
      } catch {
        /* gone */
      }
    }
  }
});

describe('removeCgroupDir', () => {
  it.each(roots)('removes a group with nested sub-groups in %s', async (root) => {
    const dir = path.join(root, top);
    fs.mkdirSync(path.join(dir, 'a', 'b'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'c'));
    await removeCgroupDir(dir);
    expect(fs.existsSync(dir)).toBe(false);
  });

  it('a missing group is already removed', async () => {
    await expect(removeCgroupDir(path.join(roots[0], top, 'never-made'))).resolves.toBeUndefined();
  });
});
