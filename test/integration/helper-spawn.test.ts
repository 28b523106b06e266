// hull-helper driven directly with hand-written plans (docs/internals/plan.md): every step family,
// the fd-3 messages, exit.json, and that nothing (mounts, processes) outlives a container.
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { spawn, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { helperPath, native } from '../../src/native';
import { makeBusyboxRootfs, mountsContaining, processesContaining, removeTree, tempDir } from '../setup/rootfs';

const MS = {
  RDONLY: 0x1, NOSUID: 0x2, NODEV: 0x4, NOEXEC: 0x8, BIND: 0x1000, REC: 0x4000,
  PRIVATE: 0x40000, SLAVE: 0x80000, STRICTATIME: 0x1000000, RELATIME: 0x200000,
};
const ALL_CAPS = 'ffffffffff'; // 40 bits: more than the kernel has; the helper stops at the last one

type Op = (string | number)[];

interface HelperRun {
  code: number | null;
  stdout: string;
  stderr: string;
  messages: string[][];
  pid: number;
  monitorPid: number;
}

interface RunOptions {
  /** Answer each `sync` with this (default "go"). */
  syncReply?: (name: string) => string;
  /** Called for each message as it arrives (create mode: open the fifo on `ready`). */
  onMessage?: (msg: string[], control: net.Socket, run: HelperRun) => void;
  /** Close our end of fd 3 right after this message kind arrives. */
  closeControlAfter?: string;
  extraFds?: number[];
  /** Write this to the helper's stdin (otherwise stdin is /dev/null). */
  stdin?: string;
  /** Run the helper as this uid/gid (rootless). */
  uid?: number;
  /** Send this text instead of the serialized ops (malformed plans). */
  rawPlan?: string;
  /** Start this program instead of the helper (a harness that starts the helper with fd 3 passed on). */
  command?: string[];
}

const escapeField = (f: string) => f.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n');
const unescapeField = (f: string) =>
  f.replace(/\\(.)/g, (_, c: string) => (c === 't' ? '\t' : c === 'n' ? '\n' : c));

/** Spawn the helper, write the plan on fd 3, collect messages until it exits. */
function runHelper(ops: Op[], opts: RunOptions = {}): Promise<HelperRun> {
  return new Promise((resolve, reject) => {
    const stdin = opts.stdin === undefined ? 'ignore' : 'pipe';
    const child = spawn(opts.command?.[0] ?? helperPath, opts.command?.slice(1) ?? [], {
      stdio: [stdin, 'pipe', 'pipe', 'pipe', ...(opts.extraFds ?? [])],
      ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.uid } : {}),
    });
    if (opts.stdin !== undefined) child.stdin!.end(opts.stdin);
    const control = child.stdio[3] as net.Socket;
    const result: HelperRun = { code: null, stdout: '', stderr: '', messages: [], pid: 0, monitorPid: child.pid ?? 0 };
    let buffered = '';
    child.stdout!.on('data', (d) => (result.stdout += d));
    child.stderr!.on('data', (d) => (result.stderr += d));
    control.on('error', () => {});
    control.on('data', (chunk) => {
      buffered += chunk.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const msg = buffered.slice(0, nl).split('\t').map(unescapeField);
        buffered = buffered.slice(nl + 1);
        result.messages.push(msg);
        if (msg[0] === 'pid') result.pid = Number(msg[1]);
        if (msg[0] === 'sync') control.write((opts.syncReply?.(msg[1]) ?? 'go') + '\n');
        opts.onMessage?.(msg, control, result);
        if (msg[0] === opts.closeControlAfter) control.destroy();
      }
    });
    child.on('error', reject);
    child.on('close', (code) => {
      result.code = code;
      resolve(result);
    });
    control.write(opts.rawPlan ?? ops.map((op) => op.map((f) => escapeField(String(f))).join('\t')).join('\n') + '\nend\n');
  });
}

const of = (run: HelperRun, kind: string) => run.messages.filter((m) => m[0] === kind);

let work: string;
let rootfs: string;
const tag = `hull-helper-test-${process.pid}`;

beforeAll(() => {
  work = tempDir(`${tag}-`);
  rootfs = makeBusyboxRootfs(path.join(work, 'rootfs'));
});

afterAll(() => {
  expect(mountsContaining(work)).toEqual([]);
  removeTree(work);
});

afterEach(() => {
  // Every container is gone and left no mount behind (its mount namespace died with it).
  expect(mountsContaining(work)).toEqual([]);
  expect(processesContaining(work)).toEqual([]);
});

/** A typical run-mode plan: new namespaces, proc/dev/devpts, pivot, then `sh -c script`. */
function containerPlan(script: string, extra: { before?: Op[]; mounts?: Op[]; after?: Op[]; namespaces?: string } = {}): Op[] {
  return [
    ['mode', 'run'],
    ['trace', 1],
    ['id', 'test'],
    ...(extra.before ?? []),
    ['clone', extra.namespaces ?? 'pid,mount,uts,ipc,net'],
    ['propagation', MS.SLAVE | MS.REC],
    ['rootfs', rootfs],
    ['mount', 'proc', '/proc', 'proc', MS.NOSUID | MS.NODEV | MS.NOEXEC, '', 0],
    ['mount', 'tmpfs', '/dev', 'tmpfs', MS.NOSUID | MS.STRICTATIME, 'mode=755,size=65536k', 0],
    ['mount', 'devpts', '/dev/pts', 'devpts', MS.NOSUID | MS.NOEXEC, 'newinstance,ptmxmode=0666,mode=0620', 0],
    ...(extra.mounts ?? []),
    ['mkdev', '/dev/null', 'c', 1, 3, '0666', 0, 0],
    ['mkdev', '/dev/zero', 'c', 1, 5, '0666', 0, 0],
    ['symlink', 'pts/ptmx', '/dev/ptmx'],
    ['symlink', '/proc/self/fd', '/dev/fd'],
    ['pivot', 'pivot'],
    ...(extra.after ?? []),
    ['hostname', 'hullbox'],
    ['umask', '0022'],
    ['user', 0, 0, ''],
    ['cwd', '/'],
    ['env', 'PATH=/bin:/usr/bin'],
    ['arg', 'sh'],
    ['arg', '-c'],
    ['arg', script],
    ['exec'],
  ];
}

