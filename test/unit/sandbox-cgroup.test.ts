// The sandbox cgroup on a cgroup v2 host and a legacy v1 host, on fake trees in a temp dir (this
// machine is v1 hybrid; the integration tests cover that layout for real).
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SandboxCgroup, useCgroupLayout } from '../../src/sandbox/cgroup';

let root: string;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'hull-sbx-cgroup-'));
});
afterEach(() => {
  vi.restoreAllMocks();
  useCgroupLayout(undefined);
  fs.rmSync(root, { recursive: true, force: true });
});

const read = (...p: string[]) => fs.readFileSync(path.join(root, ...p), 'utf8');

describe('cgroup v2', () => {
  beforeEach(() => {
    fs.writeFileSync(path.join(root, 'cgroup.controllers'), 'cpuset cpu io memory hugetlb pids rdma misc\n');
    fs.writeFileSync(path.join(root, 'cgroup.subtree_control'), '');
    useCgroupLayout({ mode: 'unified', unifiedRoot: root, v1: [] });
  });

  it('enables controllers down to /hull-sandbox, writes the limits, reads usage, removes the group', async () => {
    const writes: string[] = [];
    const group = await SandboxCgroup.create('1-1-abcd', { memoryBytes: 32 << 20, pids: 64, cpuQuotaUs: 50_000 }, { oomGroup: true, trace: (_s, _op, t) => writes.push(t) });
    expect(group.version).toBe(2);
    expect(read('cgroup.subtree_control')).toBe('+memory +pids +cpu');
    const dir = path.join(root, 'hull-sandbox', '1-1-abcd');
    expect(group.joinDirs()).toEqual([dir]);
    expect(read('hull-sandbox/1-1-abcd/memory.max')).toBe(String(32 << 20));
    expect(read('hull-sandbox/1-1-abcd/memory.swap.max')).toBe('0');
    expect(read('hull-sandbox/1-1-abcd/memory.oom.group')).toBe('1');
    expect(read('hull-sandbox/1-1-abcd/pids.max')).toBe('64');
    expect(read('hull-sandbox/1-1-abcd/cpu.max')).toBe('50000 100000');
    expect(writes).toContain(`write(${JSON.stringify(path.join(dir, 'pids.max'))}, "64")`);

    fs.writeFileSync(path.join(dir, 'cpu.stat'), 'usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n');
    fs.writeFileSync(path.join(dir, 'memory.peak'), '1048576\n');
    fs.writeFileSync(path.join(dir, 'memory.events'), 'low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 1\n');
    expect(await group.usage()).toEqual({ cpuNs: 1_500_000, peakBytes: 1048576, oomKills: 1 });

    // A fake tree's directories hold files, so rmdir refuses them: empty it as the kernel would.
    for (const f of fs.readdirSync(dir)) fs.rmSync(path.join(dir, f));
    await group.remove();
    expect(fs.existsSync(dir)).toBe(false);
  });

  it('long-lived sandboxes delegate: controllers enabled for the per-exec sub-groups', async () => {
    const group = await SandboxCgroup.create('1-2-abcd', { pids: 64 }, { delegate: true });
    fs.writeFileSync(path.join(root, 'hull-sandbox', '1-2-abcd', 'cgroup.controllers'), 'cpu memory pids\n');
    const again = await SandboxCgroup.create('1-3-abcd', { pids: 64 }, { delegate: true });
    const exec = await group.child('e1', { oomGroup: true });
    expect(exec.joinDirs()).toEqual([path.join(root, 'hull-sandbox', '1-2-abcd', 'e1')]);
    expect(read('hull-sandbox/1-2-abcd/e1/memory.oom.group')).toBe('1');
    expect(again.joinDirs()).toEqual([path.join(root, 'hull-sandbox', '1-3-abcd')]);
  });
});

