// Issue 6, resource limits through bin/hull: the flags reach the cgroup files (v1 on the development
// machines, v2 where that is all there is), a fork bomb is contained, a CPU quota throttles a busy loop
// (measured with the cgroup's own counters, not wall time), `update` changes a running container, and
// rlimits, the OOM score, sysctls and devices reach the process. Bad values exit 125 and leave nothing.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupHullRoot, loadTestImage, runHull } from '../setup/hull-cli';
import { tempDir } from '../setup/rootfs';

const IMAGE = 'localhost/hull-test:latest';
let root: string;
let tmp: string;

const hull = (args: string[]) => runHull(args, { HULL_ROOT: root });

const unique = (prefix: string) => `${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The host directory of a container's cgroup for a controller (v1 hierarchy, or the v2 tree). */
function cgroupDir(id: string, controller: string): string {
  const lines = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
  for (const line of lines) {
    const [pre, post] = line.split(' - ');
    if (!post) continue;
    const [fstype, , superOpts] = post.split(' ');
    const mountPoint = pre.split(' ')[4];
    if (fstype === 'cgroup' && superOpts.split(',').includes(controller)) return path.join(mountPoint, 'hull', id);
  }
  const v2 = lines.find((l) => l.split(' - ')[1]?.startsWith('cgroup2 ') && l.split(' ')[4] === '/sys/fs/cgroup');
  if (v2) return path.join('/sys/fs/cgroup/hull', id);
  throw new Error(`no cgroup hierarchy with ${controller}`);
}
const v2 = () => !fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' - ')[1]?.startsWith('cgroup '));
const read = (dir: string, file: string) => fs.readFileSync(path.join(dir, file), 'utf8').trim();

/** Poll `fn` until it returns a value (a deadline, not a timing assertion). */
async function until<T>(fn: () => T | undefined, what: string, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

async function runDetached(flags: string[], command: string[]): Promise<string> {
  const r = await hull(['run', '-d', '--name', unique('lim'), ...flags, IMAGE, ...command]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r.stdout.trim();
}

beforeAll(async () => {
  tmp = tempDir('hull-limits-');
  root = path.join(tmp, 'root');
  await loadTestImage(root);
});

afterAll(async () => {
  if (root) await cleanupHullRoot(hull, root, tmp);
});

describe('limit flags on run', () => {
  it('bad values exit 125 before anything is created', async () => {
    const bad = [
      ['--cpus', '0'], ['--cpus', 'abc'], ['--cpus', '999'], ['--cpu-shares', '1'], ['--cpuset-cpus', '0-'], ['--cpuset-cpus', '99'],
      ['--pids-limit', 'many'], ['--pids-limit', '-5'], ['-m', '1m'], ['--memory-swap', '64m'], ['-m', '64m', '--memory-swap', '32m'],
      ['-m', '32m', '--memory-reservation', '64m'], ['--ulimit', 'nofile'], ['--ulimit', 'bogus=1'], ['--ulimit', 'nofile=10:5'],
      ['--ulimit', 'nofile=1048576:1048576'], ['--oom-score-adj', '5000'], ['--sysctl', 'kernel.panic=1'], ['--sysctl', 'vm.swappiness=0'],
      ['--device', '/dev/no-such-device'], ['--device', '/etc/passwd'], ['--device', '/dev/null:/dev/x:rwz'],
    ];
    const results = await Promise.all(bad.map((flags) => hull(['run', '--rm', ...flags, IMAGE, 'true'])));
    bad.forEach((flags, i) => {
      expect({ flags, code: results[i].code }).toEqual({ flags, code: 125 });
      expect(results[i].stderr).toMatch(/\S/);
    });
    expect((await hull(['ps', '-a', '-q'])).stdout).toBe('');
    const dir = path.join(root, 'containers');
    expect(fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => !n.startsWith('.')) : []).toEqual([]);
    const create = await hull(['create', '--pids-limit', 'x', IMAGE, 'true']);
    expect(create.code).toBe(125);
    expect((await hull(['ps', '-a', '-q'])).stdout).toBe('');
  });

  it('--pids-limit 64 contains a fork bomb and the host keeps forking', async () => {
    const r = await hull(['run', '--rm', '--pids-limit', '64', IMAGE, 'hull-probe', 'forkbomb', '200']);
    expect(r.code).toBe(0);
    const bomb = JSON.parse(r.stdout.trim());
    expect(bomb.requested).toBe(200);
    expect(bomb.forked).toBeLessThan(64);
    expect(bomb.forked).toBeGreaterThan(0);
    expect(bomb.errnoName).toBe('EAGAIN');
    expect(spawnSync('true').status).toBe(0);
    // -1 is unlimited: the same bomb forks all it asked for.
    const free = JSON.parse((await hull(['run', '--rm', '--pids-limit', '-1', IMAGE, 'hull-probe', 'forkbomb', '100'])).stdout.trim());
    expect(free.forked).toBe(100);
  });

  it('-m with --memory-swap: the limits are in the cgroup and a hog is OOM-killed (137, OOMKilled)', async () => {
    const name = unique('oom');
    const r = await hull(['run', '--name', name, '-m', '32m', '--memory-swap', '32m', '--memory-reservation', '16m', IMAGE, 'hull-probe', 'memhog', '256']);
    expect(r.code).toBe(137);
    expect((await hull(['inspect', '-f', '{{.State.OOMKilled}} {{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.MemoryReservation}}', name])).stdout)
      .toBe(`true ${32 << 20} ${32 << 20} ${16 << 20}\n`);
    await hull(['rm', name]);
    const id = await runDetached(['-m', '32m', '--memory-swap', '64m', '--memory-reservation', '16m'], ['hull-probe', 'sleep', '60']);
    const mem = cgroupDir(id, 'memory');
    if (v2()) {
      expect(read(mem, 'memory.max')).toBe(String(32 << 20));
    } else {
      expect(read(mem, 'memory.limit_in_bytes')).toBe(String(32 << 20));
      expect(read(mem, 'memory.memsw.limit_in_bytes')).toBe(String(64 << 20));
      expect(read(mem, 'memory.soft_limit_in_bytes')).toBe(String(16 << 20));
    }
    await hull(['rm', '-f', id]);
  });

  it('--cpus 0.5 sets quota/period and throttles a busy loop to about half a core (cgroup counters)', async () => {
    const id = await runDetached(['--cpus', '0.5', '--cpu-shares', '512', '--cpuset-cpus', '0'], ['hull-probe', 'spin', '3']);
    try {
      const cpu = cgroupDir(id, 'cpu');
      if (v2()) {
        expect(read(cpu, 'cpu.max')).toBe('50000 100000');
        return;
      }
      expect(read(cpu, 'cpu.cfs_quota_us')).toBe('50000');
      expect(read(cpu, 'cpu.cfs_period_us')).toBe('100000');
      expect(read(cpu, 'cpu.shares')).toBe('512');
      expect(read(cgroupDir(id, 'cpuset'), 'cpuset.cpus')).toBe('0');
      const acct = cgroupDir(id, 'cpuacct');
      const stat = (): Record<string, number> => Object.fromEntries(read(cpu, 'cpu.stat').split('\n').map((l) => l.split(' ')).map(([k, v]) => [k, Number(v)]));
      // Wait for 20 enforcement periods (2 s of running), read usage and periods together.
      const s = await until(() => {
        const st = stat();
        return st.nr_periods >= 20 ? { nr_periods: st.nr_periods, nr_throttled: st.nr_throttled, usage: Number(read(acct, 'cpuacct.usage')) } : undefined;
      }, '20 CFS periods');
      expect(s.nr_throttled).toBeGreaterThan(0);
      // CPU time per enforcement period: a quota of 50 ms out of 100 ms. Wide bounds (the period the
      // read lands in is partial, and the loop starts mid-period).
      const share = s.usage / (s.nr_periods * 100_000 * 1000);
      expect(share).toBeGreaterThan(0.35);
      expect(share).toBeLessThan(0.65);
    } finally {
      await hull(['rm', '-f', id]);
    }
  });

  it('update changes the memory, cpu and pids limits of a running container', async () => {
    const id = await runDetached(['-m', '64m', '--cpus', '0.5', '--pids-limit', '100'], ['hull-probe', 'sleep', '60']);
    try {
      const r = await hull(['update', '--memory', '48m', '--memory-swap', '96m', '--cpus', '1.5', '--cpu-shares', '256', '--pids-limit', '50', id]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      if (v2()) {
        expect(read(cgroupDir(id, 'memory'), 'memory.max')).toBe(String(48 << 20));
        expect(read(cgroupDir(id, 'cpu'), 'cpu.max')).toBe('150000 100000');
      } else {
        expect(read(cgroupDir(id, 'memory'), 'memory.limit_in_bytes')).toBe(String(48 << 20));
        expect(read(cgroupDir(id, 'memory'), 'memory.memsw.limit_in_bytes')).toBe(String(96 << 20));
        expect(read(cgroupDir(id, 'cpu'), 'cpu.cfs_quota_us')).toBe('150000');
        expect(read(cgroupDir(id, 'cpu'), 'cpu.shares')).toBe('256');
      }
      expect(read(cgroupDir(id, 'pids'), 'pids.max')).toBe('50');
      await hull(['update', '--pids-limit', '-1', id]);
      expect(read(cgroupDir(id, 'pids'), 'pids.max')).toBe('max');
      expect((await hull(['inspect', '-f', '{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.NanoCpus}} {{.HostConfig.CpuShares}} {{.HostConfig.PidsLimit}}', id])).stdout)
        .toBe(`${48 << 20} ${96 << 20} 1500000000 256 -1\n`);
      const bad = await hull(['update', '--cpus', 'lots', id]);
      expect(bad.code).toBe(125);
      expect(read(cgroupDir(id, 'pids'), 'pids.max')).toBe('max');
    } finally {
      await hull(['rm', '-f', id]);
    }
  });

  it('--ulimit, --oom-score-adj, --sysctl and --device reach the container', async () => {
    const r = await hull(['run', '--rm', '--ulimit', 'nofile=1024:1024', '--ulimit', 'core=0:0', '--ulimit', 'nproc=500:1000', '--oom-score-adj', '500',
      IMAGE, 'hull-probe', 'report']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.rlimits.nofile).toEqual({ soft: 1024, hard: 1024 });
    expect(report.rlimits.core).toEqual({ soft: 0, hard: 0 });
    expect(report.rlimits.nproc).toEqual({ soft: 500, hard: 1000 });
    expect(report.oom_score_adj).toBe(500);
    const sys = await hull(['run', '--rm', '--sysctl', 'net.ipv4.ip_forward=1', '--sysctl', 'kernel.shmmni=1000', IMAGE,
      'sh', '-c', 'cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni']);
    expect(sys.stdout).toBe('1\n1000\n');
    const dev = await hull(['run', '--rm', '--device', '/dev/null:/dev/mynull:rw', IMAGE, 'sh', '-c', 'echo x > /dev/mynull && ls -l /dev/mynull']);
    expect(dev.stderr).toBe('');
    expect(dev.stdout).toMatch(/^crw.* 1,\s+3 .*\/dev\/mynull\n$/);
    // A device outside docker's defaults (loop-control, 10:237): refused without --device, usable with it.
    if (fs.existsSync('/dev/loop-control')) {
      const without = await hull(['run', '--rm', IMAGE, 'sh', '-c', 'mknod /dev/lc c 10 237 && exec 3</dev/lc && echo opened']);
      expect(without.stdout).toBe('');
      expect(without.stderr).toMatch(/Operation not permitted/);
      const withDev = await hull(['run', '--rm', '--device', '/dev/loop-control', IMAGE, 'sh', '-c', 'exec 3</dev/loop-control && echo opened']);
      expect(withDev.stdout).toBe('opened\n');
    }
  });
});
