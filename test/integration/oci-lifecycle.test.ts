// hull-oci through its command line: create/start/state/kill/delete, run, exec, ps, list, pause,
// resume, errors as containerd and podman read them, and nothing left behind.
import { describe, it, expect, afterAll, afterEach } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tty from 'node:tty';
import { hullOci } from '../setup/bundle';
import { ociHarness } from '../setup/oci-harness';
import { removeTree, tempDir } from '../setup/rootfs';
import { native } from '../../src/native';

const h = ociHarness('lifecycle', { log: true });
const { root, work, oci, ok, bundle, newId, expectNoLeaks } = h;

function state(id: string): { status: string; pid: number; id: string; bundle: string } {
  const r = oci('state', id);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

async function waitForStatus(id: string, status: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (state(id).status === status) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  expect(state(id).status).toBe(status);
}

afterEach(() => h.afterEachTest());
afterAll(() => h.afterAllTests());

describe('hull-oci lifecycle', () => {
  it('create → state created → start → running → kill → stopped → delete', async () => {
    const b = bundle(['/bin/hull-probe', 'sleep', '1000']);
    const id = newId('life');
    const pidFile = path.join(work, `${id}.pid`);
    const created = oci('create', '--bundle', b.dir, '--pid-file', pidFile, id);
    expect(created.code, created.stderr).toBe(0);
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    expect(pid).toBeGreaterThan(1);
    expect(state(id)).toMatchObject({ id, status: 'created', pid, bundle: b.dir });
    expect(JSON.parse(oci('list', '--format', 'json').stdout)).toContainEqual(expect.objectContaining({ id, status: 'created' }));

    ok('start', id);
    expect(state(id)).toMatchObject({ status: 'running', pid });
    expect(oci('start', id).stderr).toContain('cannot start an already running container');
    const del = oci('delete', id);
    expect(del.code).toBe(1);
    expect(del.stderr).toContain(`cannot delete container ${id} that is not stopped: running`);

    ok('kill', id, 'KILL');
    await waitForStatus(id, 'stopped');
    expect(state(id).pid).toBe(0);
    expect(oci('kill', id, '9').stderr).toContain('container not running');

    ok('delete', id);
    const gone = oci('state', id);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain(`container "${id}" does not exist`);
    expectNoLeaks(id, b);
  });

  it('run exits with the container exit code and output', () => {
    const b = bundle(['/bin/sh', '-c', 'echo out-$(hostname); exit 7']);
    const id = newId('run');
    const r = oci('run', '--bundle', b.dir, id);
    expect(r.stdout).toBe('out-hull-test\n');
    expect(r.code).toBe(7);
    expectNoLeaks(id, b);
  });

  it('applies the process and linux settings of config.json (probe report)', () => {
    const b = bundle(['/bin/hull-probe', 'report'], (s) => {
      s.root!.readonly = true;
      s.process!.cwd = '/tmp';
      s.process!.env!.push('HULL_TEST=yes');
      s.process!.user = { uid: 1000, gid: 1000, additionalGids: [5], umask: 0o027 };
      s.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 512, hard: 1024 }];
      s.process!.oomScoreAdj = 100;
      s.domainname = 'hull-domain';
      s.linux!.sysctl = { 'net.ipv4.ip_forward': '1' };
      s.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdirat', 'mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }] };
    });
    const id = newId('report');
    const r = JSON.parse(ok('run', '--bundle', b.dir, id));
    expect(r).toMatchObject({ hostname: 'hull-test', domainname: 'hull-domain', pid: 1, uid: 1000, gid: 1000, umask: '0027', cwd: '/tmp', no_new_privs: true, oom_score_adj: 100 });
    expect(r.groups).toEqual([5]);
    expect(r.caps.bnd).toBe('0000000020000420');
    expect(r.caps.amb).toBe('0000000000000000'); // ambient needs inheritable: none in runc's default
    expect(r.rlimits.nofile).toEqual({ soft: 512, hard: 1024 });
    expect(r.seccomp).toBe(2);
    const rootMount = r.mounts.find((m: { mountpoint: string }) => m.mountpoint === '/');
    expect(rootMount.options).toContain('ro');
    expect(r.mounts.map((m: { mountpoint: string }) => m.mountpoint)).toEqual(expect.arrayContaining(['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/sys/fs/cgroup']));
    const sysctl = ok('run', '--bundle', b.dir, newId('sysctl')); // same config, second run: ids are free again
    expect(JSON.parse(sysctl).hostname).toBe('hull-test');
    expectNoLeaks(id, b);
  });

  it('run --no-pivot (MS_MOVE + chroot) works', () => {
    const b = bundle(['/bin/hull-probe', 'cat', '/etc/hostname']);
    const id = newId('nopivot');
    expect(ok('run', '--no-pivot', '--bundle', b.dir, id)).toBe('busybox\n');
    expectNoLeaks(id, b);
  });

  it('runs in a user namespace with id maps', () => {
    const b = bundle(['/bin/hull-probe', 'report'], (s) => {
      s.linux!.namespaces!.push({ type: 'user' });
      s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      s.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    });
    fs.chmodSync(b.dir, 0o755); // mkdtemp makes it 0700: the mapped root must be able to walk in
    fs.chownSync(b.rootfs, 100000, 100000);
    const id = newId('userns');
    const report = JSON.parse(ok('run', '--bundle', b.dir, id));
    expect(report.uid).toBe(0);
    expect(report.namespaces.user).not.toBe(fs.readlinkSync('/proc/self/ns/user'));
    expectNoLeaks(id, b);
  });

  it('run passes through a nested 128+signal status', () => {
    const b = bundle(['/bin/sh', '-c', '/bin/sh -c "kill -9 \\$\\$"; exit $?']);
    const id = newId('sig');
    expect(oci('run', '--bundle', b.dir, id).code).toBe(137);
  });

  it('run -d, exec, ps, pause/resume, kill --all, delete --force', async () => {
    const b = bundle(['/bin/sh', '-c', 'sleep 1000 & exec sleep 1000']);
    const id = newId('det');
    const r = oci('run', '-d', '--bundle', b.dir, id);
    expect(r.code, r.stderr).toBe(0);
    expect(state(id).status).toBe('running');

    const ex = oci('exec', id, '/bin/sh', '-c', 'echo in-$(hostname) $FOO; exit 3');
    expect(ex.stdout).toBe('in-hull-test\n');
    expect(ex.code).toBe(3);
    const killed = oci('exec', id, '/bin/sh', '-c', 'kill -9 $$');
    expect(killed.code, killed.stderr).toBe(137);
    const exEnv = oci('exec', '-e', 'FOO=bar', '--cwd', '/tmp', id, '/bin/sh', '-c', 'echo $FOO $(pwd)');
    expect(exEnv.stdout).toBe('bar /tmp\n');

    const procFile = path.join(work, 'process.json');
    fs.writeFileSync(procFile, JSON.stringify({ args: ['/bin/hull-probe', 'id'], cwd: '/', user: { uid: 1000, gid: 1000 }, env: ['PATH=/bin'] }));
    const exProc = oci('exec', '--process', procFile, id);
    expect(JSON.parse(exProc.stdout)).toMatchObject({ uid: 1000, gid: 1000 });

    const pids = JSON.parse(oci('ps', '--format', 'json', id).stdout) as number[];
    expect(pids.length).toBe(2);
    expect(pids).toContain(state(id).pid);
    expect(oci('ps', id).stdout).toMatch(/PID/);

    ok('pause', id);
    expect(state(id).status).toBe('paused');
    expect(oci('exec', id, '/bin/true').stderr).toContain('paused');
    ok('resume', id);
    expect(state(id).status).toBe('running');
    expect(oci('resume', id).stderr).toContain('container not paused');

    ok('kill', '--all', id, 'KILL');
    await waitForStatus(id, 'stopped');
    ok('delete', '--force', id);
    expectNoLeaks(id, b);
  });

  it('delete --force removes a running container; paused too', async () => {
    const b = bundle(['/bin/hull-probe', 'sleep', '1000']);
    const id = newId('force');
    ok('run', '-d', '--bundle', b.dir, id);
    ok('pause', id);
    const del = oci('delete', '--force', id);
    expect(del.code, del.stderr).toBe(0);
    expectNoLeaks(id, b);
  });

  it('delete of a created container kills it (as runc)', () => {
    const b = bundle(['/bin/true']);
    const id = newId('created');
    ok('create', '--bundle', b.dir, id);
    ok('delete', id);
    expectNoLeaks(id, b);
  });

  it('create --console-socket sends the pty master; the process runs on the pty', async () => {
    const b = bundle(['/bin/sh', '-c', 'test -t 0 && test -t 1 && echo on-a-tty; sleep 1000'], (s) => (s.process!.terminal = true));
    const id = newId('console');
    const socketPath = path.join(work, `${id}.sock`);
    const received = native().receiveFdOnce(socketPath, 30_000);
    ok('create', '--bundle', b.dir, '--console-socket', socketPath, id);
    const { data, fds } = await received;
    expect(data.toString()).toMatch(/^\/dev\/pts\/\d+/);
    expect(fds.length).toBe(1);
    ok('start', id);
    // Read the master without blocking the event loop (a stuck container fails the test by timeout).
    const master = new tty.ReadStream(fds[0]);
    let text = '';
    await new Promise<void>((resolve) => {
      master.on('data', (chunk) => {
        text += chunk.toString();
        if (text.includes('on-a-tty')) resolve();
      });
    });
    master.destroy();
    expect(text).toContain('on-a-tty');
    ok('delete', '--force', id);
    expectNoLeaks(id, b);
  });

  it('exec --detach --pid-file', async () => {
    const b = bundle(['/bin/hull-probe', 'sleep', '1000']);
    const id = newId('exd');
    ok('run', '-d', '--bundle', b.dir, id);
    const pidFile = path.join(work, `${id}-exec.pid`);
    const r = oci('exec', '--detach', '--pid-file', pidFile, id, '/bin/sleep', '1000');
    expect(r.code, r.stderr).toBe(0);
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    expect(JSON.parse(oci('ps', '--format', 'json', id).stdout)).toContain(pid);
    ok('delete', '-f', id);
    expectNoLeaks(id, b);
  });
});