describe('cgroup v1 without a unified hierarchy', () => {
  beforeEach(() => {
    const v1 = ['memory', 'pids', 'cpu,cpuacct', 'freezer', 'devices'].map((name) => {
      fs.mkdirSync(path.join(root, name));
      return { name, mountPoint: path.join(root, name), controllers: name.split(',') };
    });
    useCgroupLayout({ mode: 'legacy', v1 });
  });

  it('joins memory, pids, cpu,cpuacct (CPU time) and freezer (kill-all), not the others', async () => {
    const group = await SandboxCgroup.create('1-4-abcd', { memoryBytes: 16 << 20, pids: 10 });
    expect(group.joinDirs().map((d) => path.relative(root, d)).sort()).toEqual([
      'cpu,cpuacct/hull-sandbox/1-4-abcd', 'freezer/hull-sandbox/1-4-abcd', 'memory/hull-sandbox/1-4-abcd', 'pids/hull-sandbox/1-4-abcd',
    ]);
    expect(read('memory/hull-sandbox/1-4-abcd/memory.limit_in_bytes')).toBe(String(16 << 20));
    expect(read('memory/hull-sandbox/1-4-abcd/memory.memsw.limit_in_bytes')).toBe(String(16 << 20));
    expect(read('pids/hull-sandbox/1-4-abcd/pids.max')).toBe('10');
    fs.writeFileSync(path.join(root, 'cpu,cpuacct/hull-sandbox/1-4-abcd/cpuacct.usage'), '2500000\n');
    fs.writeFileSync(path.join(root, 'memory/hull-sandbox/1-4-abcd/memory.max_usage_in_bytes'), '4096\n');
    fs.writeFileSync(path.join(root, 'memory/hull-sandbox/1-4-abcd/memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n');
    expect(await group.usage()).toEqual({ cpuNs: 2_500_000, peakBytes: 4096, oomKills: 2 });
  });
});

describe('a pooled group (cgroup v1 hybrid)', () => {
  beforeEach(() => {
    const v1 = ['memory', 'pids', 'cpu,cpuacct', 'freezer'].map((name) => {
      fs.mkdirSync(path.join(root, name));
      return { name, mountPoint: path.join(root, name), controllers: name.split(',') };
    });
    fs.mkdirSync(path.join(root, 'unified'));
    useCgroupLayout({ mode: 'hybrid', unifiedRoot: path.join(root, 'unified'), v1 });
  });

  /** A fake group's kernel files, made with its directories (as the kernel's are), before the group opens them. */
  function kernelFiles(name: string, files: Record<string, string>): void {
    const mkdir = fs.promises.mkdir;
    vi.spyOn(fs.promises, 'mkdir').mockImplementation(async (dir, options) => {
      const made = await mkdir(dir, options);
      for (const [file, text] of Object.entries(files)) {
        const full = path.join(root, file.replace('<g>', `hull-sandbox/${name}`));
        if (path.dirname(full) === dir) fs.writeFileSync(full, text);
      }
      return made;
    });
  }

  it('reads its counters through held fds and counts from its reset (its monitor joins it by itself)', async () => {
    kernelFiles('1-p1', {
      'memory/<g>/cgroup.procs': '',
      'memory/<g>/memory.usage_in_bytes': '8192\n',
      'memory/<g>/memory.max_usage_in_bytes': '1048576\n',
      'memory/<g>/memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\noom_kill 3\n',
      'pids/<g>/cgroup.procs': '',
      'pids/<g>/pids.current': '1\n',
      'unified/<g>/cgroup.procs': '',
      'unified/<g>/cpu.stat': 'usage_usec 2000\nuser_usec 1500\nsystem_usec 500\n',
    });
    const group = await SandboxCgroup.createReusable('1-p1');
    expect(group.joinDirs().map((d) => path.relative(root, d))).toEqual(['memory/hull-sandbox/1-p1', 'pids/hull-sandbox/1-p1', 'unified/hull-sandbox/1-p1']);
    fs.writeFileSync(path.join(root, 'pids/hull-sandbox/1-p1/pids.current'), '1\n');

    expect(await group.empty()).toBe(false); // pids.current, not cgroup.procs (v1 caches that list per open file)
    fs.writeFileSync(path.join(root, 'pids/hull-sandbox/1-p1/pids.current'), '0\n');
    expect(await group.empty()).toBe(true);

    await group.reset();
    // The peak was reset through its held fd (a fake file keeps the rest of the old text).
    expect(read('memory/hull-sandbox/1-p1/memory.max_usage_in_bytes').startsWith('0')).toBe(true);
    // Later runs count from the reset: CPU time and OOM kills the earlier runs left are subtracted.
    fs.writeFileSync(path.join(root, 'unified/hull-sandbox/1-p1/cpu.stat'), 'usage_usec 5000\nuser_usec 4000\nsystem_usec 1000\n');
    fs.writeFileSync(path.join(root, 'memory/hull-sandbox/1-p1/memory.max_usage_in_bytes'), '65536\n');
    fs.writeFileSync(path.join(root, 'memory/hull-sandbox/1-p1/memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\noom_kill 4\n');
    expect(await group.usage()).toEqual({ cpuNs: 3_000_000, peakBytes: 65536, oomKills: 1 });
    expect(await group.oomKills()).toBe(1);

    for (const dir of group.dirs) for (const f of fs.readdirSync(dir)) fs.rmSync(path.join(dir, f));
    await group.remove(); // also closes the held files
    expect(group.dirs.some((d) => fs.existsSync(d))).toBe(false);
  });
});
