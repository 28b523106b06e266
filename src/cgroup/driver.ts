// The cgroup driver contract and the file helpers both drivers share. A driver owns one container's
// cgroup: it creates the directories, writes `linux.resources` into controller files, tells the plan
// which directories the container process joins, and freezes, kills and removes the group.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { native, type CgroupFileOp } from '../native';
import type { Resources } from '../runtime/spec';

export type CgroupVersion = 1 | 2;

/** Which resources CgroupDriver.apply writes: all, the device rules only, or all but them. */
export type CgroupPart = 'all' | 'devices' | 'limits';

/** Which directories CgroupDriver.makeDirs makes: all, cloneIntoDir() only, or all but it. */
export type CgroupDirs = 'all' | 'clone-into' | 'others';

/** What state.json keeps so any later command can reopen the same cgroup. */
export interface CgroupRecord {
  version: CgroupVersion;
  /** The container's path inside each hierarchy ("/hull-oci/<id>"). */
  path: string;
  /** v1: controller-list name ("memory", "cpu,cpuacct", "name=systemd") → directory. v2: {"": dir}. */
  dirs: Record<string, string>;
  /** hybrid hosts: the container's directory in the (controller-less) unified hierarchy, for cgroup.kill. */
  unifiedDir?: string;
}

export interface CgroupStats {
  memory?: { usage: number; limit?: number; maxUsage?: number };
  pids?: { current: number; limit?: number };
  cpu?: { usageNanoseconds: number };
}

export interface CgroupDriver {
  readonly record: CgroupRecord;
  /** Reports mkdirs and file writes (set by cgroupForContainer for the trace). */
  observer?: CgroupObserver;
  /** mkdir every directory and apply the resources (warnings are returned, not thrown). */
  create(resources: Resources | undefined): string[];
  /**
   * Only the directories: a container start writes the limits (apply) while the helper already
   * works, which is fine as long as it is done before the container's program runs (`cgroup-wait`).
   * `which`: the one the container process is born in (cloneIntoDir(), needed by the clone), or
   * the others, which it moves into at `cgroup-wait` (made while it sets up its first mounts).
   */
  makeDirs(which?: CgroupDirs): void;
  /** Directories whose cgroup.procs gets the container's pid (the plan's `cgroup-join` ops). */
  joinDirs(): string[];
  /**
   * The cgroup2 directory among joinDirs() (v2, or the unified dir of a hybrid host), which the
   * container process can be born in with clone3 CLONE_INTO_CGROUP (the plan's `cgroup-clone-into`).
   */
  cloneIntoDir(): string | undefined;
  /**
   * Write resources into the controller files (create and `update`). Returns warnings. `part`:
   * only the device rules, or everything but them. A container start writes the device rules
   * before the helper starts (the container process makes device nodes and opens /dev/pts/ptmx
   * while it sets up, so a half-written rule list would refuse those) and the rest while it works.
   */
  apply(resources: Resources | undefined, part?: CgroupPart): string[];
  stats(): CgroupStats;
  freeze(): Promise<void>;
  thaw(): Promise<void>;
  isFrozen(): boolean;
  /** SIGKILL (or `signal`) every process in the group, including ones forked after we looked. */
  killAll(signal?: number): Promise<void>;
  /** Pids in the group and its sub-groups. */
  procs(): number[];
  /** rmdir every directory (children first), retrying EBUSY while the last processes exit. */
  destroy(): Promise<void>;
}

/** A cgroup file write that failed, with the file named (as the kernel's error alone says little). */
export class CgroupError extends Error {
  readonly code?: string;
  constructor(
    readonly file: string,
    readonly value: string,
    cause: NodeJS.ErrnoException,
  ) {
    super(`cgroup: write ${JSON.stringify(value)} to ${file}: ${cause.code ?? cause.message}`);
    this.name = 'CgroupError';
    this.code = cause.code;
  }
}

/**
 * Told about each host-side step a driver takes (`hull run --explain` shows them): RuntimeOptions.onTrace
 * reaches the drivers as this, through cgroupForContainer.
 */
export type CgroupObserver = (kind: 'mkdir' | 'write' | 'rmdir', file: string, value?: string) => void;

export function writeCgroupFile(dir: string, file: string, value: string, observe?: CgroupObserver): void {
  const full = path.join(dir, file);
  observe?.('write', full, value);
  try {
    fs.writeFileSync(full, value);
  } catch (err) {
    throw new CgroupError(full, value, err as NodeJS.ErrnoException);
  }
}

/**
 * cgroupfs ops in one native call (HullNative.cgroupFiles: ~3x faster than fs.*Sync here, and a
 * container start waits for them), told to `observe` as makeCgroupDir and writeCgroupFile would:
 * each new directory, each write (a value copied down too), in order. A failed write becomes a
 * CgroupError naming the file and value.
 */