describe('hull-oci errors', () => {
  it('rejects a duplicate id and leaves the first container alone', () => {
    const b = bundle(['/bin/true']);
    const id = newId('dup');
    ok('create', '--bundle', b.dir, id);
    const again = oci('create', '--bundle', b.dir, id);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`container with id exists: ${id}`);
    expect(state(id).status).toBe('created');
    ok('delete', '-f', id);
    expectNoLeaks(id, b);
  });

  it('rejects bad ids', () => {
    const b = bundle(['/bin/true']);
    for (const id of ['../x', 'a/b', '..', 'a b']) {
      const r = oci('create', '--bundle', b.dir, id);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('invalid container id');
    }
  });

  it('writes logrus-style json error lines to --log', () => {
    const log = path.join(work, 'errors.json');
    const r = hullOci(root, ['kill', 'missing-container', 'TERM'], { log });
    expect(r.code).toBe(1);
    const lines = fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.at(-1)).toMatchObject({ level: 'error', msg: 'container "missing-container" does not exist' });
    expect(Date.parse(lines.at(-1).time)).not.toBeNaN();
  });

  it('names the failing step when the process cannot start', () => {
    const b = bundle(['/bin/does-not-exist']);
    const id = newId('noexe');
    const r = oci('run', '--bundle', b.dir, id);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/does-not-exist|ENOENT|not found/);
    expectNoLeaks(id, b);
  });

  it('explains config.json problems with the field', () => {
    const b = bundle(['/bin/true'], (s) => (s.process!.cwd = 'relative'));
    const id = newId('badcfg');
    const r = oci('create', '--bundle', b.dir, id);
    expect(r.stderr).toContain('process.cwd: must be an absolute path');
    expect(fs.existsSync(path.join(root, id))).toBe(false);
  });

  it('refuses --systemd-cgroup clearly', () => {
    const r = hullOci(root, ['--systemd-cgroup', 'list']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--systemd-cgroup is not supported');
  });

  it('terminal without console socket fails create', () => {
    const b = bundle(['/bin/true'], (s) => (s.process!.terminal = true));
    const r = oci('create', '--bundle', b.dir, newId('tty'));
    expect(r.stderr).toContain('cannot allocate tty');
  });
});

describe('hull-oci spec, features, version', () => {
  it('spec writes runc-equivalent config.json and refuses to overwrite', () => {
    const dir = tempDir('hull-spec-');
    try {
      expect(hullOci(root, ['spec', '--bundle', dir]).code).toBe(0);
      const spec = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
      expect(spec.process.args).toEqual(['sh']);
      expect(spec.process.terminal).toBe(true);
      expect(hullOci(root, ['spec', '--bundle', dir]).stderr).toContain('config.json exists');
    } finally {
      removeTree(dir);
    }
  });

  it('features lists hooks, namespaces, mount options', () => {
    const f = JSON.parse(hullOci(root, ['features']).stdout);
    expect(f.ociVersionMax).toBe('1.2.0');
    expect(f.linux.namespaces).toContain('pid');
    expect(f.mountOptions).toContain('rbind');
  });

  it('--version', () => {
    const v = hullOci(root, ['--version']).stdout.split('\n');
    expect(v[0]).toMatch(/^hull-oci version \d/);
    expect(v[1]).toBe('spec: 1.2.0');
  });
});
