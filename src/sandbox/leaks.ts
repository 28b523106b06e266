// What sandboxes of a process still hold on the host: for leak checks in tests and health checks.
// Everything a sandbox creates is named after the creating process ("<pid>-<n>-…"), so this can
// tell one process's leftovers from another's.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { detectCgroupLayout } from '../cgroup';
import { SANDBOX_CGROUP_PARENT } from './cgroup';
import { SANDBOX_RUN_DIR } from './image';

export interface SandboxResources {
  /** Cgroup directories under <hierarchy>/hull-sandbox/ made by the process. */
  cgroups: string[];
  /** Mount points under /run/hull/sandbox/ made by the process (shared images, writable roots). */
  mounts: string[];
  /** Host pids inside those cgroups, and hull-helper monitors the process started. */
  processes: number[];
}

function cgroupRoots(): string[] {
  const layout = detectCgroupLayout();
  const roots = layout.v1.map((h) => h.mountPoint);
  if (layout.unifiedRoot) roots.push(layout.unifiedRoot);
  return roots;
}

/** Resources still held by sandboxes of process `pid` (default: this one). */
export function sandboxResources(pid = process.pid): SandboxResources {
  const prefix = `${pid}-`;
  const cgroups: string[] = [];
  for (const root of cgroupRoots()) {
    const parent = path.join(root, SANDBOX_CGROUP_PARENT);
    let entries: string[] = [];
    try {
      entries = fs.readdirSync(parent);
    } catch {
      continue;
    }
    for (const e of entries) if (e.startsWith(prefix)) cgroups.push(path.join(parent, e));
  }
  const mounts = fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((mp): mp is string => !!mp && mp.startsWith(SANDBOX_RUN_DIR + '/') && path.basename(mp.startsWith(path.join(SANDBOX_RUN_DIR, 'rw')) ? path.dirname(mp) : mp).startsWith(prefix));
  const processes: number[] = [];
  const marker = `/${SANDBOX_CGROUP_PARENT}/${prefix}`;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/cgroup`, 'utf8').includes(marker)) {
        processes.push(Number(entry));
        continue;
      }
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const ppid = Number(stat.slice(close + 2).split(' ')[1]);
      if (comm === 'hull-helper' && ppid === pid) processes.push(Number(entry));
    } catch {
      /* exited while we looked */
    }
  }
  return { cgroups, mounts, processes };
}