export function cgroupFiles(ops: CgroupFileOp[], observe?: CgroupObserver): void {
  if (!ops.length) return;
  let results: (boolean | string | null)[];
  let failed: NodeJS.ErrnoException & { index?: number } | undefined;
  try {
    results = native().cgroupFiles(ops);
  } catch (err) {
    failed = err as NodeJS.ErrnoException & { index?: number };
    results = [];
  }
  const done = failed ? (failed.index ?? 0) + 1 : ops.length;
  for (let i = 0; i < done; i++) {
    const [kind, file, value] = ops[i];
    if (kind === 'mkdir' && results[i] === true) observe?.('mkdir', file);
    if (kind === 'write') observe?.('write', file, value);
    if (kind === 'inherit' && typeof results[i] === 'string') observe?.('write', file, results[i] as string);
  }
  if (!failed) return;
  const op = ops[failed.index ?? -1];
  if (op?.[0] === 'write') throw new CgroupError(op[1], op[2], failed);
  throw failed;
}

/** mkdir -p, reporting the directory when it is new. */
export function makeCgroupDir(dir: string, observe?: CgroupObserver): void {
  if (fs.mkdirSync(dir, { recursive: true }) !== undefined) observe?.('mkdir', dir);
}

export function readCgroupFile(dir: string, file: string): string | undefined {
  try {
    return fs.readFileSync(path.join(dir, file), 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Pids listed in `<dir>/cgroup.procs` and every sub-directory's. */
export function procsRecursive(dir: string): number[] {
  const pids: number[] = [];
  const walk = (d: string) => {
    const text = readCgroupFile(d, 'cgroup.procs');
    if (text === undefined) return;
    for (const line of text.split('\n')) if (line) pids.push(Number(line));
    for (const entry of safeReaddir(d)) if (entry.isDirectory()) walk(path.join(d, entry.name));
  };
  walk(dir);
  return [...new Set(pids)];
}

function safeReaddir(dir: string): fs.Dirent[] {
  try {
    return fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `signal` to every process in the cgroup, frozen meanwhile if it can be (`canFreeze`): frozen
 * tasks can't fork, so one pass over cgroup.procs sees them all. killAll without cgroup.kill.
 */
export async function signalEveryProcess(cgroup: Pick<CgroupDriver, 'procs' | 'freeze' | 'thaw'>, signal: number, canFreeze = true): Promise<void> {
  if (canFreeze) await cgroup.freeze();
  try {
    for (const pid of cgroup.procs()) {
      try {
        process.kill(pid, signal);
      } catch {
        /* already gone */
      }
    }
  } finally {
    if (canFreeze) await cgroup.thaw();
  }
}

/**
 * Remove a cgroup directory and its sub-groups. rmdir fails with EBUSY while an exiting process is
 * still charged to the group: retry with backoff (10 tries from 1 ms, as runc).
 */
export async function removeCgroupDir(dir: string): Promise<void> {
  let delay = 1;
  let childrenRemoved = false;
  for (let attempt = 0; ; attempt++) {
    try {
      fs.rmdirSync(dir);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      // Sub-groups (the container made some, or a nested runtime did): only then list the
      // directory, as a cgroup directory lists ~30 control files.
      if (code === 'EBUSY' && !childrenRemoved) {
        childrenRemoved = true;
        const children = safeReaddir(dir).filter((entry) => entry.isDirectory());
        for (const child of children) await removeCgroupDir(path.join(dir, child.name));
        if (children.length) continue;
      }
      if (code !== 'EBUSY' || attempt >= 9) throw new Error(`cgroup: remove ${dir}: ${code}`);
      await sleep(delay);
      delay = Math.min(delay * 2, 100);
    }
  }
}

/** `-1` and anything negative mean "no limit" in the spec. */
export function limitValue(n: number, unlimited = 'max'): string {
  return n < 0 ? unlimited : String(n);
}

/**
 * The cgroup path of a container inside each hierarchy: `linux.cgroupsPath` if set, else
 * `/hull-oci/<id>`. Relative paths are taken from the hierarchy root as well. systemd's
 * "slice:prefix:name" form needs the systemd driver, which hull doesn't have.
 */
export function containerCgroupPath(cgroupsPath: string | undefined, id: string): string {
  if (!cgroupsPath) return `/hull-oci/${id}`;
  if (/^[^/]*:[^/]*:[^/]*$/.test(cgroupsPath)) {
    throw new Error(`cgroupsPath "${cgroupsPath}" is in systemd form (slice:prefix:name): the systemd cgroup driver is not supported`);
  }
  const clean = path.posix.normalize('/' + cgroupsPath);
  if (clean === '/') throw new Error('cgroupsPath: must not be the root cgroup');
  return clean;
}
