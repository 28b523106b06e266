// Which cgroup layout the host runs: pure v2 ("unified"), v1 with an extra controller-less v2
// mount ("hybrid", this project's CI machines) or plain v1 ("legacy"). Read from mountinfo, which is
// what statfs(/sys/fs/cgroup) would tell us, plus where each v1 hierarchy is mounted.
import * as fs from 'node:fs';

export type CgroupMode = 'unified' | 'hybrid' | 'legacy';

export interface V1Hierarchy {
  /** Directory name under the cgroup root: "memory", "cpu,cpuacct", "systemd". */
  name: string;
  mountPoint: string;
  /** Controllers in it ("cpu", "cpuacct"; "name=systemd" for named hierarchies). */
  controllers: string[];
}

export interface CgroupLayout {
  mode: CgroupMode;
  /** v2 mount point: /sys/fs/cgroup (unified) or /sys/fs/cgroup/unified (hybrid). */
  unifiedRoot?: string;
  v1: V1Hierarchy[];
}

/** Parse /proc/self/mountinfo text (split out for unit tests). */
export function parseCgroupLayout(mountinfo: string, root = '/sys/fs/cgroup'): CgroupLayout {
  const v1: V1Hierarchy[] = [];
  let unifiedRoot: string | undefined;
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const mountPoint = line.slice(0, sep).split(' ')[4];
    const [fstype, , superOptions = ''] = line.slice(sep + 3).split(' ');
    if (!mountPoint.startsWith(root)) continue;
    if (fstype === 'cgroup2') {
      unifiedRoot = mountPoint;
    } else if (fstype === 'cgroup') {
      const controllers = superOptions.split(',').filter((o) => o !== 'rw' && o !== 'ro' && !o.startsWith('release_agent') && o !== 'clone_children' && o !== 'noprefix' && o !== 'xattr');
      v1.push({ name: mountPoint.slice(root.length + 1), mountPoint, controllers });
    }
  }
  const mode: CgroupMode = unifiedRoot === root ? 'unified' : v1.length ? (unifiedRoot ? 'hybrid' : 'legacy') : 'unified';
  return { mode, unifiedRoot, v1 };
}

let cached: CgroupLayout | undefined;

/**
 * The layout of this host. Fast path (every `create` pays for it): look at the directory instead
 * of parsing mountinfo, which can be thousands of lines on a busy host. `cgroup.controllers` at the
 * root only exists on cgroup2; on v1 each sub-directory (not symlink) is a hierarchy named after its
 * controllers ("cpu,cpuacct", "systemd" for name=systemd). Anything unusual: parse mountinfo.
 */
export function detectCgroupLayout(root = '/sys/fs/cgroup'): CgroupLayout {
  if (cached) return cached;
  if (fs.existsSync(`${root}/cgroup.controllers`)) return (cached = { mode: 'unified', unifiedRoot: root, v1: [] });
  let entries: fs.Dirent[] = [];
  try {
    entries = fs.readdirSync(root, { withFileTypes: true });
  } catch {
    /* no cgroupfs at all: fall through */
  }
  const v1: V1Hierarchy[] = [];
  let unifiedRoot: string | undefined;
  for (const e of entries) {
    if (!e.isDirectory()) continue;
    const mountPoint = `${root}/${e.name}`;
    if (e.name === 'unified') unifiedRoot = mountPoint;
    else v1.push({ name: e.name, mountPoint, controllers: e.name === 'systemd' ? ['name=systemd'] : e.name.split(',') });
  }
  if (!v1.length) return (cached = parseCgroupLayout(fs.readFileSync('/proc/self/mountinfo', 'utf8'), root));
  return (cached = { mode: unifiedRoot ? 'hybrid' : 'legacy', unifiedRoot, v1 });
}
