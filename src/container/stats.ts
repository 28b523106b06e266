// `hull stats`: one reading of a container's counters and docker's way of showing two of them.
// The cgroup driver gives CPU, memory and pids; this adds what docker also shows: the page cache
// left out of memory usage, block I/O (blkio / io.stat) and network bytes of the container's netns.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { CgroupRecord, CgroupStats } from '../cgroup';

/** One reading. Counters are cumulative; CPU % needs two readings. */
export interface StatsSample {
  /** Container CPU time, ns. */
  cpuNs: number;
  /** Whole-machine CPU time (all CPUs, /proc/stat), ns. */
  systemNs: number;
  onlineCpus: number;
  memUsage: number;
  memLimit: number;
  netRx: number;
  netTx: number;
  blkRead: number;
  blkWrite: number;
  pids: number;
}

export const ZERO_SAMPLE: StatsSample = {
  cpuNs: 0, systemNs: 0, onlineCpus: 0, memUsage: 0, memLimit: 0, netRx: 0, netTx: 0, blkRead: 0, blkWrite: 0, pids: 0,
};

/** Go's `%.<prec>g`: `prec` significant digits, trailing zeros dropped, exponent as e+NN. */
export function formatG(value: number, prec: number): string {
  if (value === 0) return '0';
  let s = value.toPrecision(prec);
  // toPrecision rounds a tie up, Go to even (7.8125 → "7.812"): one ulp down turns such a tie down.
  const digits = value.toPrecision(Math.min(100, prec + 30)).split('e')[0].replace(/[-.]/g, '').replace(/^0+/, '');
  if (/^50*$/.test(digits.slice(prec)) && Number(digits[prec - 1]) % 2 === 0) s = (value * (1 - Number.EPSILON)).toPrecision(prec);
  const [mantissa, exp] = s.split('e');
  const trimmed = mantissa.includes('.') ? mantissa.replace(/\.?0+$/, '') : mantissa;
  if (exp === undefined) return trimmed;
  const n = Number(exp);
  return `${trimmed}e${n < 0 ? '-' : '+'}${String(Math.abs(n)).padStart(2, '0')}`;
}

function customSize(size: number, base: number, units: string[], prec: number): string {
  let i = 0;
  while (size >= base && i < units.length - 1) {
    size /= base;
    i++;
  }
  return `${formatG(size, prec)}${units[i]}`;
}

/** docker's units.BytesSize ("1.5MiB", "7.629GiB"): MEM USAGE / LIMIT. */
export function bytesSize(n: number): string {
  return customSize(n, 1024, ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB', 'ZiB', 'YiB'], 4);
}

/** docker's units.HumanSizeWithPrecision(n, 3) ("1.23kB", "456B"): NET I/O and BLOCK I/O. */
export function humanSize(n: number): string {
  return customSize(n, 1000, ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'], 3);
}

/**
 * /proc/PID/net/dev → bytes received and sent. Loopback is left out: docker counts the container's
 * network endpoints, and lo is none of them.
 */
export function parseNetDev(text: string): { rx: number; tx: number } {
  let rx = 0;
  let tx = 0;
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    if (!name || name === 'lo' || name.includes('|')) continue;
    const f = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    if (f.length < 9 || f.some((n) => Number.isNaN(n))) continue;
    rx += f[0];
    tx += f[8];
  }
  return { rx, tx };
}

/** v1 blkio.*io_service_bytes* ("8:0 Read 4096" lines, a "Total" line) → read and written bytes. */
export function parseBlkioServiceBytes(text: string): { read: number; write: number; devices: number } {
  let read = 0;
  let write = 0;
  const devices = new Set<string>();
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length !== 3 || !/^\d+:\d+$/.test(f[0])) continue;
    devices.add(f[0]);
    const op = f[1].toLowerCase();
    if (op === 'read') read += Number(f[2]);
    else if (op === 'write') write += Number(f[2]);
  }
  return { read, write, devices: devices.size };
}

/** v2 io.stat ("8:0 rbytes=… wbytes=… rios=…") → read and written bytes over all devices. */
export function parseIoStat(text: string): { read: number; write: number } {
  let read = 0;
  let write = 0;
  for (const line of text.split('\n')) {
    for (const kv of line.trim().split(/\s+/).slice(1)) {
      const [key, value] = kv.split('=');
      if (key === 'rbytes') read += Number(value);
      else if (key === 'wbytes') write += Number(value);
    }
  }
  return { read, write };
}

/** A `key value` per line file (memory.stat) → map. */
export function parseFlatKeyed(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [key, value] = line.trim().split(/\s+/);
    if (key && value !== undefined) out.set(key, Number(value));
  }
  return out;
}

/** /proc/stat's "cpu" line → whole-machine CPU time in ns (docker: the first 7 fields, at USER_HZ 100). */
export function systemCpuNs(procStat: string): number {
  const line = procStat.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) return 0;
  const ticks = line.trim().split(/\s+/).slice(1, 8).reduce((sum, f) => sum + Number(f), 0);
  return (ticks * 1e9) / 100;
}

