// The cgroup of one sandbox, with asynchronous file I/O (many sandboxes share one event loop).
// Layout: <hierarchy>/hull-sandbox/<name>, one directory per controller hull uses (v1: memory,
// pids, cpu, cpuacct, freezer, plus the unified directory for cgroup.kill on hybrid hosts; v2: one
// directory). The parent is created once per process and reused. Limits, accounting and kill-all
// follow REFERENCE §9; killing goes through the shared drivers in src/cgroup.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { detectCgroupLayout, V1Cgroup, V2Cgroup, type CgroupDriver, type CgroupLayout, type CgroupRecord } from '../cgroup';
import type { Limits, SandboxTrace } from './options';

export const SANDBOX_CGROUP_PARENT = 'hull-sandbox';
/**
 * v1 controllers a sandbox may join (others stay where the Node process is). Every joined
 * hierarchy costs a mkdir, a cgroup.procs write and an rmdir per run, so a run joins only what it
 * uses: memory (limit, peak, OOM) and pids always, cpu only for a CPU quota; cpuacct (CPU time) and
 * freezer (kill-all) only when there is no unified hierarchy, whose cpu.stat and cgroup.kill do
 * both jobs on hybrid hosts.
 */
const V1_CONTROLLERS = ['memory', 'pids', 'cpu', 'cpuacct', 'freezer'];
const V2_CONTROLLERS = ['memory', 'pids', 'cpu'];
const CFS_PERIOD_US = 100_000;
/** A reused group still charged with more than this (page cache of earlier runs) is emptied first. */
const RESET_RECLAIM_BYTES = 1 << 20;

interface Hierarchies {
  version: 1 | 2;
  /** v1: controller → hierarchy mount point ("cpu" and "cpuacct" may share one). v2: {'': root}. */
  roots: Map<string, string>;
  /** Hybrid hosts: the controller-less v2 mount, for cgroup.kill. */
  unifiedRoot?: string;
}

let hierarchies: Hierarchies | undefined;
let parentReady: Promise<void> | undefined;

/** Tests: act as if the host had `layout` (e.g. a v2 tree in a temp dir); undefined = detect again. */
export function useCgroupLayout(layout: CgroupLayout | undefined): void {
  hierarchies = undefined;
  parentReady = undefined;
  forcedLayout = layout;
}
let forcedLayout: CgroupLayout | undefined;

function detect(): Hierarchies {
  if (hierarchies) return hierarchies;
  const layout = forcedLayout ?? detectCgroupLayout();
  if (layout.mode === 'unified') {
    hierarchies = { version: 2, roots: new Map([['', layout.unifiedRoot ?? '/sys/fs/cgroup']]) };
  } else {
    const roots = new Map<string, string>();
    for (const controller of V1_CONTROLLERS) {
      const h = layout.v1.find((x) => x.controllers.includes(controller));
      if (h) roots.set(controller, h.mountPoint);
    }
    hierarchies = { version: 1, roots, unifiedRoot: layout.unifiedRoot };
  }
  return hierarchies;
}

export function cgroupVersion(): 1 | 2 {
  return detect().version;
}

