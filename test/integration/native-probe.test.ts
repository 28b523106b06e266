// hull-probe on the host (no container): its output formats are what other tests parse, so
// check each one here (docs/internals/probe.md).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { once } from 'node:events';
import { probePath } from '../../src/native';

interface Attempt {
  name: string;
  ok: boolean;
  errno: number;
  errnoName: string | null;
  detail?: string;
}

function probe(args: string[], options: SpawnSyncOptions = {}) {
  const result = spawnSync(probePath, args, { encoding: 'utf8', timeout: 60_000, ...options });
  if (result.error) throw result.error;
  return { status: result.status, signal: result.signal, stdout: String(result.stdout), stderr: String(result.stderr) };
}

function probeJson<T = Record<string, unknown>>(args: string[], options: SpawnSyncOptions = {}): T {
  const { status, stdout, stderr } = probe(args, options);
  expect(status, stderr).toBe(0);
  return JSON.parse(stdout) as T;
}

function jsonLines<T>(stdout: string): T[] {
  return stdout.trim().split('\n').map((line) => JSON.parse(line) as T);
}

let work: string;

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'hull-probe-test-'));
});

afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

describe('hull-probe', () => {
  it('is a static executable', () => {
    const elf = fs.readFileSync(probePath);
    expect(elf.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    // A static binary has no PT_INTERP (3) program header: it runs in images without a libc.
    const phoff = Number(elf.readBigUInt64LE(0x20));
    const phentsize = elf.readUInt16LE(0x36);
    const phnum = elf.readUInt16LE(0x38);
    const types = Array.from({ length: phnum }, (_, i) => elf.readUInt32LE(phoff + i * phentsize));
    expect(types).not.toContain(3);
  });

  it('report: one JSON object describing this process', () => {
    const extra = fs.openSync('/dev/null', 'r');
    let report: any;
    try {
      report = probeJson(['report'], {
        cwd: work,
        env: { HULL_PROBE_A: '1', HULL_PROBE_B: '2' },
        stdio: ['ignore', 'pipe', 'pipe', extra],
      });
    } finally {
      fs.closeSync(extra);
    }
    expect(report.hostname).toBe(os.hostname());
    expect(typeof report.domainname).toBe('string');
    expect(report.pid).toBeGreaterThan(1);
    expect(report.ppid).toBe(process.pid);
    expect(report.uid).toBe(process.getuid!());
    expect(report.gid).toBe(process.getgid!());
    expect(report.euid).toBe(process.geteuid!());
    expect(report.groups).toEqual(expect.any(Array));
    expect(report.umask).toMatch(/^0[0-7]{3}$/);
    expect(report.cwd).toBe(fs.realpathSync(work));
    for (const set of ['bnd', 'eff', 'prm', 'inh', 'amb']) expect(report.caps[set]).toMatch(/^[0-9a-f]{16}$/);
    expect(typeof report.no_new_privs).toBe('boolean');
    expect([0, 1, 2]).toContain(report.seccomp);
    expect(report.rlimits.nofile.soft).toBeGreaterThan(0);
    expect(report.rlimits.nofile.hard).toBeGreaterThanOrEqual(report.rlimits.nofile.soft);
    expect(report.rlimits).toHaveProperty('nproc');
    expect(report.rlimits).toHaveProperty('core');

    const rootMount = report.mounts.find((m: any) => m.mountpoint === '/');
    expect(rootMount).toMatchObject({ fstype: expect.any(String), options: expect.any(String), superOptions: expect.any(String) });
    expect(report.mounts.find((m: any) => m.mountpoint === '/proc')?.fstype).toBe('proc');

    // Same namespaces as this Node process: no container here.
    expect(report.namespaces.mnt).toBe(fs.readlinkSync('/proc/self/ns/mnt'));
    expect(report.namespaces.pid).toMatch(/^pid:\[\d+\]$/);
    expect(report.cgroup.length).toBeGreaterThan(0);
    expect(report.env_count).toBe(2);

    const fds = report.fds.map((f: any) => f.fd);
    expect(fds).toEqual(expect.arrayContaining([0, 1, 2, 3]));
    expect(report.fds.find((f: any) => f.fd === 3).target).toBe('/dev/null');
    expect(report.tty).toEqual({ stdin: false, stdout: false, stderr: false });
    expect(typeof report.oom_score_adj).toBe('number');
    expect(report.dumpable).toBe(1);
  });

  it('id and fds: JSON objects', () => {
    const id = probeJson<any>(['id']);
    expect(id).toMatchObject({ uid: process.getuid!(), gid: process.getgid!(), groups: expect.any(Array) });
    const { fds } = probeJson<{ fds: { fd: number; target: string | null }[] }>(['fds']);
    expect(fds.map((f) => f.fd).slice(0, 3)).toEqual([0, 1, 2]);
  });

  it('hostname, cwd and env: plain lines', () => {
    expect(probe(['hostname']).stdout).toBe(`${os.hostname()}\n`);
    expect(probe(['cwd'], { cwd: work }).stdout).toBe(`${fs.realpathSync(work)}\n`);
    expect(probe(['env'], { env: { A: 'one', B: 'two words' } }).stdout).toBe('A=one\nB=two words\n');
  });

  it('write, cat and ls', () => {
    const file = path.join(work, 'written');
    expect(probe(['write', file, 'some text']).status).toBe(0);
    expect(fs.readFileSync(file, 'utf8')).toBe('some text');
    expect(probe(['cat', file]).stdout).toBe('some text');
    fs.mkdirSync(path.join(work, 'dir'));
    fs.writeFileSync(path.join(work, 'dir/b'), '');
    fs.writeFileSync(path.join(work, 'dir/a'), '');
    expect(probe(['ls', path.join(work, 'dir')]).stdout).toBe('a\nb\n');

    const missing = probe(['cat', path.join(work, 'missing')]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toBe(`hull-probe: open ${path.join(work, 'missing')}: ENOENT (No such file or directory)\n`);
  });

  it('exit N exits N; usage errors exit 2', () => {
    expect(probe(['exit', '3']).status).toBe(3);
    expect(probe(['exit', '0']).status).toBe(0);
    expect(probe(['no-such-command']).status).toBe(2);
    expect(probe([]).status).toBe(2);
  });

  it('kill-self dies by the signal', () => {
    const result = probe(['kill-self', 'KILL']);
    expect(result.signal).toBe('SIGKILL');
    expect(probe(['kill-self', 'SIGTERM']).signal).toBe('SIGTERM');
  });

  it('wait-signal reports the first signal it gets', async () => {
    const child = spawn(probePath, ['wait-signal', '60'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.setEncoding('utf8');
    const ready = new Promise<void>((resolve) =>
      child.stdout!.on('data', (d) => {
        out += d;
        if (out.includes('\n')) resolve();
      }),
    );
    const exited = once(child, 'exit');
    await ready;
    child.kill('SIGUSR1');
    const [code] = await exited;
    const lines = jsonLines<any>(out);
    expect(lines[0]).toEqual({ ready: true, pid: child.pid });
    expect(lines[1]).toEqual({ signal: os.constants.signals.SIGUSR1, name: 'SIGUSR1' });
    expect(code).toBe(0);
  });

  it('memhog, forkbomb and spin report JSON', () => {
    expect(probeJson(['memhog', '4', '0'])).toEqual({ allocated_mb: 4 });
    expect(probeJson(['forkbomb', '4'])).toEqual({ requested: 4, forked: 4, errno: 0, errnoName: null });
    const spin = probeJson<any>(['spin', '0.05']);
    expect(spin.wall_ms).toBeGreaterThanOrEqual(0);
    expect(spin.cpu_ms).toBeGreaterThanOrEqual(0);
  });

  it('try: one JSON line per operation, mount included', () => {
    const { status, stdout } = probe(['try', 'mount', 'sethostname', 'write-proc-self-exe']);
    expect(status).toBe(0);
    const attempts = jsonLines<Attempt>(stdout);
    expect(attempts.map((a) => a.name)).toEqual(['mount', 'sethostname', 'write-proc-self-exe']);
    for (const a of attempts) {
      expect(typeof a.ok).toBe('boolean');
      expect(a.errno).toBeGreaterThanOrEqual(0);
      expect(a.errnoName === null ? a.errno === 0 : /^E[A-Z0-9]+$/.test(a.errnoName)).toBe(true);
    }
    // A running binary can never be opened for writing.
    expect(attempts[2]).toMatchObject({ ok: false, errnoName: 'ETXTBSY' });
    // The mount attempt cleaned up after itself.
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain('hull-probe-');
  });

  it('try all covers every documented operation; unknown names exit 2', () => {
    const { status, stdout } = probe(['try', 'all']);
    expect(status).toBe(0);
    const names = jsonLines<Attempt>(stdout).map((a) => a.name);
    for (const name of [
      'mount', 'umount', 'unshare-user', 'unshare-mnt', 'setns', 'keyctl', 'bpf', 'perf_event_open', 'ptrace',
      'mknod-block', 'read-kcore', 'write-sysrq', 'setrlimit-raise', 'chroot', 'sethostname', 'reboot', 'swapon',
      'init_module', 'open_by_handle_at', 'userfaultfd', 'io_uring_setup', 'clone-newns', 'personality',
      'socket-alg', 'socket-vsock', 'write-proc-self-exe', 'cgroup-mount', 'proc-mount',
    ]) {
      expect(names).toContain(name);
    }
    const unknown = probe(['try', 'no-such-op']);
    expect(unknown.status).toBe(2);
    expect(JSON.parse(unknown.stdout)).toMatchObject({ name: 'no-such-op', ok: false, detail: 'unknown operation' });
    expect(fs.readdirSync('/tmp').filter((n) => n.startsWith('hull-probe-') && /^hull-probe-\d+-/.test(n))).toEqual([]);
  });
});
