// Picks the cgroup driver for this host and reopens one from a saved record.
import * as path from 'node:path';
import type { DeviceCgroupRule } from '../runtime/spec';
import type { CgroupDriver, CgroupObserver, CgroupRecord } from './driver';
import { containerCgroupPath } from './driver';
import { detectCgroupLayout, type CgroupLayout } from './detect';
import { V1Cgroup } from './v1';
import { V2Cgroup } from './v2';

export type { CgroupDriver, CgroupObserver, CgroupPart, CgroupRecord, CgroupStats, CgroupVersion } from './driver';
export { CgroupError, containerCgroupPath } from './driver';
export { detectCgroupLayout, parseCgroupLayout, type CgroupLayout, type CgroupMode } from './detect';
export { V1Cgroup, v1ResourceWrites, deviceRuleText } from './v1';
export { V2Cgroup, v2ResourceWrites, v2DeviceRules, sharesToWeight, V2_DEVICE_FILTER } from './v2';

/** A driver for a new container: v2 on unified hosts, v1 (plus the unified dir for cgroup.kill) otherwise. */
export function cgroupForContainer(
  cgroupsPath: string | undefined,
  id: string,
  devices: DeviceCgroupRule[] = [],
  layout: CgroupLayout = detectCgroupLayout(),
  observer?: CgroupObserver,
): CgroupDriver {
  const cgPath = containerCgroupPath(cgroupsPath, id);
  const driver = layout.mode === 'unified' ? V2Cgroup.forPath(layout.unifiedRoot ?? '/sys/fs/cgroup', cgPath, devices) : V1Cgroup.forPath(layout, cgPath, devices);
  driver.observer = observer;
  return driver;
}

/** Reopen the driver of an existing container from state.json. */
export function cgroupFromRecord(record: CgroupRecord): CgroupDriver {
  if (record.version === 2) {
    const dir = record.dirs[''];
    const root = dir.slice(0, dir.length - record.path.length) || '/';
    return new V2Cgroup(record, root);
  }
  return new V1Cgroup(record);
}

/**
 * The file whose `oom_kill N` line counts the container's OOM kills (the plan's `oom-check`):
 * v1 `memory.oom_control` in the memory hierarchy, v2 `memory.events`. Undefined without a memory
 * hierarchy (v1). Pure: whether the file exists (v2 without the memory controller) is the caller's check.
 */
export function oomCheckFile(record: CgroupRecord): string | undefined {
  if (record.version === 2) return path.join(record.dirs[''], 'memory.events');
  const dir = Object.entries(record.dirs).find(([name]) => name.split(',').includes('memory'))?.[1];
  return dir ? path.join(dir, 'memory.oom_control') : undefined;
}