describe('hull-helper run mode', () => {
  it('runs a command with its stdout and exit code, reporting pid, ready and exit', async () => {
    const run = await runHelper(containerPlan('echo hello from $(hostname); exit 7'));
    expect(run.stderr).toBe('');
    expect(run.stdout).toBe('hello from hullbox\n');
    expect(run.code).toBe(7);
    expect(run.pid).toBeGreaterThan(1);
    expect(of(run, 'ready')).toHaveLength(1);
    expect(of(run, 'exit')).toEqual([['exit', '7', '0']]);
    expect(of(run, 'error')).toEqual([]);
  });

  it('gives the container its own pid, mount and uts namespaces', async () => {
    const run = await runHelper(
      containerPlan('echo pid=$$; hostname; mount -t tmpfs none /tmp && echo mounted; cat /proc/self/mountinfo | wc -l'),
    );
    const lines = run.stdout.trim().split('\n');
    expect(lines[0]).toBe('pid=1');
    expect(lines[1]).toBe('hullbox');
    expect(lines[2]).toBe('mounted');
    expect(execFileSync('hostname', { encoding: 'utf8' }).trim()).not.toBe('hullbox');
    // The tmpfs mounted inside never showed up on the host.
    expect(mountsContaining(path.join(rootfs, 'tmp'))).toEqual([]);
    expect(run.code).toBe(0);
  });

  it('creates a time namespace with clone3', async () => {
    const run = await runHelper(containerPlan('readlink /proc/self/ns/time', { namespaces: 'pid,mount,uts,ipc,net,time' }));
    expect(of(run, 'error')).toEqual([]);
    expect(run.stdout.trim()).toMatch(/^time:\[\d+\]$/);
    expect(run.stdout.trim()).not.toBe(fs.readlinkSync('/proc/self/ns/time'));
  });

  it('mounts proc, tmpfs, devpts and read-only binds with the requested flags', async () => {
    const shared = path.join(work, 'shared');
    fs.mkdirSync(shared, { recursive: true });
    fs.writeFileSync(path.join(shared, 'file.txt'), 'from host\n');
    const run = await runHelper(
      containerPlan(
        'cat /data/file.txt; touch /data/x 2>/dev/null && echo writable || echo readonly; ' +
          'cat /etc/hosts.copy; grep -E " /(proc|dev|dev/pts|data|etc/hosts.copy|mnt) " /proc/self/mountinfo',
        {
          mounts: [
            ['mount', shared, '/data', 'bind', MS.BIND | MS.REC | MS.RDONLY | MS.NOSUID, '', 0],
            ['mount', path.join(shared, 'file.txt'), '/etc/hosts.copy', 'bind', MS.BIND, '', MS.PRIVATE],
            // a remount of an existing mount (as hull does for a read-only /sys/fs/cgroup tmpfs)
            ['mount', 'tmpfs', '/mnt', 'tmpfs', 0, 'mode=755', 0],
            ['mount', 'tmpfs', '/mnt', 'tmpfs', 0x20 /* MS_REMOUNT */ | MS.RDONLY, 'mode=755', MS.PRIVATE],
          ],
        },
      ),
    );
    expect(run.code).toBe(0);
    const lines = run.stdout.split('\n');
    expect(lines[0]).toBe('from host');
    expect(lines[1]).toBe('readonly');
    expect(lines[2]).toBe('from host');
    const mountLine = (dest: string) => lines.find((l) => l.split(' ')[4] === dest) ?? '';
    expect(mountLine('/proc')).toMatch(/ rw,nosuid,nodev,noexec.* - proc /);
    expect(mountLine('/dev')).toMatch(/ - tmpfs /);
    expect(mountLine('/dev/pts')).toMatch(/ - devpts .*ptmxmode=666/);
    expect(mountLine('/data')).toMatch(/ ro,nosuid/);
    expect(mountLine('/etc/hosts.copy')).not.toBe('');
    expect(mountLine('/mnt')).toMatch(/ ro,relatime - tmpfs /);
    // The file bind created its (missing) destination as a file inside the rootfs.
    expect(fs.statSync(path.join(rootfs, 'etc/hosts.copy')).isFile()).toBe(true);
  });

  it('creates device nodes and symlinks in /dev', async () => {
    const run = await runHelper(
      containerPlan('stat -c "%n %F %t:%T %a" /dev/null /dev/zero; readlink /dev/ptmx; readlink /dev/fd; echo x > /dev/null && echo ok'),
    );
    expect(run.stdout).toBe(
      '/dev/null character special file 1:3 666\n/dev/zero character special file 1:5 666\npts/ptmx\n/proc/self/fd\nok\n',
    );
  });

  it('gives device nodes their exact mode and owner whatever the umask, in /dev and elsewhere', async () => {
    // Consecutive mkdev/symlink steps share their directory and create nodes with umask 0: a node
    // that is not 0:0, one with a special bit, one in another directory, and the umask op after them.
    const plan = containerPlan('stat -c "%n %a %u:%g" /dev/null /dev/tty9 /dev/sticky /dev/sub/fifo; umask');
    plan.splice(plan.findIndex((op) => op[0] === 'symlink'), 0,
      ['mkdev', '/dev/tty9', 'c', 4, 9, '0620', 5, 6],
      ['mkdev', '/dev/sticky', 'p', 0, 0, '1600', 0, 0],
      ['mkdev', '/dev/sub/fifo', 'p', 0, 0, '0640', 0, 0]);
    const run = await runHelper(plan);
    expect(of(run, 'error')).toEqual([]);
    expect(run.stdout).toBe('/dev/null 666 0:0\n/dev/tty9 620 5:6\n/dev/sticky 1600 0:0\n/dev/sub/fifo 640 0:0\n0022\n');
  });

  it('loads a precompiled seccomp-bpf program as is, and refuses one that is not whole instructions', async () => {
    const program = native().compileSeccomp([['seccomp', 'allow', '1', '', 'SCMP_ARCH_X86_64'], ['seccomp-rule', 'errno', '1', 'mkdir,mkdirat', '']]);
    const plan = containerPlan('mkdir /tmp/denied 2>&1 || echo denied; echo still-running');
    plan.splice(plan.findIndex((op) => op[0] === 'exec'), 0, ['nnp'], ['seccomp-bpf', '', 0, 1, program]);
    const run = await runHelper(plan);
    expect(of(run, 'error')).toEqual([]);
    expect(run.stdout).toContain('denied\nstill-running\n');
    expect(of(run, 'trace').find((t) => t[2] === 'seccomp-bpf')?.[3]).toMatch(/SECCOMP_SET_MODE_FILTER, 1 rules, \d+ instructions\)$/);
    expect(fs.existsSync(path.join(rootfs, 'tmp/denied'))).toBe(false);

    const bad = containerPlan('echo never');
    bad.splice(bad.findIndex((op) => op[0] === 'exec'), 0, ['nnp'], ['seccomp-bpf', '', 0, 1, program.slice(0, 8)]);
    const refused = await runHelper(bad);
    expect(of(refused, 'error')[0]?.slice(2, 4)).toEqual(['seccomp-bpf', 'EINVAL']);
    expect(refused.stdout).toBe('');
  });

  it('pivot leaves no trace of the host root; chroot mode works too', async () => {
    const pivot = await runHelper(containerPlan('cat /proc/self/mountinfo'));
    expect(pivot.code).toBe(0);
    const roots = pivot.stdout.split('\n').filter((l) => l.split(' ')[4] === '/');
    expect(roots).toHaveLength(1);
    // The old root is gone: no mount point outside the container's tree mentions the host path.
    const mountPoints = pivot.stdout.split('\n').map((l) => l.split(' ')[4] ?? '');
    expect(mountPoints.filter((mp) => mp.includes(work))).toEqual([]);
    expect(pivot.stdout.split('\n').length).toBeLessThan(10);

    const plan = containerPlan('ls /bin/busybox && echo root-ok');
    plan[plan.findIndex((op) => op[0] === 'pivot')] = ['pivot', 'chroot'];
    const chroot = await runHelper(plan);
    expect(chroot.stdout).toBe('/bin/busybox\nroot-ok\n');
    expect(chroot.code).toBe(0);
    expect(of(chroot, 'trace').some((t) => t[2] === 'pivot' && t[3].includes('chroot("."'))).toBe(true);
  });

  it('masks paths with /dev/null or an empty tmpfs, and makes paths and the root read-only', async () => {
    const run = await runHelper(
      containerPlan(
        'cat /proc/kcore | wc -c; ls /proc/acpi 2>&1 | wc -l; echo 1 > /proc/sys/kernel/hostname 2>/dev/null || echo sys-ro; ' +
          'touch /etc/x 2>/dev/null || echo root-ro; echo done',
        { after: [['readonly-root'], ['mask', '/proc/kcore'], ['mask', '/proc/acpi'], ['mask', '/does/not/exist'], ['readonly', '/proc/sys']] },
      ),
    );
    expect(run.stdout).toBe('0\n0\nsys-ro\nroot-ro\ndone\n');
    expect(run.code).toBe(0);
  });

  it('applies user, groups, capabilities, no_new_privs and rlimits', async () => {
    const plan = containerPlan(
      'id; echo $HOME; grep -E "^(CapEff|CapPrm|CapBnd|CapAmb|NoNewPrivs)" /proc/self/status; ulimit -c; ulimit -n; ulimit -Hn',
      {
        before: [['rlimit', 'RLIMIT_NOFILE', 123, 456], ['rlimit', 'RLIMIT_CORE', '18446744073709551615', -1]],
      },
    );
    const user = plan.findIndex((op) => op[0] === 'user');
    // CAP_CHOWN (0), CAP_KILL (5), CAP_NET_BIND_SERVICE (10)
    plan.splice(user, 1, ['nnp'], ['caps', '421', '421', '421', '400', '400'], ['user', 1000, 1000, '5,65534']);
    const run = await runHelper(plan);
    expect(of(run, 'error')).toEqual([]);
    const lines = run.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^uid=1000\(probe\) gid=1000\(probe\) groups=5\(tty\),65534\(nogroup\)/);
    expect(lines[1]).toBe('/home'); // HOME from the container's /etc/passwd, as runc does
    expect(lines).toContain('CapEff:\t0000000000000400');
    expect(lines).toContain('CapPrm:\t0000000000000400');
    expect(lines).toContain('CapBnd:\t0000000000000421');
    expect(lines).toContain('CapAmb:\t0000000000000400');
    expect(lines).toContain('NoNewPrivs:\t1');
    expect(lines.slice(-3)).toEqual(['unlimited', '123', '456']);
  });

  it('a non-root container user owns its stdio and can reopen it through /proc/self/fd', async () => {
    const out = path.join(work, `stdout-${Math.random().toString(36).slice(2)}.txt`);
    const fd = fs.openSync(out, 'w', 0o600);
    try {
      const plan = containerPlan('id -u; echo reopened >> /proc/self/fd/1');
      plan[plan.findIndex((op) => op[0] === 'user')] = ['user', 1000, 1000, ''];
      await new Promise<void>((resolve, reject) => {
        const child = spawn(helperPath, [], { stdio: ['ignore', fd, 'inherit', 'pipe'] });
        (child.stdio[3] as net.Socket).on('error', () => {});
        (child.stdio[3] as net.Socket).write(plan.map((op) => op.map((f) => escapeField(String(f))).join('\t')).join('\n') + '\nend\n');
        child.on('error', reject);
        child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`exit ${code}`))));
      });
    } finally {
      fs.closeSync(fd);
    }
    expect(fs.readFileSync(out, 'utf8')).toBe('1000\nreopened\n');
    expect(fs.statSync(out).uid).toBe(1000);
  });

  it('resolves argv[0] on the container PATH and reports a missing executable', async () => {
    const plan = containerPlan('unused');
    const firstArg = plan.findIndex((op) => op[0] === 'arg');
    plan.splice(firstArg, 3, ['arg', 'no-such-program']);
    const run = await runHelper(plan);
    expect(run.code).toBe(125);
    const [error] = of(run, 'error');
    expect(error[2]).toBe('exec');
    expect(error[3]).toBe('ENOENT');
    expect(error[6]).toContain('executable file not found in $PATH');
    expect(of(run, 'ready')).toEqual([]);
  });

  it('reports a failed mount with step, errno and path, and exits 125', async () => {
    const missing = path.join(work, 'no-such-source');
    const plan = containerPlan('echo never', { mounts: [['mount', missing, '/data', 'bind', MS.BIND, '', 0]] });
    const run = await runHelper(plan);
    expect(run.code).toBe(125);
    expect(run.stdout).toBe('');
    const errors = of(run, 'error');
    expect(errors).toHaveLength(1);
    const [, step, op, code, syscall, errPath, message] = errors[0];
    expect(Number(step)).toBe(plan.findIndex((o) => o[1] === missing));
    expect(op).toBe('mount');
    expect(code).toBe('ENOENT');
    expect(syscall).toBe('stat');
    expect(errPath).toBe(missing);
    expect(message).toContain(missing);
  });

  it('reports execve failures: a file that is not executable is EACCES', async () => {
    const plan = containerPlan('unused');
    plan.splice(plan.findIndex((op) => op[0] === 'arg'), 3, ['arg', '/etc/passwd']);
    const run = await runHelper(plan);
    expect(run.code).toBe(125);
    expect(of(run, 'error').map((e) => e.slice(2, 6))).toEqual([['exec', 'EACCES', 'execve', '/etc/passwd']]);
  });

  it('resolves mount destinations inside the rootfs, even through absolute symlinks', async () => {
    const outside = path.join(work, 'outside');
    fs.symlinkSync(outside, path.join(rootfs, 'escape'));
    try {
      const run = await runHelper(
        containerPlan('ls -d /escape/x && grep -c " /escape/x " /proc/self/mountinfo', {
          mounts: [['mount', 'tmpfs', '/escape/x', 'tmpfs', 0, '', 0]],
        }),
      );
      expect(of(run, 'error')).toEqual([]);
      expect(run.stdout).toBe('/escape/x\n0\n'); // mounted at the symlink's in-root target
      expect(fs.existsSync(outside)).toBe(false);
      expect(fs.statSync(path.join(rootfs, outside, 'x')).isDirectory()).toBe(true);
    } finally {
      fs.unlinkSync(path.join(rootfs, 'escape'));
      fs.rmSync(path.join(rootfs, work), { recursive: true }); // the in-root copy of our work dir path
    }
  });

  it('refuses to mount proc through a symlink', async () => {
    fs.symlinkSync('tmp', path.join(rootfs, 'fakeproc'));
    try {
      const run = await runHelper(
        containerPlan('echo never', { mounts: [['mount', 'proc', '/fakeproc', 'proc', 0, '', 0]] }),
      );
      expect(run.code).toBe(125);
      const [error] = of(run, 'error');
      expect(error.slice(2, 6)).toEqual(['mount', 'ELOOP', 'openat2', '/fakeproc']);
      expect(error[6]).toContain('real directory');
    } finally {
      fs.unlinkSync(path.join(rootfs, 'fakeproc'));
    }
  });

  it('refuses unknown ops and bad escapes before doing anything', async () => {
    const run = await runHelper([['mode', 'run'], ['frobnicate', 'x'], ['exec']]);
    expect(run.code).toBe(125);
    expect(of(run, 'error')[0][6]).toContain('frobnicate');
    expect(run.pid).toBe(0);
  });

  it('rejects a bad escape in the plan', async () => {
    const run = await runHelper([], { rawPlan: 'mode\trun\nenv\tA=\\q\nend\n' });
    expect(run.code).toBe(125);
    expect(of(run, 'error')[0][6]).toContain('bad escape');
  });

  it('sets sysctls through procfs, domainname and oom_score_adj', async () => {
    const plan = containerPlan('cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/domainname /proc/self/oom_score_adj', {
      before: [['oom-score-adj', 123]],
    });
    // Even after /proc/sys became read-only (sysctls use the helper's own procfs instance).
    plan.splice(plan.findIndex((op) => op[0] === 'hostname'), 0,
      ['readonly', '/proc/sys'], ['sysctl', 'net.ipv4.ip_forward', '1'], ['domainname', 'hull.test']);
    const run = await runHelper(plan);
    expect(of(run, 'error')).toEqual([]);
    expect(run.stdout).toBe('1\nhull.test\n123\n');
  });

  it('loads a seccomp filter right before execve', async () => {
    const plan = containerPlan('mkdir /tmp/denied 2>&1 || echo denied; echo still-running');
    plan.splice(
      plan.findIndex((op) => op[0] === 'exec'),
      0,
      ['nnp'],
      ['seccomp', 'allow', 1, '', 'SCMP_ARCH_X86_64'],
      ['seccomp-rule', 'errno', 1, 'mkdir,mkdirat', ''],
      ['seccomp-load'],
    );
    const run = await runHelper(plan);
    expect(of(run, 'error')).toEqual([]);
    expect(run.stdout).toContain('denied\nstill-running\n');
    expect(run.stdout).toContain('Operation not permitted');
    expect(fs.existsSync(path.join(rootfs, 'tmp/denied'))).toBe(false);
  });

  it('creates a missing working directory', async () => {
    const plan = containerPlan('pwd');
    plan[plan.findIndex((op) => op[0] === 'cwd')] = ['cwd', '/work/dir'];
    const run = await runHelper(plan);
    expect(run.stdout).toBe('/work/dir\n');
    fs.rmSync(path.join(rootfs, 'work'), { recursive: true });
  });

  it('sends the pty master over the console socket and gives the container a controlling tty', async () => {
    const socketPath = path.join(work, `console-${Math.random().toString(36).slice(2)}.sock`);
    const received = native().receiveFdOnce(socketPath, 20_000);
    const plan = containerPlan('tty; echo tty-ok; stat -c %t:%T /dev/console >/dev/console; exit 0');
    plan.unshift(['console-socket', socketPath]);
    const run = await runHelper(plan);
    const { data, fds } = await received;
    expect(data.toString()).toMatch(/^\/dev\/pts\/\d+$/);
    expect(fds).toHaveLength(1);
    const output = await new Promise<string>((resolve) => {
      let text = '';
      const stream = fs.createReadStream('', { fd: fds[0] });
      stream.on('data', (d) => (text += d));
      stream.on('error', () => resolve(text)); // EIO once the slave side is gone
      stream.on('close', () => resolve(text));
    });
    // /dev/console is the same pty: 88 is the Unix98 pty slave major (136) in hex.
    expect(output.replace(/\r/g, '')).toBe(`${data.toString()}\ntty-ok\n88:${Number(data.toString().split('/').pop()).toString(16)}\n`);
    expect(run.stdout).toBe('');
    expect(run.code).toBe(0);
    fs.rmSync(socketPath, { force: true });
  });

  it('terminal mode: the monitor relays a pty between its stdio and the container', async () => {
    const plan = containerPlan('tty; read line; echo got:$line; exit 4');
    plan.unshift(['terminal', 1]);
    const run = await runHelper(plan, { stdin: 'abc\n' });
    expect(of(run, 'error')).toEqual([]);
    const out = run.stdout.replace(/\r/g, '');
    expect(out).toMatch(/^\/dev\/pts\/\d+$/m); // (the tty may echo our input before it)
    expect(out).toContain('got:abc\n');
    expect(run.code).toBe(4);
  });

  it('joins cgroups before the container unshares its cgroup namespace', async () => {
    const name = `${tag}-${Math.random().toString(36).slice(2)}`;
    const dirs = ['/sys/fs/cgroup/pids', '/sys/fs/cgroup/unified'].map((h) => path.join(h, name));
    for (const dir of dirs) fs.mkdirSync(dir);
    try {
      const plan = containerPlan('cat /proc/self/cgroup', { namespaces: 'pid,mount,uts,ipc,net,cgroup' });
      plan.splice(plan.findIndex((op) => op[0] === 'clone') + 1, 0, ...dirs.map((d) => ['cgroup-join', d]));
      plan.splice(plan.findIndex((op) => op[0] === 'rootfs'), 0, ['sync', 'create-runtime']);
      let membersAtSync: string[] = [];
      const run = await runHelper(plan, {
        onMessage: (msg, _control, current) => {
          if (msg[0] === 'sync') {
            membersAtSync = dirs.map((d) => fs.readFileSync(path.join(d, 'cgroup.procs'), 'utf8').trim());
            expect(membersAtSync).toEqual([String(current.pid), String(current.pid)]);
          }
        },
      });
      expect(of(run, 'error')).toEqual([]);
      expect(membersAtSync).toHaveLength(2);
      // Inside its cgroup namespace the container's own cgroups are the roots.
      const lines = run.stdout.trim().split('\n');
      expect(lines).toContain('0::/');
      expect(lines.find((l) => l.includes(':pids:'))).toMatch(/:pids:\/$/);
    } finally {
      for (const dir of dirs) fs.rmdirSync(dir);
    }
  });

  it('a SIGKILLed foreground monitor takes its container with it', async () => {
    const run = await runHelper(containerPlan(`sleep 1000; echo ${work}`), {
      onMessage: (msg, _control, current) => {
        if (msg[0] === 'ready') setTimeout(() => process.kill(current.monitorPid, 'SIGKILL'), 100);
      },
    });
    expect(run.code).toBe(null);
  });

  it('brings up loopback in a new network namespace and joins a session keyring named after the id', async () => {
    const id = `keyring${Math.random().toString(36).slice(2)}`;
    const plan = containerPlan(`ip -o link show lo; grep -o "_ses\\.${id}" /proc/keys`);
    plan[plan.findIndex((op) => op[0] === 'id')] = ['id', id];
    const run = await runHelper(plan);
    expect(of(run, 'error')).toEqual([]);
    const [link, keyring] = run.stdout.trim().split('\n');
    expect(link).toMatch(/<LOOPBACK,UP/);
    expect(keyring).toBe(`_ses.${id}`);
  });

  it('runs from a sealed in-memory copy of itself (CVE-2019-5736)', async () => {
    let exe = '';
    let writeError = '';
    await runHelper(containerPlan('true'), {
      onMessage: (msg, _control, current) => {
        if (msg[0] !== 'pid') return;
        exe = fs.readlinkSync(`/proc/${current.monitorPid}/exe`);
        try {
          const fd = fs.openSync(`/proc/${current.monitorPid}/exe`, 'r+');
          try {
            fs.writeSync(fd, 'x');
          } finally {
            fs.closeSync(fd);
          }
        } catch (e) {
          writeError = (e as NodeJS.ErrnoException).code ?? 'error';
        }
      },
    });
    expect(exe).toMatch(/^\/memfd:hull-helper/);
    expect(writeError).toMatch(/^E(PERM|TXTBSY|ACCES)$/);
  });

  it('traces every step with its syscalls', async () => {
    const plan = containerPlan('true');
    const run = await runHelper(plan);
    const traces = of(run, 'trace');
    const text = (op: string) => traces.filter((t) => t[2] === op).map((t) => t[3]).join('\n');
    expect(text('clone')).toContain('clone3({flags=CLONE_NEWPID|CLONE_NEWNS|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWNET');
    expect(text('mount')).toContain('mount("proc", "/proc", "proc", MS_NOSUID|MS_NODEV|MS_NOEXEC, NULL)');
    expect(text('pivot')).toContain('pivot_root(".", ".")');
    expect(text('hostname')).toContain('sethostname("hullbox")');
    expect(text('exec')).toContain('execve("/bin/sh", ["sh", "-c", "true"], env)');
    // Trace messages are numbered as in the plan; one per step (clone also reports the container
    // process' own follow-up: loopback here).
    for (const t of traces) expect(plan[Number(t[1])][0]).toBe(t[2]);
    const perStep = new Map<string, number>();
    for (const t of traces) perStep.set(t[1], (perStep.get(t[1]) ?? 0) + 1);
    for (const [step, count] of perStep) expect(count, `step ${step} ${plan[Number(step)][0]}`).toBe(plan[Number(step)][0] === 'clone' ? 2 : 1);
  });

  it('passes preserved fds down to 3.. and closes everything else', async () => {
    const file = path.join(work, 'preserved.txt');
    fs.writeFileSync(file, 'preserved\n');
    const fd = fs.openSync(file, 'r');
    try {
      const plan = containerPlan('cat <&3; ls -l /proc/self/fd/');
      plan.splice(plan.findIndex((op) => op[0] === 'cwd'), 0, ['preserve-fds', 1]);
      const run = await runHelper(plan, { extraFds: [fd] });
      const [first, ...listing] = run.stdout.split('\n');
      expect(first).toBe('preserved');
      // ls's own directory fd shows up without a target: only real fds have " -> ".
      const open = listing.map((l) => / (\d+) -> /.exec(l)?.[1]).filter((fd) => fd !== undefined);
      expect(open).toEqual(['0', '1', '2', '3']);
      expect(listing.find((l) => / 3 -> /.test(l))).toContain(file);
    } finally {
      fs.closeSync(fd);
    }
  });

  it('stops at sync points until told to go, and aborts on abort', async () => {
    const plan = containerPlan('echo after-sync');
    plan.splice(plan.findIndex((op) => op[0] === 'pivot'), 0, ['sync', 'create-container']);
    const go = await runHelper(plan);
    expect(of(go, 'sync')).toEqual([['sync', 'create-container']]);
    expect(go.stdout).toBe('after-sync\n');

    const abort = await runHelper(plan, { syncReply: () => 'abort' });
    expect(abort.code).toBe(125);
    expect(abort.stdout).toBe('');
  });
});

