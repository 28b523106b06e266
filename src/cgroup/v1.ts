// cgroup v1: one directory per controller hierarchy (/sys/fs/cgroup/memory/hull-oci/<id>, …).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { native, type CgroupFileOp } from '../native';
import type { DeviceCgroupRule, Resources } from '../runtime/spec';
import {
  type CgroupDirs, type CgroupDriver, type CgroupObserver, type CgroupPart, type CgroupRecord, type CgroupStats, CgroupError, cgroupFiles, limitValue, signalEveryProcess,
  procsRecursive, readCgroupFile, removeCgroupDir, sleep, writeCgroupFile,
} from './driver';
import type { CgroupLayout } from './detect';

/** One controller file write: `controller` picks the hierarchy. */
export interface V1Write {
  controller: string;
  file: string;
  value: string;
}

/** "c 1:3 rwm"; a missing or negative number is "*", type "a" is the whole-list rule "a". */
export function deviceRuleText(rule: DeviceCgroupRule): string {
  const type = rule.type ?? 'a';
  const num = (n: number | undefined) => (n === undefined || n < 0 ? '*' : String(n));
  if (type === 'a' && num(rule.major) === '*' && num(rule.minor) === '*') return 'a';
  return `${type} ${num(rule.major)}:${num(rule.minor)} ${rule.access || 'rwm'}`;
}

/** A rule that matches every device: `a`, or a type "a" rule with wildcard numbers. */
function matchesAll(rule: DeviceCgroupRule): boolean {
  return deviceRuleText({ ...rule, access: undefined }) === 'a' && (rule.access ?? 'rwm') === 'rwm';
}

/**
 * The device rules to apply, in order: the config's, then the runtime's (`devices`: the defaults
 * every container gets, src/runtime/default-devices.ts, after the config's as runc appends them).
 * Rules are an allow-list as runc's are: anything no rule allows is denied, so unless the first
 * rule already denies everything a leading `deny a` is added. None when there are no rules.
 */
export function deviceRulesToApply(r: Resources | undefined, devices: DeviceCgroupRule[] = []): DeviceCgroupRule[] | undefined {
  const rules = [...(r?.devices ?? []), ...devices];
  if (!rules.length) return undefined;
  const first = rules[0];
  return !first.allow && matchesAll(first) ? rules : [{ allow: false, access: 'rwm' }, ...rules];
}

/**
 * linux.resources → v1 controller file writes, in the order they must be written. Pure. `devices`
 * are the runtime's own device rules (see deviceRulesToApply).
 */
export function v1ResourceWrites(r: Resources | undefined, devices: DeviceCgroupRule[] = []): V1Write[] {
  const w: V1Write[] = [];
  const add = (controller: string, file: string, value: string) => w.push({ controller, file, value });
  if (!r) r = {};
  const m = r.memory;
  if (m) {
    if (m.limit !== undefined) add('memory', 'memory.limit_in_bytes', limitValue(m.limit, '-1'));
    if (m.swap !== undefined) add('memory', 'memory.memsw.limit_in_bytes', limitValue(m.swap, '-1'));
    if (m.reservation !== undefined) add('memory', 'memory.soft_limit_in_bytes', limitValue(m.reservation, '-1'));
    if (m.swappiness !== undefined && m.swappiness >= 0) add('memory', 'memory.swappiness', String(m.swappiness));
    if (m.disableOOMKiller) add('memory', 'memory.oom_control', '1');
  }
  const c = r.cpu;
  if (c) {
    if (c.shares) add('cpu', 'cpu.shares', String(c.shares));
    if (c.period) add('cpu', 'cpu.cfs_period_us', String(c.period));
    if (c.quota !== undefined && c.quota !== 0) add('cpu', 'cpu.cfs_quota_us', limitValue(c.quota, '-1'));
    if (c.realtimePeriod) add('cpu', 'cpu.rt_period_us', String(c.realtimePeriod));
    if (c.realtimeRuntime) add('cpu', 'cpu.rt_runtime_us', String(c.realtimeRuntime));
    if (c.cpus) add('cpuset', 'cpuset.cpus', c.cpus);
    if (c.mems) add('cpuset', 'cpuset.mems', c.mems);
  }
  if (r.pids && r.pids.limit !== 0) add('pids', 'pids.max', limitValue(r.pids.limit));
  if (r.blockIO?.weight) add('blkio', 'blkio.weight', String(r.blockIO.weight));
  for (const h of r.hugepageLimits ?? []) add('hugetlb', `hugetlb.${h.pageSize}.limit_in_bytes`, String(h.limit));
  if (r.network?.classID !== undefined) add('net_cls', 'net_cls.classid', String(r.network.classID));
  for (const p of r.network?.priorities ?? []) add('net_prio', 'net_prio.ifpriomap', `${p.name} ${p.priority}`);
  for (const rule of deviceRulesToApply(r, devices) ?? []) {
    add('devices', rule.allow ? 'devices.allow' : 'devices.deny', deviceRuleText(rule));
  }
  return w;
}

