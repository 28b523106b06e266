// cgroup v2: one directory in the unified hierarchy; controllers are enabled top-down through
// cgroup.subtree_control of every ancestor.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DeviceCgroupRule, Resources } from '../runtime/spec';
import { native } from '../native';
import { deviceRuleText } from './v1';
import {
  type CgroupDirs, type CgroupDriver, type CgroupObserver, type CgroupPart, type CgroupRecord, type CgroupStats, limitValue, makeCgroupDir, procsRecursive,
  readCgroupFile, removeCgroupDir, signalEveryProcess, sleep, writeCgroupFile,
} from './driver';

export interface V2Write {
  file: string;
  value: string;
}

/** Controllers hull asks for in every ancestor's subtree_control (when the kernel offers them). */
const WANTED_CONTROLLERS = ['cpu', 'cpuset', 'io', 'memory', 'pids', 'hugetlb'];

/** cpu.shares (v1, 2..262144) → cpu.weight (v2, 1..10000), the conversion runc and crun use. */
export function sharesToWeight(shares: number): number {
  if (shares === 0) return 0;
  return 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

/** linux.resources → v2 file writes. Pure. Device rules are not here: see V2Cgroup.apply. */
export function v2ResourceWrites(r: Resources | undefined): V2Write[] {
  const w: V2Write[] = [];
  const add = (file: string, value: string) => w.push({ file, value });
  if (!r) return w;
  const m = r.memory;
  if (m) {
    if (m.reservation !== undefined) add('memory.low', limitValue(m.reservation));
    if (m.limit !== undefined) add('memory.max', limitValue(m.limit));
    // OCI swap is memory+swap (v1 memsw); v2 limits swap alone.
    if (m.swap !== undefined) {
      if (m.swap < 0) add('memory.swap.max', 'max');
      else if (m.limit !== undefined && m.limit >= 0) {
        if (m.swap < m.limit) throw new Error('linux.resources.memory.swap: must be >= memory limit (it counts memory + swap)');
        add('memory.swap.max', String(m.swap - m.limit));
      } else add('memory.swap.max', String(m.swap));
    }
    if (m.disableOOMKiller) throw new Error('linux.resources.memory.disableOOMKiller: not available on cgroup v2');
  }
  const c = r.cpu;
  if (c) {
    if (c.shares) add('cpu.weight', String(sharesToWeight(c.shares)));
    if ((c.quota !== undefined && c.quota !== 0) || c.period) {
      const quota = c.quota === undefined || c.quota === 0 || c.quota < 0 ? 'max' : String(c.quota);
      add('cpu.max', `${quota} ${c.period || 100000}`);
    }
    if (c.idle !== undefined) add('cpu.idle', String(c.idle));
    if (c.cpus) add('cpuset.cpus', c.cpus);
    if (c.mems) add('cpuset.mems', c.mems);
  }
  if (r.pids && r.pids.limit !== 0) add('pids.max', limitValue(r.pids.limit));
  if (r.blockIO?.weight) add('io.weight', `default ${1 + Math.floor(((r.blockIO.weight - 10) * 9999) / 990)}`);
  for (const h of r.hugepageLimits ?? []) add(`hugetlb.${h.pageSize}.max`, String(h.limit));
  for (const [file, value] of Object.entries(r.unified ?? {})) {
    if (file.includes('/') || file.startsWith('.')) throw new Error(`linux.resources.unified: invalid file name "${file}"`);
    add(file, value);
  }
  return w;
}

/**
 * The rules the eBPF device filter enforces, in order (the last matching rule wins, no match =
 * deny): the config's, then the runtime's (`devices`: the defaults every container gets). Undefined
 * when there are none: no program is attached then (a reopened record applying an update without
 * device rules).
 */
export function v2DeviceRules(r: Resources | undefined, devices: DeviceCgroupRule[] = []): DeviceCgroupRule[] | undefined {
  // No leading "deny a" as v1 needs (deviceRulesToApply): denying is the program's own default.
  const rules = [...(r?.devices ?? []), ...devices];
  return rules.length ? rules : undefined;
}

/** The pseudo-file the trace names for the device filter (cgroup v2 has no devices.* files). */
export const V2_DEVICE_FILTER = 'bpf(BPF_CGROUP_DEVICE)';

export class V2Cgroup implements CgroupDriver {
  observer?: CgroupObserver;

  constructor(
    readonly record: CgroupRecord,
    private readonly root: string,
    /** The runtime's default device rules, applied after the config's (none for a reopened record). */
    private readonly devices: DeviceCgroupRule[] = [],
  ) {}

  static forPath(unifiedRoot: string, cgroupPath: string, devices: DeviceCgroupRule[] = []): V2Cgroup {
    return new V2Cgroup({ version: 2, path: cgroupPath, dirs: { '': path.join(unifiedRoot, cgroupPath) } }, unifiedRoot, devices);
  }

  get dir(): string {
    return this.record.dirs[''];
  }

  create(resources: Resources | undefined): string[] {
    this.makeDirs();
    return this.apply(resources);
  }

  makeDirs(which: CgroupDirs = 'all'): void {
    if (which === 'others') return; // the one directory is the one it is born in
    this.enableControllers();
    makeCgroupDir(this.dir, this.observer);
  }

  /** Walk from the root to the container's parent enabling every wanted controller the parent has. */
  private enableControllers(): void {
    const parts = path.relative(this.root, this.dir).split('/').slice(0, -1);
    let dir = this.root;
    for (let i = 0; i <= parts.length; i++) {
      makeCgroupDir(dir, this.observer);
      const available = (readCgroupFile(dir, 'cgroup.controllers') ?? '').split(/\s+/);
      const enabled = (readCgroupFile(dir, 'cgroup.subtree_control') ?? '').split(/\s+/);
      const toEnable = WANTED_CONTROLLERS.filter((c) => available.includes(c) && !enabled.includes(c));
      if (toEnable.length) writeCgroupFile(dir, 'cgroup.subtree_control', toEnable.map((c) => `+${c}`).join(' '), this.observer);
      if (i < parts.length) dir = path.join(dir, parts[i]);
    }
  }

  joinDirs(): string[] {
    return [this.dir];
  }

  cloneIntoDir(): string {
    return this.dir;
  }

  apply(resources: Resources | undefined, part: CgroupPart = 'all'): string[] {
    const warnings: string[] = [];
    for (const write of part === 'devices' ? [] : v2ResourceWrites(resources)) {
      if (!fs.existsSync(path.join(this.dir, write.file)) && !write.file.startsWith('cpu.idle')) {
        const controller = write.file.split('.')[0];
        throw new Error(`cgroup v2: ${write.file} missing in ${this.dir} (is the ${controller} controller enabled in the parent?)`);
      }
      writeCgroupFile(this.dir, write.file, write.value, this.observer);
    }
    const rules = part === 'limits' ? undefined : v2DeviceRules(resources, this.devices);
    if (rules) {
      // Replaces the filter attached before (update); the kernel drops it with the cgroup.
      this.observer?.('write', path.join(this.dir, V2_DEVICE_FILTER), rules.map((r) => `${r.allow ? 'allow' : 'deny'} ${deviceRuleText(r)}`).join(', '));
      try {
        native().setDeviceFilter(this.dir, rules);
      } catch (err) {
        const e = err as Error & { code?: string };
        throw new Error(`cgroup v2: device filter for ${this.dir}: ${e.message}`, { cause: err });
      }
    }
    return warnings;
  }

  stats(): CgroupStats {
    const num = (file: string) => {
      const t = readCgroupFile(this.dir, file);
      return t === undefined || t === 'max' ? undefined : Number(t);
    };
    const stats: CgroupStats = {};
    const usage = num('memory.current');
    if (usage !== undefined) stats.memory = { usage, limit: num('memory.max'), maxUsage: num('memory.peak') };
    const current = num('pids.current');
    if (current !== undefined) stats.pids = { current, limit: num('pids.max') };
    const cpuStat = readCgroupFile(this.dir, 'cpu.stat');
    const usec = cpuStat && /usage_usec (\d+)/.exec(cpuStat);
    if (usec) stats.cpu = { usageNanoseconds: Number(usec[1]) * 1000 };
    return stats;
  }

  isFrozen(): boolean {
    return /frozen 1/.test(readCgroupFile(this.dir, 'cgroup.events') ?? '');
  }

  async freeze(): Promise<void> {
    await this.setFrozen(true);
  }

  async thaw(): Promise<void> {
    await this.setFrozen(false);
  }

  private async setFrozen(frozen: boolean): Promise<void> {
    writeCgroupFile(this.dir, 'cgroup.freeze', frozen ? '1' : '0', this.observer);
    for (let attempt = 0; attempt < 1000; attempt++) {
      if (this.isFrozen() === frozen) return;
      await sleep(Math.min(1 + attempt, 10));
    }
    throw new Error(`cgroup: ${this.dir} did not become ${frozen ? 'frozen' : 'thawed'}`);
  }

  async killAll(signal = 9): Promise<void> {
    if (signal === 9 && fs.existsSync(path.join(this.dir, 'cgroup.kill'))) {
      writeCgroupFile(this.dir, 'cgroup.kill', '1', this.observer);
      return;
    }
    await signalEveryProcess(this, signal);
  }

  procs(): number[] {
    return procsRecursive(this.dir);
  }

  async destroy(): Promise<void> {
    await removeCgroupDir(this.dir);
  }
}