/** Pid encoded in a sandbox cgroup name ("<pid>-<n>-…"): the process that made it. */
function ownerPid(name: string): number {
  return Number(name.split('-')[0]);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** mkdir <hierarchy>/hull-sandbox once per process; enable v2 controllers; sweep dead owners' dirs. */
function ensureParent(): Promise<void> {
  parentReady ??= (async () => {
    const h = detect();
    const parents = [...new Set(h.roots.values())].map((root) => path.join(root, SANDBOX_CGROUP_PARENT));
    if (h.unifiedRoot) parents.push(path.join(h.unifiedRoot, SANDBOX_CGROUP_PARENT));
    await Promise.all(parents.map((p) => fs.promises.mkdir(p, { recursive: true })));
    if (h.version === 2) {
      const root = h.roots.get('')!;
      await enableControllers(root);
      await enableControllers(path.join(root, SANDBOX_CGROUP_PARENT));
    }
    await sweepStaleCgroups(parents);
  })();
  parentReady.catch(() => {
    parentReady = undefined; // let the next sandbox retry and report it
  });
  return parentReady;
}

async function enableControllers(dir: string): Promise<void> {
  const available = (await readText(path.join(dir, 'cgroup.controllers')) ?? '').split(/\s+/);
  const enabled = (await readText(path.join(dir, 'cgroup.subtree_control')) ?? '').split(/\s+/);
  const wanted = V2_CONTROLLERS.filter((c) => available.includes(c) && !enabled.includes(c));
  if (wanted.length) await fs.promises.writeFile(path.join(dir, 'cgroup.subtree_control'), wanted.map((c) => `+${c}`).join(' '));
}

/** Cgroups of processes that died without cleaning up (SIGKILL): empty them and remove them. */
async function sweepStaleCgroups(parents: string[]): Promise<void> {
  for (const parent of parents) {
    let entries: string[] = [];
    try {
      entries = await fs.promises.readdir(parent);
    } catch {
      continue;
    }
    for (const name of entries) {
      const pid = ownerPid(name);
      if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || alive(pid)) continue;
      const dir = path.join(parent, name);
      if (!(await fs.promises.stat(dir).catch(() => null))?.isDirectory()) continue;
      await removeTree(dir).catch(() => undefined);
    }
  }
}

async function readText(file: string): Promise<string | undefined> {
  try {
    return (await fs.promises.readFile(file, 'utf8')).trim();
  } catch {
    return undefined;
  }
}