/**
 * A new cpuset group starts with empty cpus/mems and refuses tasks: each directory made on the
 * way down gets its parent's copied (`inherit`).
 */
function cpusetDirOps(dir: string): CgroupFileOp[] {
  const missing: string[] = [];
  for (let d = dir; !fs.existsSync(d); d = path.dirname(d)) missing.unshift(d);
  return missing.flatMap((d): CgroupFileOp[] => [
    ['mkdir', d],
    ['inherit', path.join(d, 'cpuset.cpus'), path.join(path.dirname(d), 'cpuset.cpus')],
    ['inherit', path.join(d, 'cpuset.mems'), path.join(path.dirname(d), 'cpuset.mems')],
  ]);
}

/** Controllers hull makes a directory in; other v1 hierarchies are joined at their root (untouched). */
export class V1Cgroup implements CgroupDriver {
  observer?: CgroupObserver;

  constructor(
    readonly record: CgroupRecord,
    /** The runtime's default device rules, applied after the config's (none for a reopened record). */
    private readonly devices: DeviceCgroupRule[] = [],
  ) {}

  static forPath(layout: CgroupLayout, cgroupPath: string, devices: DeviceCgroupRule[] = []): V1Cgroup {
    const dirs: Record<string, string> = {};
    for (const h of layout.v1) dirs[h.name] = path.join(h.mountPoint, cgroupPath);
    const unifiedDir = layout.unifiedRoot ? path.join(layout.unifiedRoot, cgroupPath) : undefined;
    return new V1Cgroup({ version: 1, path: cgroupPath, dirs, unifiedDir }, devices);
  }

  /** The directory of the hierarchy holding `controller` ("cpu" may live in "cpu,cpuacct"). */
  dirFor(controller: string): string | undefined {
    for (const [name, dir] of Object.entries(this.record.dirs)) {
      if (name.split(',').includes(controller)) return dir;
    }
    return undefined;
  }

  create(resources: Resources | undefined): string[] {
    this.makeDirs();
    return this.apply(resources);
  }

  makeDirs(which: CgroupDirs = 'all'): void {
    const ops: CgroupFileOp[] = [];
    if (which !== 'clone-into') {
      for (const [name, dir] of Object.entries(this.record.dirs)) {
        if (name.split(',').includes('cpuset')) ops.push(...cpusetDirOps(dir));
        else ops.push(['mkdir', dir]);
      }
    }
    if (which !== 'others' && this.record.unifiedDir) ops.push(['mkdir', this.record.unifiedDir]);
    cgroupFiles(ops, this.observer);
  }

  joinDirs(): string[] {
    const dirs = Object.values(this.record.dirs);
    if (this.record.unifiedDir) dirs.push(this.record.unifiedDir);
    return dirs;
  }

  cloneIntoDir(): string | undefined {
    return this.record.unifiedDir;
  }

  apply(resources: Resources | undefined, part: CgroupPart = 'all'): string[] {
    const warnings: string[] = [];
    if (resources?.unified && Object.keys(resources.unified).length) {
      throw new Error('linux.resources.unified: needs cgroup v2, the host runs cgroup v1');
    }
    const batch: CgroupFileOp[] = []; // written in one native call, in order
    for (const write of v1ResourceWrites(resources, this.devices)) {
      if (part !== 'all' && (write.controller === 'devices') !== (part === 'devices')) continue;
      const dir = this.dirFor(write.controller);
      if (!dir) {
        warnings.push(`cgroup v1 controller ${write.controller} is not mounted: ${write.file} not set`);
        continue;
      }
      if (write.file === 'memory.limit_in_bytes' || write.file === 'memory.memsw.limit_in_bytes') {
        cgroupFiles(batch.splice(0), this.observer);
        this.writeMemory(dir, write.file, write.value);
      } else {
        batch.push(['write', path.join(dir, write.file), write.value]);
      }
    }
    cgroupFiles(batch, this.observer);
    return warnings;
  }

