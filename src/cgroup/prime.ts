// Hiding the first cgroup attach's wait ("rcu_sync priming").
//
// Every write of a pid into a cgroup.procs file (v1 or v2) takes the global
// cgroup_threadgroup_rwsem for writing. percpu_down_write() first calls rcu_sync_enter(), which
// waits a whole RCU grace period (5-23 ms measured here) unless another writer passed it less than
// about one grace period ago: then it takes ~0.1 ms. The helper's `cgroup-join` writes are the
// largest kernel wait of a container start, so we pay that grace period early, on a thread of the
// addon while JavaScript is still busy, by writing the Node process' own pid into its own cgroup
// (a move to where it already is), and keep the state warm with a write every few ms until the
// container is placed. (A JS timer would not do: synchronous work starves it for tens of ms.)
import * as fs from 'node:fs';
import * as path from 'node:path';
import { native } from '../native';
import { detectCgroupLayout, type CgroupLayout } from './detect';

export interface PrimeOptions {
  /** ms between writes while warm: below one RCU grace period. */
  intervalMs?: number;
  /** Stop by itself after this long, whatever happens to the caller. */
  maxMs?: number;
}

/**
 * The cgroup.procs file of the cgroup this process already sits in, from /proc/self/cgroup: the
 * v2 one if there is a v2 mount, else the first v1 hierarchy found. Undefined if there is none.
 */
export function ownCgroupProcsFile(selfCgroup: string, layout: CgroupLayout): string | undefined {
  const lines = selfCgroup.split('\n').filter(Boolean).map((l) => {
    const first = l.indexOf(':');
    const second = l.indexOf(':', first + 1);
    return { controllers: l.slice(first + 1, second), path: l.slice(second + 1) };
  });
  const v2 = lines.find((l) => l.controllers === '');
  if (v2 && layout.unifiedRoot) return path.join(layout.unifiedRoot, v2.path, 'cgroup.procs');
  for (const l of lines) {
    const names = l.controllers.split(',').map((c) => c.replace(/^name=/, '')).sort().join(',');
    const h = layout.v1.find((h) => h.name.split(',').sort().join(',') === names);
    if (h) return path.join(h.mountPoint, l.path, 'cgroup.procs');
  }
  return undefined;
}

/**
 * Start priming; returns `stop` (idempotent), or undefined when it did not start. Best effort:
 * without permission (rootless), without a cgroup file or without the addon it does nothing.
 *
 * While the first write waits for its grace period it holds the cgroup_mutex: a cgroup mkdir or a
 * clone3 CLONE_INTO_CGROUP waits behind it (which is why a container start mkdirs first and
 * leaves out CLONE_INTO_CGROUP while priming, src/runtime/container.ts cgroupPlacement).
 */
export function primeCgroupAttach(opts: PrimeOptions = {}): (() => void) | undefined {
  if (process.env.HULL_CGROUP_PRIMING === '0') return undefined;
  try {
    const file = ownCgroupProcsFile(fs.readFileSync('/proc/self/cgroup', 'utf8'), detectCgroupLayout());
    if (!file) return undefined;
    return native().primeCgroupAttach(file, process.pid, opts.intervalMs ?? 4, opts.maxMs ?? 1000);
  } catch {
    return undefined;
  }
}