/** Reads a file or gives undefined (a missing controller file, a process that has gone). */
export type ReadFile = (file: string) => string | undefined;

const readOrUndefined: ReadFile = (file) => {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
};

function dirFor(cg: CgroupRecord, controller: string): string | undefined {
  if (cg.version === 2) return cg.dirs[''];
  return Object.entries(cg.dirs).find(([name]) => name.split(',').includes(controller))?.[1];
}

/** Block I/O of the cgroup: v1 tries the BFQ, CFQ then throttle counters (runc's order); v2 io.stat. */
export function blockIo(cg: CgroupRecord, read: ReadFile = readOrUndefined): { read: number; write: number } {
  const dir = dirFor(cg, cg.version === 2 ? '' : 'blkio');
  if (!dir) return { read: 0, write: 0 };
  if (cg.version === 2) return parseIoStat(read(path.join(dir, 'io.stat')) ?? '');
  const files = [
    'blkio.bfq.io_service_bytes_recursive', 'blkio.io_service_bytes_recursive',
    'blkio.throttle.io_service_bytes_recursive', 'blkio.throttle.io_service_bytes',
  ];
  for (const f of files) {
    const text = read(path.join(dir, f));
    if (text === undefined) continue;
    const r = parseBlkioServiceBytes(text);
    if (r.devices) return { read: r.read, write: r.write };
  }
  return { read: 0, write: 0 };
}

/**
 * Memory as docker shows it: usage without the inactive page cache (v1 total_inactive_file, v2
 * inactive_file), and with no limit set the machine's memory instead of the kernel's "unlimited".
 */
export function memoryFigures(
  stats: CgroupStats, cg: CgroupRecord | undefined, machineMemory: number, read: ReadFile = readOrUndefined,
): { usage: number; limit: number } {
  let usage = stats.memory?.usage ?? 0;
  const dir = cg && dirFor(cg, 'memory');
  const memStat = dir ? read(path.join(dir, 'memory.stat')) : undefined;
  if (memStat !== undefined) {
    const m = parseFlatKeyed(memStat);
    const inactive = cg!.version === 2 ? m.get('inactive_file') : m.get('total_inactive_file');
    if (inactive !== undefined && inactive < usage) usage -= inactive;
  }
  const raw = stats.memory?.limit;
  const limit = raw === undefined || (machineMemory > 0 && raw > machineMemory) ? machineMemory : raw;
  return { usage, limit };
}

/** True if `pid` is in this process's network namespace (`--network host`: docker shows no traffic). */
function inOurNetns(pid: number): boolean {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/net`) === fs.readlinkSync('/proc/self/ns/net');
  } catch {
    return false;
  }
}

/** One reading of a running container (`pid` its init, `cg` its cgroup). */
export function collectSample(
  stats: CgroupStats, cg: CgroupRecord | undefined, pid: number,
  io: { read?: ReadFile; machineMemory?: number; onlineCpus?: number; hostNetns?: boolean } = {},
): StatsSample {
  const read = io.read ?? readOrUndefined;
  const mem = memoryFigures(stats, cg, io.machineMemory ?? os.totalmem(), read);
  const hostNetns = io.hostNetns ?? (pid > 0 && inOurNetns(pid));
  const net = pid > 0 && !hostNetns ? parseNetDev(read(`/proc/${pid}/net/dev`) ?? '') : { rx: 0, tx: 0 };
  const blk = cg ? blockIo(cg, read) : { read: 0, write: 0 };
  return {
    cpuNs: stats.cpu?.usageNanoseconds ?? 0,
    systemNs: systemCpuNs(read('/proc/stat') ?? ''),
    onlineCpus: io.onlineCpus ?? os.availableParallelism(),
    memUsage: mem.usage,
    memLimit: mem.limit,
    netRx: net.rx,
    netTx: net.tx,
    blkRead: blk.read,
    blkWrite: blk.write,
    pids: stats.pids?.current ?? 0,
  };
}

/** docker's CPU %: the container's share of the machine's CPU time between readings, × CPUs. */
export function cpuPercent(prev: StatsSample | undefined, cur: StatsSample): number {
  if (!prev) return 0;
  const cpuDelta = cur.cpuNs - prev.cpuNs;
  const systemDelta = cur.systemNs - prev.systemNs;
  if (cpuDelta <= 0 || systemDelta <= 0) return 0;
  return (cpuDelta / systemDelta) * cur.onlineCpus * 100;
}

/** The columns after CONTAINER ID and NAME, formatted as docker's default table does. */
export function statsColumns(prev: StatsSample | undefined, cur: StatsSample): string[] {
  const memPct = cur.memLimit > 0 ? (cur.memUsage / cur.memLimit) * 100 : 0;
  return [
    `${cpuPercent(prev, cur).toFixed(2)}%`,
    `${bytesSize(cur.memUsage)} / ${bytesSize(cur.memLimit)}`,
    `${memPct.toFixed(2)}%`,
    `${humanSize(cur.netRx)} / ${humanSize(cur.netTx)}`,
    `${humanSize(cur.blkRead)} / ${humanSize(cur.blkWrite)}`,
    String(cur.pids),
  ];
}