  /**
   * memory.limit_in_bytes must stay ≤ memory.memsw.limit_in_bytes: when a write is refused because of
   * the other one, raise/lower the other first (as runc orders them).
   */
  private writeMemory(dir: string, file: string, value: string): void {
    try {
      writeCgroupFile(dir, file, value, this.observer);
    } catch (err) {
      if (file === 'memory.limit_in_bytes' && (err as CgroupError).code === 'EINVAL') {
        writeCgroupFile(dir, 'memory.memsw.limit_in_bytes', value, this.observer);
        writeCgroupFile(dir, file, value, this.observer);
      } else if (file === 'memory.memsw.limit_in_bytes' && (err as CgroupError).code === 'ENOENT') {
        throw new Error('memory swap limit is not supported by this kernel (memory.memsw.limit_in_bytes missing: swapaccount=0)');
      } else {
        throw err;
      }
    }
  }

  stats(): CgroupStats {
    const num = (controller: string, file: string) => {
      const dir = this.dirFor(controller);
      const text = dir ? readCgroupFile(dir, file) : undefined;
      return text === undefined || text === 'max' ? undefined : Number(text);
    };
    const stats: CgroupStats = {};
    const usage = num('memory', 'memory.usage_in_bytes');
    if (usage !== undefined) {
      stats.memory = { usage, limit: num('memory', 'memory.limit_in_bytes'), maxUsage: num('memory', 'memory.max_usage_in_bytes') };
    }
    const current = num('pids', 'pids.current');
    if (current !== undefined) stats.pids = { current, limit: num('pids', 'pids.max') };
    const cpu = num('cpuacct', 'cpuacct.usage');
    if (cpu !== undefined) stats.cpu = { usageNanoseconds: cpu };
    return stats;
  }

  isFrozen(): boolean {
    const dir = this.dirFor('freezer');
    return dir ? readCgroupFile(dir, 'freezer.state') === 'FROZEN' : false;
  }

  async freeze(): Promise<void> {
    await this.setFreezer('FROZEN');
  }

  async thaw(): Promise<void> {
    await this.setFreezer('THAWED');
  }

  /** Writing FROZEN starts freezing; the state reads FREEZING until every task stopped. */
  private async setFreezer(state: 'FROZEN' | 'THAWED'): Promise<void> {
    const dir = this.dirFor('freezer');
    if (!dir) throw new Error('cgroup v1 freezer controller is not mounted: pause/resume unavailable');
    for (let attempt = 0; attempt < 1000; attempt++) {
      writeCgroupFile(dir, 'freezer.state', state, this.observer);
      if (readCgroupFile(dir, 'freezer.state') === state) return;
      await sleep(Math.min(1 + attempt, 10));
    }
    throw new Error(`cgroup: ${dir} did not become ${state}`);
  }

  async killAll(signal = 9): Promise<void> {
    const unified = this.record.unifiedDir;
    if (signal === 9 && unified) {
      // One native write (on every container removal); a kernel without cgroup.kill (< 5.14)
      // refuses it, and then the freezer does the job (only a write that worked is traced).
      const kill = path.join(unified, 'cgroup.kill');
      try {
        cgroupFiles([['write', kill, '1']]);
        this.observer?.('write', kill, '1');
        return;
      } catch {
        /* no cgroup.kill, or no unified directory */
      }
    }
    await signalEveryProcess(this, signal, this.dirFor('freezer') !== undefined);
  }

  procs(): number[] {
    const dir = this.dirFor('pids') ?? this.dirFor('freezer') ?? this.dirFor('memory') ?? Object.values(this.record.dirs)[0];
    return dir ? procsRecursive(dir) : [];
  }

  async destroy(): Promise<void> {
    const dirs = Object.values(this.record.dirs);
    if (this.record.unifiedDir) dirs.push(this.record.unifiedDir);
    // One native call for the usual case; a directory still busy (a process still exiting,
    // sub-groups) goes the slow way, with retries.
    const failed = native().cgroupFiles(dirs.map((dir): CgroupFileOp => ['rmdir', dir]));
    for (const [i, dir] of dirs.entries()) if (failed[i]) await removeCgroupDir(dir);
  }
}