describe('hull-helper state, create mode and monitoring', () => {
  it('writes exit.json atomically with the exit status', async () => {
    const state = fs.mkdtempSync(path.join(work, 'state-'));
    const run = await runHelper([['state-dir', state], ...containerPlan('exit 42')]);
    expect(run.code).toBe(42);
    const exit = JSON.parse(fs.readFileSync(path.join(state, 'exit.json'), 'utf8'));
    expect(exit).toMatchObject({ exitCode: 42, signal: 0, oomKilled: false });
    expect(exit.finishedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    expect(fs.readdirSync(state)).toEqual(['exit.json']);
  });

  it('foreground: closing fd 3 kills the container; exit.json records SIGKILL', async () => {
    const state = fs.mkdtempSync(path.join(work, 'state-'));
    const run = await runHelper([['state-dir', state], ...containerPlan(`exec sleep 1000 # ${work}`)], {
      closeControlAfter: 'ready',
    });
    expect(run.code).toBe(137);
    const exit = JSON.parse(fs.readFileSync(path.join(state, 'exit.json'), 'utf8'));
    expect(exit).toMatchObject({ exitCode: 137, signal: 9 });
  });

  it('create mode: ready before the fifo, exec after `start` opens it', async () => {
    const state = fs.mkdtempSync(path.join(work, 'state-'));
    const fifo = path.join(state, 'exec.fifo');
    execFileSync('mkfifo', ['-m', '0622', fifo]);
    const plan = containerPlan('echo started');
    plan[0] = ['mode', 'create'];
    let stdoutBeforeStart: string | undefined;
    const run = await runHelper([['state-dir', state], ['exec-fifo', fifo], ...plan], {
      onMessage: (msg, _control, current) => {
        if (msg[0] !== 'ready') return;
        // `hull start`: open for reading, read the byte, remove the fifo.
        setTimeout(() => {
          stdoutBeforeStart = current.stdout;
          const fd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
          const buf = Buffer.alloc(1);
          let n = 0;
          while (n === 0) {
            try {
              n = fs.readSync(fd, buf, 0, 1, null);
            } catch (e) {
              if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
              execFileSync('sleep', ['0.05']);
            }
          }
          fs.closeSync(fd);
          fs.unlinkSync(fifo);
        }, 200);
      },
    });
    expect(stdoutBeforeStart).toBe('');
    expect(of(run, 'error')).toEqual([]);
    expect(run.stdout).toBe('started\n');
    expect(run.code).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(state, 'exit.json'), 'utf8')).exitCode).toBe(0);
  });

  it('detach: the monitor outlives fd 3 and writes exit.json when the container ends', async () => {
    const state = fs.mkdtempSync(path.join(work, 'state-'));
    const plan = containerPlan(`while [ ! -e /state/go ]; do sleep 0.1; done; exit 3 # ${work}`, {
      mounts: [['mount', state, '/state', 'bind', MS.BIND, '', 0]],
    });
    const run = await runHelper([['detach', 1], ['state-dir', state], ...plan], {
      onMessage: (msg, control) => {
        if (msg[0] !== 'ready') return;
        control.destroy();
        // Only after fd 3 is gone may the container finish: exit.json proves the monitor stayed.
        setTimeout(() => fs.writeFileSync(path.join(state, 'go'), ''), 300);
      },
    });
    expect(run.code).toBe(3);
    expect(of(run, 'exit')).toEqual([]);
    expect(JSON.parse(fs.readFileSync(path.join(state, 'exit.json'), 'utf8'))).toMatchObject({ exitCode: 3, signal: 0 });
  });

  it('monitor 0: the helper steps aside after ready and the container lives on without it', async () => {
    let containerPid = 0;
    let parentAfterHandoff = -1;
    const run = await runHelper([['detach', 1], ['monitor', 0], ...containerPlan(`sleep 1000; echo ${work}`)], {
      onMessage: (msg, _control, current) => {
        if (msg[0] === 'pid') containerPid = Number(msg[1]);
        if (msg[0] !== 'ready') return;
        void (async () => {
          // The helper exits on its own; the container is re-parented (to init here, to the shim
          // under containerd or conmon) and keeps running until we kill it.
          while (native().kill(current.monitorPid, 0)) await new Promise((r) => setTimeout(r, 20));
          const status = fs.readFileSync(`/proc/${containerPid}/status`, 'utf8');
          parentAfterHandoff = Number(/^PPid:\s+(\d+)/m.exec(status)![1]);
          process.kill(containerPid, 'SIGKILL');
        })();
      },
    });
    expect(run.code).toBe(0);
    expect(of(run, 'ready')).toHaveLength(1);
    expect(of(run, 'exit')).toEqual([]);
    expect(parentAfterHandoff).not.toBe(run.monitorPid);
    expect(parentAfterHandoff).not.toBe(-1);
  });
});

