// Compiles native/seccomp.cc into a standalone harness (native/test/seccomp-harness.cc), loads filters
// in a forked child and checks what raw syscalls return. Needs g++; runs as root like the other
// integration tests (the harness sets no_new_privs, so root is not strictly needed).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { defaultSeccompProfile, type LinuxSeccomp } from '../../src/runtime/seccomp-default';

const ROOT = resolve(__dirname, '../..');
const SIGSYS = 31;
const CLONE_NEWUTS = 0x04000000;
const SIGCHLD = 17;

let workDir: string;
let harness: string;

beforeAll(() => {
  workDir = mkdtempSync(join(tmpdir(), 'hull-seccomp-'));
  harness = join(workDir, 'harness');
  execFileSync('g++', ['-std=c++17', '-O1', '-I', 'native', 'native/test/seccomp-harness.cc', 'native/seccomp.cc',
    '-o', harness], { cwd: ROOT, stdio: 'pipe' });
});

afterAll(() => {
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

interface CallResult { name: string; ok: boolean; value: number; errno: string }
interface Run { compiled: number; compileError?: string; calls: (CallResult | undefined)[]; exit?: number; signal?: number }

/** Feed the harness a filter description and calls; `exit_group` is allowed unless `bare`. */
function run(lines: string[], { bare = false } = {}): Run {
  const input = [...(bare ? [] : ['rule allow 0 exit_group']), ...lines].join('\n') + '\n';
  const out = spawnSync(harness, { input, encoding: 'utf8' });
  if (out.status !== 0 && !out.stdout.startsWith('compile-error')) throw new Error(`harness failed: ${out.stderr}`);
  const result: Run = { compiled: 0, calls: [] };
  for (const line of out.stdout.trim().split('\n')) {
    const words = line.split(' ');
    if (words[0] === 'compiled') result.compiled = Number(words[1]);
    else if (words[0] === 'compile-error') result.compileError = words.slice(1).join(' ');
    else if (words[0] === 'exit') result.exit = Number(words[1]);
    else if (words[0] === 'signal') result.signal = Number(words[1]);
    else {
      const [index, name, status, value] = words;
      result.calls[Number(index)] = {
        name, ok: status === 'ok', value: status === 'ok' ? Number(value) : -1, errno: status === 'err' ? value : '',
      };
    }
  }
  return result;
}

/** `ok` or the errno name of each call, in order (undefined for calls never reached). */
function outcomes(r: Run): (string | undefined)[] {
  return r.calls.map((c) => (c ? (c.ok ? 'ok' : c.errno) : undefined));
}

const OCI_ACTIONS: Record<string, string> = {
  SCMP_ACT_ALLOW: 'allow', SCMP_ACT_ERRNO: 'errno', SCMP_ACT_KILL: 'kill-thread',
  SCMP_ACT_KILL_PROCESS: 'kill-process', SCMP_ACT_TRAP: 'trap', SCMP_ACT_LOG: 'log',
};
const OCI_OPS: Record<string, string> = {
  SCMP_CMP_NE: 'ne', SCMP_CMP_LT: 'lt', SCMP_CMP_LE: 'le', SCMP_CMP_EQ: 'eq', SCMP_CMP_GE: 'ge',
  SCMP_CMP_GT: 'gt', SCMP_CMP_MASKED_EQ: 'masked-eq',
};

/** An OCI profile as harness lines (the same fields the plan's seccomp ops carry). */
function profileLines(p: LinuxSeccomp): string[] {
  const lines = [`default ${OCI_ACTIONS[p.defaultAction]} ${p.defaultErrnoRet ?? 1}`];
  if (p.architectures?.length) lines.push(`arches ${p.architectures.join(',')}`);
  for (const rule of p.syscalls ?? []) {
    const args = (rule.args ?? []).map((a) => `${a.index}:${OCI_OPS[a.op]}:${a.value}:${a.valueTwo ?? 0}`);
    lines.push(`rule ${OCI_ACTIONS[rule.action]} ${rule.errnoRet ?? 1} ${rule.names.join(',')} ${args.join(',')}`.trim());
  }
  return lines;
}

describe('seccomp filters compiled by hull', () => {
  it('denies everything off the allowlist with the default errno', () => {
    const r = run(['default errno 1', 'rule allow 0 getpid', 'call getpid', 'call getppid', 'call getuid']);
    expect(outcomes(r)).toEqual(['ok', 'EPERM', 'EPERM']);
    expect(r.calls[0]!.value).toBeGreaterThan(0);
    expect(r.exit).toBe(0);

    const eacces = run(['default errno 13', 'rule allow 0 getpid', 'call getpid', 'call getppid']);
    expect(outcomes(eacces)).toEqual(['ok', 'EACCES']);
  });

  it('fails a named syscall with its own errno under a default allow', () => {
    const dir = join(workDir, 'not-created');
    const r = run(['default allow', 'rule errno 28 mkdir,mkdirat', `call mkdir str:${dir} 0755`, 'call getpid']);
    expect(outcomes(r)).toEqual(['ENOSPC', 'ok']);
    expect(existsSync(dir)).toBe(false);
  });

  it('allows personality only for the listed argument values', () => {
    const r = run([
      'default errno 1',
      'rule allow 0 personality 0:eq:0xffffffff:0',
      'rule allow 0 personality 0:eq:0:0',
      'call personality 0xffffffff', 'call personality 8', 'call personality 0', 'call personality 0x20000',
    ]);
    expect(outcomes(r)).toEqual(['ok', 'EPERM', 'ok', 'EPERM']);
  });

  it('blocks clone and unshare with CLONE_NEW* flags via masked-eq, like Docker', () => {
    const mask = '0x7E020000';
    const r = run([
      'default errno 1',
      `rule allow 0 clone 0:masked-eq:${mask}:0`,
      `rule allow 0 unshare 0:masked-eq:${mask}:0`,
      `call clone ${SIGCHLD}`,
      `call clone ${CLONE_NEWUTS | SIGCHLD}`,
      'call unshare 0x400', // CLONE_FILES: no namespace
      `call unshare ${CLONE_NEWUTS}`,
      'call unshare 0x10000000', // CLONE_NEWUSER
    ]);
    expect(outcomes(r)).toEqual(['ok', 'EPERM', 'ok', 'EPERM', 'EPERM']);
    expect(r.calls[0]!.value).toBeGreaterThan(0); // the parent's side of a real clone
  });

  it('kills the whole process with SIGSYS on kill-process, kill-thread and trap', () => {
    for (const action of ['kill-process', 'kill-thread', 'trap']) {
      const r = run(['default allow', `rule ${action} 0 getppid`, 'call getpid', 'call getppid', 'call getuid']);
      expect(outcomes(r), action).toEqual(['ok']); // getppid never returned, getuid never ran
      expect(r.signal, action).toBe(SIGSYS);
    }
  });

  it('lets log through and fails trace with ENOSYS when no tracer is attached', () => {
    const r = run(['default errno 1', 'rule log 0 getpid', 'rule trace 7 getppid', 'call getpid', 'call getppid']);
    expect(outcomes(r)).toEqual(['ok', 'ENOSYS']);
  });

  it('compares 64-bit arguments on both words', () => {
    // getpid ignores its arguments but the filter sees them: a clean probe for comparisons.
    const values = [0n, 5n, 0xffffffffn, 0x100000000n, 0x100000005n, 0x1ffffffffn, 0x200000000n, 0xffffffffffffffffn];
    const cases: [string, bigint, (v: bigint, c: bigint) => boolean][] = [
      ['eq', 0x100000005n, (v, c) => v === c],
      ['ne', 0x100000005n, (v, c) => v !== c],
      ['gt', 0x100000000n, (v, c) => v > c],
      ['ge', 0x100000005n, (v, c) => v >= c],
      ['lt', 0x100000000n, (v, c) => v < c],
      ['le', 0xffffffffn, (v, c) => v <= c],
      ['gt', 5n, (v, c) => v > c],
      ['lt', 0x1ffffffffn, (v, c) => v < c],
    ];
    for (const [op, constant, holds] of cases) {
      const r = run([
        'default errno 1',
        `rule allow 0 getpid 0:${op}:0x${constant.toString(16)}:0`,
        ...values.map((v) => `call getpid 0x${v.toString(16)}`),
      ]);
      const expected = values.map((v) => (holds(v, constant) ? 'ok' : 'EPERM'));
      expect(outcomes(r), `${op} 0x${constant.toString(16)}`).toEqual(expected);
    }

    // masked-eq on both words: (arg & 0xff000000_000000ff) == 0x12000000_00000034
    const masked = run([
      'default errno 1',
      'rule allow 0 getpid 0:masked-eq:0xff000000000000ff:0x1200000000000034',
      'call getpid 0x1200000000000034', 'call getpid 0x12abcdef00000034', 'call getpid 0x0000000000000034',
      'call getpid 0x1200000000000035',
    ]);
    expect(outcomes(masked)).toEqual(['ok', 'ok', 'EPERM', 'EPERM']);
  });

  it('ANDs the conditions of one rule and ORs rules in order (first match decides)', () => {
    const r = run([
      'default errno 1',
      'rule allow 0 getpid 0:eq:1:0,1:eq:2:0',
      'rule errno 13 getpid 0:eq:1:0',
      'rule allow 0 getpid',
      'call getpid 1 2', 'call getpid 1 3', 'call getpid 7 7',
    ]);
    expect(outcomes(r)).toEqual(['ok', 'EACCES', 'ok']);
  });

  it('skips unknown syscall names and rejects malformed rules', () => {
    const r = run(['default errno 1', 'rule allow 0 no_such_syscall,getpid', 'call getpid']);
    expect(outcomes(r)).toEqual(['ok']);

    expect(run(['default errno 1', 'rule explode 0 getpid']).compileError).toMatch(/unknown action "explode"/);
    expect(run(['default errno 1', 'rule allow 0 getpid 6:eq:1:0']).compileError).toMatch(/argument index 6/);
    expect(run(['default errno 1', 'rule allow 0 getpid 0:like:1:0']).compileError).toMatch(/unknown comparison/);
    expect(run(['default errno 1', 'arches SCMP_ARCH_Z80']).compileError).toMatch(/unknown architecture/);
    // foreign architectures are accepted and cannot occur on this kernel
    expect(run(['default errno 1', 'arches SCMP_ARCH_X86_64,SCMP_ARCH_AARCH64']).compileError).toBeUndefined();
  });

  it('answers ENOSYS for syscalls newer than its tables, so libc can fall back', () => {
    const r = run(['default errno 1', 'call #1000', 'call #466']);
    expect(outcomes(r)).toEqual(['ENOSYS', 'EPERM']); // 466 (removexattrat) is known, so: default
  });

  it('loads with the log and spec-allow flags and refuses unknown ones', () => {
    const r = run(['default errno 1', 'flags log,spec-allow', 'rule allow 0 getpid', 'call getpid', 'call getppid']);
    expect(outcomes(r)).toEqual(['ok', 'EPERM']);
    const bad = run(['default errno 1', 'flags tsync', 'call getpid']);
    expect(bad.exit).toBe(100 + 22); // SeccompLoad returned -EINVAL before any call
  });

  it('keeps x32 syscalls from bypassing the filter', () => {
    // x32 unlisted: any x32 number ends the process.
    const unlisted = run(['default allow', 'call getpid', 'callx32 getpid']);
    expect(outcomes(unlisted)).toEqual(['ok']);
    expect(unlisted.signal).toBe(SIGSYS);

    // x32 listed: its own table applies (x32 may be disabled in the kernel: then ENOSYS, never a bypass).
    const listed = run([
      'default errno 1', 'arches SCMP_ARCH_X86_64,SCMP_ARCH_X32',
      'rule allow 0 getpid', `callx32 mkdir str:${join(workDir, 'x32')} 0755`, 'callx32 getpid',
    ]);
    expect(outcomes(listed)[0]).toBe('EPERM');
    expect(['ok', 'ENOSYS']).toContain(outcomes(listed)[1]);
    expect(listed.exit).toBe(0);
  });

  it('filters i386 syscalls (int $0x80) with the i386 table, or kills when SCMP_ARCH_X86 is not listed', () => {
    const probe = run(['nofilter', 'call32 getpid'], { bare: true });
    if (probe.signal !== undefined || outcomes(probe)[0] !== 'ok') return; // no ia32 emulation in this kernel

    const listed = run([
      'default errno 1', 'arches SCMP_ARCH_X86_64,SCMP_ARCH_X86',
      'rule allow 0 getpid', 'rule allow 0 personality 0:eq:0xffffffff:0',
      'call32 getpid', 'call32 getppid', 'call32 personality 0xffffffff', 'call32 personality 8',
    ]);
    expect(outcomes(listed)).toEqual(['ok', 'EPERM', 'ok', 'EPERM']);

    const unlisted = run(['default allow', 'call getpid', 'call32 getpid']);
    expect(outcomes(unlisted)).toEqual(['ok']);
    expect(unlisted.signal).toBe(SIGSYS);
  });

  it('keeps jumps in range for large filters', () => {
    // One syscall with 300 alternative argument values: its body is far longer than 255 instructions.
    const many = Array.from({ length: 300 }, (_, i) => `rule allow 0 getpid 0:eq:${i * 3}:0`);
    const r = run(['default errno 1', ...many, 'call getpid 0', 'call getpid 897', 'call getpid 898', 'call getppid']);
    expect(outcomes(r)).toEqual(['ok', 'ok', 'EPERM', 'EPERM']);
    expect(r.compiled).toBeGreaterThan(600);
  });

  it('runs the Docker-equivalent default profile (~400 syscalls on three ABIs)', () => {
    const profile = defaultSeccompProfile(['CAP_CHOWN', 'CAP_SETUID', 'CAP_SETGID', 'CAP_SYS_CHROOT'], 'x64');
    const r = run([
      ...profileLines(profile),
      'call getpid',
      `call mkdir str:${join(workDir, 'allowed')} 0755`,
      'call mount 0 0 0 0 0',
      'call keyctl 0 0 0 0 0',
      `call unshare ${CLONE_NEWUTS}`,
      `call clone ${CLONE_NEWUTS | SIGCHLD}`,
      `call clone ${SIGCHLD}`,
      'call clone3 0 0',
      'call socket 40 1 0', // AF_VSOCK
      'call socket 38 5 0', // AF_ALG
      'call socket 1 1 0', // AF_UNIX
      'call personality 0xffffffff',
      'call personality 0x0040000', // ADDR_NO_RANDOMIZE: refused
      'call bpf 0 0 0',
    ], { bare: true });
    expect(r.compileError).toBeUndefined();
    expect(r.compiled).toBeLessThan(4096);
    expect(outcomes(r)).toEqual([
      'ok', 'ok', 'EPERM', 'EPERM', 'EPERM', 'EPERM', 'ok', 'ENOSYS', 'EPERM', 'EPERM', 'ok', 'ok', 'EPERM', 'EPERM',
    ]);
    expect(existsSync(join(workDir, 'allowed'))).toBe(true);
    expect(r.exit).toBe(0);

    // With CAP_SYS_ADMIN the namespace calls open up.
    const admin = run([
      ...profileLines(defaultSeccompProfile(['CAP_SYS_ADMIN'], 'x64')),
      `call unshare ${CLONE_NEWUTS}`, `call clone ${CLONE_NEWUTS | SIGCHLD}`,
    ], { bare: true });
    expect(outcomes(admin)).toEqual(['ok', 'ok']);
  });
});