/** A `key value` line of a flat-keyed file (memory.events, cpu.stat, memory.oom_control). */
function keyed(text: string | undefined, key: string): number | undefined {
  const m = text && new RegExp(`^${key} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** rmdir children first; EBUSY while the last tasks exit is retried with backoff (runc: 10 tries). */
async function removeTree(dir: string, hasChildren = true): Promise<void> {
  if (hasChildren) {
    let entries: fs.Dirent[] = [];
    try {
      entries = await fs.promises.readdir(dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const e of entries) if (e.isDirectory()) await removeTree(path.join(dir, e.name));
  }
  let delay = 1;
  for (let attempt = 0; ; attempt++) {
    try {
      await fs.promises.rmdir(dir);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || attempt >= 12) throw new Error(`cgroup: remove ${dir}: ${code}`);
      await sleep(delay);
      delay = Math.min(delay * 2, 100);
    }
  }
}

type StatKey = 'oom' | 'peak' | 'cpu' | 'tasks' | 'usage';

/** Reads of accounting files are synchronous and short (a few numbers). */
const statBuffer = Buffer.alloc(64 * 1024);

/** Write `value` at offset 0 of a held cgroup file. */
function writeSyncAt(fd: number, value: string): void {
  fs.writeSync(fd, value, 0);
}

export interface CgroupUsage {
  cpuNs: number;
  peakBytes: number;
  oomKills: number;
}

export class SandboxCgroup {
  private constructor(
    readonly version: 1 | 2,
    /** controller ('' on v2) → this group's directory. */
    private readonly byController: Map<string, string>,
    private readonly unifiedDir: string | undefined,
    /** Cgroup path under each hierarchy root ("/hull-sandbox/<name>"). */
    readonly cgroupPath: string,
    private readonly trace?: SandboxTrace,
  ) {}

  /** Every distinct directory, in the order they are created. */
  get dirs(): string[] {
    const dirs = [...new Set(this.byController.values())];
    if (this.unifiedDir) dirs.push(this.unifiedDir);
    return dirs;
  }

  /** Directories whose cgroup.procs receive the sandbox process (the plan's cgroup-join ops). */
  joinDirs(): string[] {
    return this.dirs;
  }

  private static layoutFor(cgroupPath: string, controllers: readonly string[], trace?: SandboxTrace): SandboxCgroup {
    const h = detect();
    const byController = new Map<string, string>();
    for (const [controller, root] of h.roots) {
      if (h.version === 2 || controllers.includes(controller)) byController.set(controller, path.join(root, cgroupPath));
    }
    const unifiedDir = h.unifiedRoot ? path.join(h.unifiedRoot, cgroupPath) : undefined;
    return new SandboxCgroup(h.version, byController, unifiedDir, cgroupPath, trace);
  }

  /** The v1 controllers a group with these limits joins (see V1_CONTROLLERS). */
  private static controllersFor(limits: Limits): string[] {
    const controllers = ['memory', 'pids'];
    if (limits.cpuQuotaUs !== undefined) controllers.push('cpu');
    if (!detect().unifiedRoot) controllers.push('cpuacct', 'freezer');
    return controllers;
  }

  /** v1 controllers of this group (its sub-groups live in the same hierarchies). */
  private get controllers(): string[] {
    return [...this.byController.keys()];
  }

  /** Creates /hull-sandbox/<name> in every hierarchy and writes the limits. */
  /**
   * `oomGroup`: on OOM the kernel kills the whole group (v2 memory.oom.group), for groups holding
   * one command. `delegate`: sub-groups will hold the processes (v2 needs controllers enabled).
   */
  static async create(name: string, limits: Limits, opts: { trace?: SandboxTrace; delegate?: boolean; oomGroup?: boolean } = {}): Promise<SandboxCgroup> {
    await ensureParent();
    const group = SandboxCgroup.layoutFor(`/${SANDBOX_CGROUP_PARENT}/${name}`, SandboxCgroup.controllersFor(limits), opts.trace);
    await group.mkdirs();
    if (!opts.delegate) group.openStats(); // a delegating group's commands are measured in its sub-groups
    try {
      await group.applyLimits(limits);
      if (opts.oomGroup) await group.setOomGroup();
      if (opts.delegate && group.version === 2) await enableControllers(group.byController.get('')!);
    } catch (err) {
      await group.remove().catch(() => undefined);
      throw err;
    }
    return group;
  }

  /** A sub-group (no limits of its own: the parent's apply to it). */
  private hasChildren = false;
  /**
   * Files held open while the group lives (see openStats): the accounting files, and for pooled
   * groups also the files every run reads or writes (pids.current, memory.usage_in_bytes).
   */
  private statFiles?: Promise<Map<StatKey, fs.promises.FileHandle>>;
  /** Counters that only grow (OOM kills, CPU time) as they were when a reused group was reset. */
  private base = { cpuNs: 0, oomKills: 0 };
  /** Limit files of a reusable group and what they hold now (so a run writes only what changes). */
  private written?: Map<string, string>;

  /**
   * An empty group for the pool (src/sandbox/pool.ts): no limits yet, accounting files kept open
   * across runs. Only v1 hosts without a CPU quota use it (see `reusable`).
   */
  static async createReusable(name: string, trace?: SandboxTrace): Promise<SandboxCgroup> {
    await ensureParent();
    const group = SandboxCgroup.layoutFor(`/${SANDBOX_CGROUP_PARENT}/${name}`, SandboxCgroup.controllersFor({}), trace);
    await group.mkdirs();
    group.written = new Map();
    group.openStats();
    return group;
  }

  /** A group with these limits can come from the pool: v1 (v2 peaks cannot be reset before 6.12), no CPU quota. */
  static reusable(limits: Limits): boolean {
    return detect().version === 1 && limits.cpuQuotaUs === undefined;
  }

  /**
   * Set a reused group's limits for the next run; `extraPids` processes that are not the
   * sandbox's (its pre-attached monitor) do not count against the pids limit.
   */
  async setLimits(limits: Limits, extraPids: number): Promise<void> {
    const written = this.written!;
    const set = async (controller: string, file: string, value: string, optional = false) => {
      const key = `${controller}/${file}`;
      if (written.get(key) === value) return;
      written.delete(key); // unknown until the write succeeded
      await this.write(controller, file, value, optional);
      written.set(key, value);
    };
    const memory = limits.memoryBytes === undefined ? '-1' : String(limits.memoryBytes);
    const current = written.get('memory/memory.limit_in_bytes') ?? '-1';
    const asNumber = (v: string) => (v === '-1' ? Infinity : Number(v));
    // "No limit" on a host without the controller is no error (as for a new group).
    const noMemory = limits.memoryBytes === undefined;
    // memory+swap may never be below memory: raise it first, lower it last.
    if (asNumber(memory) > asNumber(current)) {
      await set('memory', 'memory.memsw.limit_in_bytes', memory, true);
      await set('memory', 'memory.limit_in_bytes', memory, noMemory);
    } else {
      await set('memory', 'memory.limit_in_bytes', memory, noMemory);
      await set('memory', 'memory.memsw.limit_in_bytes', memory, true);
    }
    const pids = limits.pids === undefined ? 'max' : String(limits.pids + extraPids);
    await set('pids', 'pids.max', pids, limits.pids === undefined);
  }

  /**
   * Make an emptied group like new for the next run: the peak reset (to what is still charged: page
   * cache and kernel objects earlier runs left, typically 0.2-0.8 MiB; over 1 MiB they are dropped
   * first, which costs 1-15 ms of reclaim); OOM kills and CPU time are counted from here on.
   */
  async reset(): Promise<void> {
    const charged = Number(await this.readStat('usage'));
    if (charged > RESET_RECLAIM_BYTES) await this.write('memory', 'memory.force_empty', '0', true);
    const peak = (await this.statFiles)?.get('peak');
    if (peak) writeSyncAt(peak.fd, '0'); // a counter reset: never waits
    else await this.write('memory', 'memory.max_usage_in_bytes', '0', true);
    const raw = await this.rawUsage();
    this.base = { cpuNs: raw.cpuNs, oomKills: raw.oomKills };
  }

  /** `measured: false`: nobody reads its usage (a long-lived sandbox's init): no accounting files held open. */
  async child(name: string, opts: { oomGroup?: boolean; measured?: boolean } = {}): Promise<SandboxCgroup> {
    this.hasChildren = true;
    const group = SandboxCgroup.layoutFor(`${this.cgroupPath}/${name}`, this.controllers, this.trace);
    await group.mkdirs();
    if (opts.measured !== false) group.openStats();
    if (opts.oomGroup) await group.setOomGroup().catch(async (err) => {
      await group.remove().catch(() => undefined);
      throw err;
    });
    return group;
  }

  /** v2: an OOM kill takes the whole group (v1 has no such switch: the runner watches oom_control). */
  private async setOomGroup(): Promise<void> {
    if (this.version === 2) await this.write('', 'memory.oom.group', '1', true);
  }

  private async mkdirs(): Promise<void> {
    for (const dir of this.dirs) this.trace?.(-1, 'cgroup', `mkdir(${JSON.stringify(dir)})`);
    await Promise.all(this.dirs.map((dir) => fs.promises.mkdir(dir)));
  }

  private async write(controller: string, file: string, value: string, optional = false): Promise<void> {
    const dir = this.byController.get(controller);
    if (!dir) {
      if (optional) return;
      throw new Error(`cgroup: the ${controller} controller is not available on this host: cannot set ${file}`);
    }
    await this.writeIn(dir, file, value, optional);
  }

  private async writeIn(dir: string, file: string, value: string, optional = false): Promise<void> {
    const full = path.join(dir, file);
    this.trace?.(-1, 'cgroup', `write(${JSON.stringify(full)}, ${JSON.stringify(value)})`);
    try {
      await fs.promises.writeFile(full, value);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (optional && (code === 'ENOENT' || code === 'EACCES')) return;
      throw new Error(`cgroup: write ${JSON.stringify(value)} to ${full}: ${code ?? (err as Error).message}`);
    }
  }

  private async applyLimits(limits: Limits): Promise<void> {
    const writes: Promise<void>[] = [];
    if (this.version === 1) {
      if (limits.memoryBytes !== undefined) {
        // Memory first, then memory+swap at the same value: no swap (memsw exists only with swapaccount).
        writes.push(
          this.write('memory', 'memory.limit_in_bytes', String(limits.memoryBytes)).then(() =>
            this.write('memory', 'memory.memsw.limit_in_bytes', String(limits.memoryBytes), true),
          ),
        );
      }
      if (limits.pids !== undefined) writes.push(this.write('pids', 'pids.max', String(limits.pids)));
      if (limits.cpuQuotaUs !== undefined) {
        writes.push(
          this.write('cpu', 'cpu.cfs_period_us', String(CFS_PERIOD_US)).then(() => this.write('cpu', 'cpu.cfs_quota_us', String(limits.cpuQuotaUs))),
        );
      }
    } else {
      if (limits.memoryBytes !== undefined) {
        writes.push(this.write('', 'memory.max', String(limits.memoryBytes)));
        writes.push(this.write('', 'memory.swap.max', '0', true));
      }
      if (limits.pids !== undefined) writes.push(this.write('', 'pids.max', String(limits.pids)));
      if (limits.cpuQuotaUs !== undefined) writes.push(this.write('', 'cpu.max', `${limits.cpuQuotaUs} ${CFS_PERIOD_US}`));
    }
    await Promise.all(writes);
  }

  /** The accounting files: v1 memory.oom_control, max_usage_in_bytes and CPU time; v2 the same in one dir. */
  private statPaths(): Record<StatKey, string | undefined> {
    if (this.version === 2) {
      const dir = this.byController.get('')!;
      return {
        oom: path.join(dir, 'memory.events'),
        peak: path.join(dir, 'memory.peak'),
        cpu: path.join(dir, 'cpu.stat'),
        tasks: undefined, // pooled groups are v1 only
        usage: path.join(dir, 'memory.current'),
      };
    }
    const mem = this.byController.get('memory');
    const cpuacct = this.byController.get('cpuacct');
    const pids = this.byController.get('pids');
    return {
      oom: mem && path.join(mem, 'memory.oom_control'),
      peak: mem && path.join(mem, 'memory.max_usage_in_bytes'),
      cpu: cpuacct ? path.join(cpuacct, 'cpuacct.usage') : this.unifiedDir && path.join(this.unifiedDir, 'cpu.stat'),
      // Not cgroup.procs: v1 caches its pid list per open file, so a re-read can show the old list.
      tasks: pids && path.join(pids, 'pids.current'),
      usage: mem && path.join(mem, 'memory.usage_in_bytes'),
    };
  }

  /**
   * Open the accounting files while the command starts: at the end (and for OOM polls) each is one
   * pread instead of open + stat + read + close. A pooled group (`written` set) also keeps the files
   * every run of it reads (task count, memory usage) and its peak open for writing (the reset).
   * Files the kernel lacks are read the slow way.
   */
  private openStats(): void {
    const reused = this.written !== undefined;
    this.statFiles = (async () => {
      const handles = new Map<StatKey, fs.promises.FileHandle>();
      await Promise.all(
        Object.entries(this.statPaths()).map(async ([key, file]) => {
          if (!file || (!reused && (key === 'tasks' || key === 'usage'))) return;
          const fh = await fs.promises.open(file, reused && key === 'peak' && this.version === 1 ? 'r+' : 'r').catch(() => undefined);
          if (fh) handles.set(key as StatKey, fh);
        }),
      );
      return handles;
    })();
  }

  /**
   * One accounting file's text. Through a held fd the read is synchronous: a cgroup counter is
   * produced in the kernel in a few µs, while a thread-pool round trip costs 10-20 times that in
   * CPU (and a readFile of a path 100 times), which is what limits sandboxes per second.
   */
  private async readStat(key: StatKey): Promise<string | undefined> {
    const fh = (await this.statFiles)?.get(key);
    if (!fh) {
      const file = this.statPaths()[key];
      return file ? readText(file) : undefined;
    }
    try {
      const n = fs.readSync(fh.fd, statBuffer, 0, statBuffer.length, 0); // offset 0: the kernel regenerates it
      return statBuffer.toString('utf8', 0, n).trim();
    } catch {
      return undefined;
    }
  }

  private async closeStats(): Promise<void> {
    const handles = await this.statFiles;
    this.statFiles = undefined;
    const all = [...(handles?.values() ?? [])];
    await Promise.all(all.map((fh) => fh.close().catch(() => undefined)));
  }

  /** OOM kills so far in this group (and below it). */
  async oomKills(): Promise<number> {
    return (keyed(await this.readStat('oom'), 'oom_kill') ?? 0) - this.base.oomKills;
  }

  /** CPU time, highest memory use and OOM kills of the group (since it was made or reset). */
  async usage(): Promise<CgroupUsage> {
    const raw = await this.rawUsage();
    return { cpuNs: raw.cpuNs - this.base.cpuNs, peakBytes: raw.peakBytes, oomKills: raw.oomKills - this.base.oomKills };
  }

  private async rawUsage(): Promise<CgroupUsage> {
    const [cpu, peak, oom] = await Promise.all([this.readStat('cpu'), this.readStat('peak'), this.readStat('oom')]);
    const oomKills = keyed(oom, 'oom_kill') ?? 0;
    // cpuacct.usage is one number in ns; cpu.stat (v2, or the unified dir of a hybrid host) has usage_usec.
    const cpuNs = cpu === undefined ? 0 : /^\d+$/.test(cpu) ? Number(cpu) : (keyed(cpu, 'usage_usec') ?? 0) * 1000;
    const peakBytes = peak !== undefined && /^\d+$/.test(peak) ? Number(peak) : 0;
    return { cpuNs, peakBytes, oomKills };
  }

  /** Pids in the group and below (cgroup.procs of the pids/freezer/unified directory). */
  async procs(): Promise<number[]> {
    const dir = this.byController.get(this.version === 1 ? 'pids' : '') ?? this.unifiedDir ?? this.dirs[0];
    const text = await readText(path.join(dir, 'cgroup.procs'));
    return text ? text.split('\n').filter(Boolean).map(Number) : [];
  }

  /**
   * No process left in the group (zombies not yet reaped count). A pooled group reads pids.current
   * through its held fd; others list cgroup.procs.
   */
  async empty(): Promise<boolean> {
    if ((await this.statFiles)?.has('tasks')) return Number(await this.readStat('tasks')) === 0;
    return (await this.procs()).length === 0;
  }

  private driver(): CgroupDriver {
    const record: CgroupRecord = { version: this.version, path: this.cgroupPath, dirs: {}, unifiedDir: this.unifiedDir };
    if (this.version === 2) {
      record.dirs[''] = this.byController.get('')!;
      return new V2Cgroup(record, detect().roots.get('')!);
    }
    for (const [controller, dir] of this.byController) record.dirs[controller] = dir;
    return new V1Cgroup(record);
  }

  /** SIGKILL every process in the group, including ones forked meanwhile (cgroup.kill or freeze+kill). */
  async kill(): Promise<void> {
    this.trace?.(-1, 'cgroup', `write(${JSON.stringify(path.join(this.unifiedDir ?? this.dirs[0], 'cgroup.kill'))}, "1")`);
    await this.driver().killAll(9);
  }

  /** Kill what is left and remove every directory (sub-groups first). */
  async remove(): Promise<void> {
    // Open files do not keep a cgroup directory busy: close them while the directories go.
    const closing = this.closeStats();
    // A group that never had sub-groups is removed without listing it first (one call per hierarchy).
    const results = await Promise.allSettled(this.dirs.map((dir) => removeTree(dir, this.hasChildren)));
    await closing;
    if (results.some((r) => r.status === 'rejected')) {
      // Something still runs in it (e.g. a process escaped the kill): kill and try once more.
      await this.kill().catch(() => undefined);
      for (const dir of this.dirs) await removeTree(dir);
    }
  }
}