describe('hull-helper user namespaces and joining namespaces', () => {
  it('clone user with uid/gid maps: root inside is an unprivileged uid outside', async () => {
    const base = 200000 + (process.pid % 1000) * 65536;
    // The rootfs must belong to the mapped root for the container to use it comfortably.
    const userRoot = path.join(work, 'userns-rootfs');
    fs.chmodSync(work, 0o755); // the mapped root is "others" for host-root-owned directories
    makeBusyboxRootfs(userRoot);
    execFileSync('chown', ['-R', `${base}:${base}`, userRoot]);
    const plan = containerPlan('id -u; cat /proc/self/uid_map; touch /tmp/made && stat -c %u /tmp/made; mount -t tmpfs x /mnt 2>/dev/null; echo ok; cat /proc/sys/net/ipv4/ip_forward', {
      namespaces: 'user,pid,mount,uts,ipc,net,cgroup',
      // sysctls still work after /proc is partly masked and /proc/sys is read-only
      after: [['mask', '/proc/kcore'], ['mask', '/proc/timer_list'], ['readonly', '/proc/sys'], ['sysctl', 'net.ipv4.ip_forward', '1']],
    });
    const clone = plan.findIndex((op) => op[0] === 'clone');
    plan.splice(clone + 1, 0, ['setgroups', 'deny'], ['uid-map', 0, base, 65536], ['gid-map', 0, base, 65536]);
    plan[plan.findIndex((op) => op[0] === 'rootfs')] = ['rootfs', userRoot];
    // Device nodes cannot be created in a user namespace: the helper binds the host's instead.
    const run = await runHelper(plan);
    expect(of(run, 'error')).toEqual([]);
    const lines = run.stdout.trim().split('\n');
    expect(lines[0]).toBe('0');
    expect(lines[1].trim().split(/\s+/)).toEqual(['0', String(base), '65536']);
    expect(lines[2]).toBe('0');
    expect(fs.statSync(path.join(userRoot, 'tmp/made')).uid).toBe(base);
    expect(lines[3]).toBe('ok');
    expect(lines[4]).toBe('1');
    expect(run.code).toBe(0);
  });

  it('user namespace: a read-only bind keeps the flags the kernel locked (nosuid, nodev)', async () => {
    fs.chmodSync(work, 0o755);
    const locked = path.join(work, 'locked');
    fs.mkdirSync(locked, { recursive: true });
    native().mount('tmpfs', locked, 'tmpfs', MS.NOSUID | MS.NODEV, 'mode=755');
    try {
      const plan = containerPlan('grep " /locked " /proc/self/mountinfo', { namespaces: 'user,pid,mount,uts,ipc,net' });
      plan.splice(plan.findIndex((op) => op[0] === 'clone') + 1, 0,
        ['setgroups', 'deny'], ['uid-map', 0, 0, 1], ['gid-map', 0, 0, 1]);
      plan.splice(plan.findIndex((op) => op[0] === 'mkdev'), 0, ['mount', locked, '/locked', 'bind', MS.BIND | MS.RDONLY, '', 0]);
      const run = await runHelper(plan);
      expect(of(run, 'error')).toEqual([]);
      expect(run.stdout).toMatch(/ \/locked ro,nosuid,nodev/);
      // The first remount (without nosuid,nodev) was refused; the retry kept them.
      const trace = of(run, 'trace').find((t) => t[3].includes('"/locked"'))![3];
      expect(trace).toContain('mount(NULL, "/locked", NULL, MS_RDONLY|MS_NOSUID|MS_NODEV|MS_REMOUNT|MS_BIND');
    } finally {
      native().umount(locked, 0);
      fs.rmdirSync(locked);
    }
  });

  it('rootless: an unprivileged helper maps its own uid to root and still builds the container', async () => {
    fs.chmodSync(work, 0o755);
    const nobody = 65534;
    const plan = containerPlan('id -u; cat /proc/self/uid_map; echo x > /dev/null && hostname', {
      namespaces: 'user,pid,mount,uts,ipc,net',
    });
    plan.splice(plan.findIndex((op) => op[0] === 'clone') + 1, 0,
      ['setgroups', 'deny'], ['uid-map', 0, nobody, 1], ['gid-map', 0, nobody, 1]);
    const run = await runHelper(plan, { uid: nobody });
    expect(of(run, 'error')).toEqual([]);
    const lines = run.stdout.trim().split('\n');
    expect(lines[0]).toBe('0');
    expect(lines[1].trim().split(/\s+/)).toEqual(['0', String(nobody), '1']);
    expect(lines[2]).toBe('hullbox');
    // mknod is refused in a user namespace: /dev/null is the host's node, bind-mounted.
    expect(of(run, 'trace').find((t) => t[3].includes('"/dev/null"') && t[2] === 'mkdev')?.[3]).toContain('MS_BIND');
    expect(run.code).toBe(0);
  });

  it('joins an existing user namespace and creates the other namespaces inside it', async () => {
    // A user namespace held by a sleeping process, mapping host root to root.
    const holder = spawn('unshare', ['--user', '--map-root-user', 'sleep', '1000'], { stdio: 'ignore' });
    try {
      const userns = `/proc/${holder.pid}/ns/user`;
      for (let i = 0; i < 200 && fs.readlinkSync(userns) === fs.readlinkSync('/proc/self/ns/user'); i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      const plan = containerPlan('cat /proc/self/uid_map; hostname; readlink /proc/self/ns/user', {
        namespaces: 'mount,uts,ipc,net',
      });
      plan.splice(plan.findIndex((op) => op[0] === 'clone'), 0, ['setns', 'user', userns]);
      // No pid namespace of its own, and the host's belongs to the host's user namespace: a new proc
      // mount is refused, a recursive bind of /proc is what such containers get.
      plan[plan.findIndex((op) => op[0] === 'mount' && op[3] === 'proc')] = ['mount', '/proc', '/proc', 'bind', MS.BIND | MS.REC, '', 0];
      const run = await runHelper(plan);
      expect(of(run, 'error')).toEqual([]);
      const lines = run.stdout.trim().split('\n');
      expect(lines[0].trim().split(/\s+/)).toEqual(['0', '0', '1']);
      expect(lines[1]).toBe('hullbox');
      expect(lines[2]).toBe(fs.readlinkSync(userns));
      expect(of(run, 'trace').find((t) => t[2] === 'clone' && t[3].startsWith('unshare'))?.[3]).toContain(
        'unshare(CLONE_NEWNS|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWNET)',
      );

      // A pid namespace cannot be created that way: refused up front.
      const pidPlan = containerPlan('true', { namespaces: 'pid,mount' });
      pidPlan.splice(pidPlan.findIndex((op) => op[0] === 'clone'), 0, ['setns', 'user', userns]);
      const refused = await runHelper(pidPlan);
      expect(refused.code).toBe(125);
      expect(of(refused, 'error')[0][6]).toContain('while joining a user namespace');
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it("exec mode joins a running container's namespaces", async () => {
    const state = fs.mkdtempSync(path.join(work, 'state-'));
    let execRun: HelperRun | undefined;
    let initPid = 0;
    const run = await runHelper([['state-dir', state], ...containerPlan(`sleep 1000; echo ${work}`)], {
      onMessage: (msg, control) => {
        if (msg[0] === 'pid') initPid = Number(msg[1]);
        if (msg[0] !== 'ready') return;
        const ns = (t: string) => `/proc/${initPid}/ns/${t}`;
        void (async () => {
          execRun = await runHelper([
            ['mode', 'exec'],
            ['trace', 1],
            ['setns', 'ipc', ns('ipc')],
            ['setns', 'uts', ns('uts')],
            ['setns', 'net', ns('net')],
            ['setns', 'pid', ns('pid')],
            ['setns', 'mnt', ns('mnt')],
            ['user', 0, 0, ''],
            ['cwd', '/'],
            ['env', 'PATH=/bin'],
            ['arg', 'sh'],
            ['arg', '-c'],
            ['arg', 'echo pid=$$; hostname; ls /proc | grep -c "^[0-9]"; readlink /proc/1/exe'],
            ['exec'],
          ]);
          control.destroy();
        })();
      },
    });
    expect(execRun).toBeDefined();
    expect(of(execRun!, 'error')).toEqual([]);
    const lines = execRun!.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^pid=\d+$/);
    expect(lines[0]).not.toBe('pid=1');
    expect(lines[1]).toBe('hullbox');
    expect(Number(lines[2])).toBeGreaterThanOrEqual(3); // init sh, its sleep, this sh (and ls)
    expect(lines[3]).toBe('/bin/busybox');
    expect(execRun!.code).toBe(0);
    expect(run.code).toBe(137);
  });

  it('exec mode joins a container with its own user namespace, user namespace first', async () => {
    fs.chmodSync(work, 0o755);
    let execRun: HelperRun | undefined;
    let initPid = 0;
    const plan = containerPlan(`sleep 1000; echo ${work}`, { namespaces: 'user,pid,mount,uts,ipc,net' });
    plan.splice(plan.findIndex((op) => op[0] === 'clone') + 1, 0,
      ['setgroups', 'deny'], ['uid-map', 0, 0, 1], ['gid-map', 0, 0, 1]);
    // Created, not started: its process is still the (non-dumpable) helper, blocked on the fifo.
    // Joining must still work: the helper opens every namespace before entering the user namespace.
    const state = fs.mkdtempSync(path.join(work, 'state-'));
    const fifo = path.join(state, 'exec.fifo');
    execFileSync('mkfifo', ['-m', '0622', fifo]);
    plan[0] = ['mode', 'create'];
    plan.unshift(['exec-fifo', fifo]);
    const run = await runHelper(plan, {
      onMessage: (msg, control) => {
        if (msg[0] === 'pid') initPid = Number(msg[1]);
        if (msg[0] !== 'ready') return;
        const ns = (t: string) => `/proc/${initPid}/ns/${t}`;
        void (async () => {
          // In the order TypeScript writes them: the helper itself joins the user namespace first.
          execRun = await runHelper([
            ['mode', 'exec'],
            ['trace', 1],
            ['setns', 'ipc', ns('ipc')],
            ['setns', 'pid', ns('pid')],
            ['setns', 'mnt', ns('mnt')],
            ['setns', 'user', ns('user')],
            ['user', 0, 0, ''],
            ['cwd', '/'],
            ['env', 'PATH=/bin'],
            ['arg', 'sh'],
            ['arg', '-c'],
            ['arg', 'cat /proc/self/uid_map; readlink /proc/self/ns/user'],
            ['exec'],
          ]);
          control.destroy();
        })();
      },
    });
    expect(execRun).toBeDefined();
    expect(of(execRun!, 'error')).toEqual([]);
    const traces = of(execRun!, 'trace').filter((t) => t[2] === 'setns').map((t) => t[3]);
    expect(traces.findIndex((t) => t.includes('CLONE_NEWUSER'))).toBeLessThan(traces.findIndex((t) => t.includes('CLONE_NEWIPC')));
    const lines = execRun!.stdout.trim().split('\n');
    expect(lines[0].trim().split(/\s+/)).toEqual(['0', '0', '1']);
    expect(lines[1]).not.toBe(fs.readlinkSync('/proc/self/ns/user'));
    expect(run.code).toBe(137);
  });
});

/** One docker json-file line, as `docker logs` reads it. */
interface LogEntry {
  log: string;
  stream: 'stdout' | 'stderr';
  time: string;
}
/** Go's time.RFC3339Nano: UTC, fraction without trailing zeros (and no dot for a whole second). */
const RFC3339_NANO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,8}[1-9])?Z$/;

function readLog(file: string): LogEntry[] {
  if (!fs.existsSync(file)) return [];
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  expect(lines.pop()).toBe(''); // every entry ends with a newline
  return lines.map((line) => JSON.parse(line) as LogEntry);
}

describe('hull-helper log-file: docker json-file logs', () => {
  it('logs both streams of a detached container as json lines, also after the CLI is gone', async () => {
    const state = fs.mkdtempSync(path.join(work, 'state-'));
    const logFile = path.join(state, 'container-json.log');
    const script =
      `printf 'out1\nout2\n'; printf 'err1\n' >&2; ` +
      `printf 'tab\t"quoted" <b>&\\001\\377\\303\\251 \\\\\r\n' >&2; ` +
      `while [ ! -e /state/go ]; do sleep 0.1; done; echo after-cli; printf partial # ${work}`;
    const plan = containerPlan(script, { mounts: [['mount', state, '/state', 'bind', MS.BIND, '', 0]] });
    let stdoutBeforeDetach = '';
    const run = await runHelper([['detach', 1], ['state-dir', state], ['log-file', logFile, 0, 1], ...plan], {
      onMessage: (msg, control, current) => {
        if (msg[0] !== 'ready') return;
        control.destroy();
        setTimeout(() => {
          stdoutBeforeDetach = current.stdout;
          fs.writeFileSync(path.join(state, 'go'), '');
        }, 300);
      },
    });
    expect(of(run, 'error')).toEqual([]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(''); // the output went to the log, not to the helper's stdout
    expect(stdoutBeforeDetach).toBe('');
    expect(of(run, 'trace').find((m) => m[2] === 'log-file')?.[3]).toMatch(/container-json\.log.*pipe2/);
    const entries = readLog(logFile);
    for (const entry of entries) {
      expect(Object.keys(entry)).toEqual(['log', 'stream', 'time']);
      expect(entry.time).toMatch(RFC3339_NANO);
    }
    const stream = (name: string) => entries.filter((e) => e.stream === name).map((e) => e.log);
    // "partial" had no newline: its own entry, flushed when the pipe ran dry (here: at exit).
    expect(stream('stdout')).toEqual(['out1\n', 'out2\n', 'after-cli\n', 'partial']);
    // Control characters, HTML characters and invalid UTF-8 escaped as docker (Go) does.
    expect(stream('stderr')).toEqual(['err1\n', 'tab\t"quoted" <b>&\u0001\ufffd\u00e9 \\\r\n']);
    const raw = fs.readFileSync(logFile, 'utf8');
    expect(raw).toContain(String.raw`"log":"tab\t\"quoted\" \u003cb\u003e\u0026\u0001\ufffdé \\\r\n"`);
    // Written before exit.json: a reader that saw the exit sees all the output.
    expect(JSON.parse(fs.readFileSync(path.join(state, 'exit.json'), 'utf8')).exitCode).toBe(0);
  });

  it('splits a line without newline at 16 KiB', async () => {
    const state = fs.mkdtempSync(path.join(work, 'state-'));
    const logFile = path.join(state, 'log.json');
    const run = await runHelper([['log-file', logFile, 0, 1], ...containerPlan("head -c 40000 /dev/zero | tr '\\0' a")]);
    expect(run.code).toBe(0);
    const entries = readLog(logFile);
    expect(entries.map((e) => e.log).join('')).toBe('a'.repeat(40000));
    for (const entry of entries) expect(entry.log.length).toBeLessThanOrEqual(16384);
    expect(entries.length).toBeGreaterThanOrEqual(3);
  });

  it('rotates at the size limit and keeps at most MAX_FILES files', async () => {
    const state = fs.mkdtempSync(path.join(work, 'state-'));
    const logFile = path.join(state, 'log.json');
    const maxSize = 1000;
    const run = await runHelper([['log-file', logFile, maxSize, 3], ...containerPlan("seq 1 300 | sed 's/^/line /'")]);
    expect(run.code).toBe(0);
    expect(fs.readdirSync(state).sort()).toEqual(['log.json', 'log.json.1', 'log.json.2']);
    const files = [`${logFile}.2`, `${logFile}.1`, logFile];
    for (const file of files.slice(0, 2)) {
      // Rotation happens once a file reached the limit: it may exceed it by one entry at most.
      const size = fs.statSync(file).size;
      expect(size).toBeGreaterThanOrEqual(maxSize);
      expect(size).toBeLessThan(maxSize + 100);
    }
    // Oldest to newest, the kept files hold a gap-free tail of the output ending with the last line.
    const kept = files.flatMap(readLog).map((e) => e.log);
    const numbers = kept.map((l) => Number(/^line (\d+)\n$/.exec(l)![1]));
    expect(numbers[numbers.length - 1]).toBe(300);
    numbers.forEach((n, i) => expect(n).toBe(numbers[0] + i));
    expect(numbers[0]).toBeGreaterThan(1);
  });

  it('a non-root container user can reopen its log pipes through /proc/self/fd', async () => {
    const state = fs.mkdtempSync(path.join(work, 'state-'));
    const logFile = path.join(state, 'log.json');
    const plan = containerPlan('id -u; echo reopened > /proc/self/fd/1; echo err > /proc/self/fd/2');
    plan[plan.findIndex((op) => op[0] === 'user')] = ['user', 1000, 1000, ''];
    const run = await runHelper([['log-file', logFile, 0, 1], ...plan]);
    expect(of(run, 'error')).toEqual([]);
    expect(run.code).toBe(0);
    const entries = readLog(logFile);
    expect(entries.filter((e) => e.stream === 'stdout').map((e) => e.log)).toEqual(['1000\n', 'reopened\n']);
    expect(entries.filter((e) => e.stream === 'stderr').map((e) => e.log)).toEqual(['err\n']);
  });

  it('refuses log-file with monitor 0 (nobody would read the pipes)', async () => {
    const state = fs.mkdtempSync(path.join(work, 'state-'));
    const run = await runHelper([['monitor', 0], ['log-file', path.join(state, 'log.json'), 0, 1], ...containerPlan('true')]);
    expect(run.code).toBe(125);
    expect(of(run, 'error')[0]).toMatchObject({ 1: '1', 2: 'log-file', 3: 'EINVAL' });
  });

  it('terminal mode logs what the pty shows as stdout', async () => {
    const state = fs.mkdtempSync(path.join(work, 'state-'));
    const logFile = path.join(state, 'log.json');
    const plan = containerPlan('echo from-tty; echo also-stderr >&2');
    const run = await runHelper([['terminal', 1], ['log-file', logFile, 0, 1], ...plan]);
    expect(run.code).toBe(0);
    const entries = readLog(logFile);
    expect(new Set(entries.map((e) => e.stream))).toEqual(new Set(['stdout']));
    expect(entries.map((e) => e.log).join('')).toBe('from-tty\r\nalso-stderr\r\n');
    expect(run.stdout).toBe('from-tty\r\nalso-stderr\r\n');
  });
});

describe('hull-helper terminal details', () => {
  beforeAll(() => {
    // busybox's stty, for the container to report its window size
    const stty = path.join(rootfs, 'bin/stty');
    if (!fs.existsSync(stty)) fs.symlinkSync('busybox', stty);
  });

  it('console-size sets the initial pty size', async () => {
    const run = await runHelper([['terminal', 1], ['console-size', 40, 120], ...containerPlan('stty size')]);
    expect(of(run, 'error')).toEqual([]);
    expect(run.stdout.replace(/\r/g, '')).toBe('40 120\n');
  });

  it('end of stdin reaches the container as ^D, and the exit code passes through', async () => {
    // "two" has no newline: the first ^D hands it over, the second is the end of file.
    const run = await runHelper([['terminal', 1], ...containerPlan('cat; echo cat-ended; exit 5')], { stdin: 'one\ntwo' });
    expect(of(run, 'error')).toEqual([]);
    const out = run.stdout.replace(/\r/g, '');
    expect(out).toContain('one\n');
    expect(out).toMatch(/two(\n)?cat-ended\n$/);
    expect(run.code).toBe(5);
  });

  it('without stdin attached (/dev/null) the container gets no end of file', async () => {
    // `read` would return at once on ^D; the container must still be waiting when we stop it.
    const run = await runHelper([['terminal', 1], ...containerPlan(`read x; echo read-returned # ${work}`)], {
      onMessage: (msg, _control, current) => {
        // (pid 1 of a pid namespace ignores SIGTERM without a handler: SIGKILL it directly)
        if (msg[0] === 'ready') setTimeout(() => process.kill(current.pid, 'SIGKILL'), 500);
      },
    });
    expect(run.stdout).not.toContain('read-returned');
    expect(run.code).toBe(137);
  });

  it('a window size change of the monitor terminal reaches the container (SIGWINCH)', async () => {
    // python3 gives the helper a real terminal (a pty it holds the master of), resizes it once the
    // container is waiting, and relays the output.
    const harness = String.raw`
import fcntl, os, pty, select, struct, subprocess, sys, termios
master, slave = pty.openpty()
fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack('HHHH', 24, 80, 0, 0))
def controlling_tty():
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
helper = subprocess.Popen([sys.argv[1]], stdin=slave, stdout=slave, stderr=slave, pass_fds=(3,), preexec_fn=controlling_tty)
os.close(slave)
out = b''
resized = False
while True:
    select.select([master], [], [])
    try:
        data = os.read(master, 4096)
    except OSError:
        break
    if not data:
        break
    out += data
    if not resized and b'waiting' in out:
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack('HHHH', 50, 132, 0, 0))
        resized = True
sys.stdout.buffer.write(out)
sys.exit(helper.wait())
`;
    const script = `stty size; echo waiting; while [ "$(stty size)" != "50 132" ]; do sleep 0.05; done; echo resized; exit 3`;
    const run = await runHelper(containerPlan(script), {
      command: ['python3', '-c', harness, helperPath],
    });
    const out = run.stdout.replace(/\r/g, '');
    expect(out).toContain('24 80\nwaiting\n'); // the size of the monitor's terminal from the start
    expect(out).toContain('resized\n');
    expect(run.code).toBe(3);
  });
});

describe('hull-helper oom-check', () => {
  it('records oomKilled in exit.json when the cgroup saw an OOM kill', async () => {
    const memory = '/sys/fs/cgroup/memory';
    const v2 = !fs.existsSync(memory);
    const dir = path.join(v2 ? '/sys/fs/cgroup' : memory, `${tag}-oom-${Math.random().toString(36).slice(2)}`);
    fs.mkdirSync(dir);
    try {
      if (v2) {
        fs.writeFileSync(path.join(dir, 'memory.max'), String(32 << 20));
        fs.writeFileSync(path.join(dir, 'memory.swap.max'), '0');
      } else {
        fs.writeFileSync(path.join(dir, 'memory.limit_in_bytes'), String(32 << 20));
        if (fs.existsSync(path.join(dir, 'memory.memsw.limit_in_bytes'))) {
          fs.writeFileSync(path.join(dir, 'memory.memsw.limit_in_bytes'), String(32 << 20));
        }
      }
      const events = path.join(dir, v2 ? 'memory.events' : 'memory.oom_control');
      const oomPlan = (script: string, state: string) => {
        const plan = containerPlan(script);
        plan.splice(plan.findIndex((op) => op[0] === 'clone') + 1, 0, ['cgroup-join', dir]);
        return [['state-dir', state], ['oom-check', events], ...plan];
      };
      const fine = fs.mkdtempSync(path.join(work, 'state-'));
      expect((await runHelper(oomPlan('exit 0', fine))).code).toBe(0);
      expect(JSON.parse(fs.readFileSync(path.join(fine, 'exit.json'), 'utf8')).oomKilled).toBe(false);

      const state = fs.mkdtempSync(path.join(work, 'state-'));
      // A shell variable of 100 MB in a 32 MB cgroup: the kernel's OOM killer ends it.
      const run = await runHelper(oomPlan(`x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo survived`, state));
      expect(run.stdout).not.toContain('survived');
      const exit = JSON.parse(fs.readFileSync(path.join(state, 'exit.json'), 'utf8'));
      expect(exit).toMatchObject({ exitCode: 137, signal: 9, oomKilled: true });
    } finally {
      fs.rmdirSync(dir);
    }
  });
});
