// Hooks (state on stdin, order, failures) and cgroup limits as the kernel sees them.
import { describe, it, expect, afterAll, afterEach } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { HULL_OCI, cgroupDirsContaining, hullOci } from '../setup/bundle';
import { ociHarness } from '../setup/oci-harness';
import { processesContaining } from '../setup/rootfs';
import { detectCgroupLayout } from '../../src/cgroup';
import type { Spec } from '../../src/runtime/spec';

const h = ociHarness('hooks');
const { oci, ok, bundle, newId } = h;
const { root, work } = h;

/** A hook that saves its stdin (the state JSON) and appends its name to an order file. */
function recordingHook(name: string) {
  const out = path.join(work, `${name}.json`);
  return { path: '/bin/sh', args: ['sh', '-c', `cat > ${out}; echo ${name} >> ${path.join(work, 'order')}`] };
}

afterEach(() => h.afterEachTest());
afterAll(() => h.afterAllTests());

describe('hooks', () => {
  it('runs prestart, createRuntime, createContainer, poststart, poststop in order with the state on stdin', () => {
    fs.rmSync(path.join(work, 'order'), { force: true });
    const b = bundle(['/bin/hull-probe', 'sleep', '1000'], (s) => {
      s.hooks = {
        prestart: [recordingHook('prestart')],
        createRuntime: [recordingHook('createRuntime')],
        createContainer: [recordingHook('createContainer')],
        poststart: [recordingHook('poststart')],
        poststop: [recordingHook('poststop')],
      };
    });
    const id = newId('hooks');
    ok('create', '--bundle', b.dir, id);
    const prestart = JSON.parse(fs.readFileSync(path.join(work, 'prestart.json'), 'utf8'));
    expect(prestart).toMatchObject({ id, status: 'creating', bundle: b.dir });
    expect(prestart.pid).toBeGreaterThan(1);
    ok('start', id);
    expect(JSON.parse(fs.readFileSync(path.join(work, 'poststart.json'), 'utf8'))).toMatchObject({ id, status: 'running' });
    ok('delete', '--force', id);
    expect(JSON.parse(fs.readFileSync(path.join(work, 'poststop.json'), 'utf8'))).toMatchObject({ id, status: 'stopped' });
    expect(fs.readFileSync(path.join(work, 'order'), 'utf8').trim().split('\n')).toEqual([
      'prestart', 'createRuntime', 'createContainer', 'poststart', 'poststop',
    ]);
    h.expectNoLeaks(id, b);
  });

  it('a delete --force of a foreground run runs the poststop hooks once, not once per remover', async () => {
    const count = path.join(work, 'poststop-count');
    fs.rmSync(count, { force: true });
    const b = bundle(['/bin/hull-probe', 'sleep', '1000'], (s) => {
      s.hooks = { poststop: [{ path: '/bin/sh', args: ['sh', '-c', `echo x >> ${count}`] }] };
    });
    const id = newId('race');
    // The foreground run sees its container killed and removes it; so does the delete.
    const run = spawn(process.execPath, [HULL_OCI, '--root', root, 'run', '--bundle', b.dir, id], { stdio: 'ignore' });
    const ended = new Promise<number | null>((resolve) => run.once('exit', (code) => resolve(code)));
    while (!fs.existsSync(path.join(root, id, 'state.json'))) await new Promise((r) => setTimeout(r, 10));
    ok('delete', '--force', id);
    expect(await ended).toBe(137);
    expect(fs.readFileSync(count, 'utf8')).toBe('x\n');
    h.expectNoLeaks(id, b);
  });

  it('a poststop hook may call hull-oci on its own container (the removal lock is released by then)', () => {
    const out = path.join(work, 'poststop-nested');
    fs.rmSync(out, { force: true });
    const id = newId('nested');
    const cli = `${process.execPath} ${HULL_OCI} --root ${root}`;
    const b = bundle(['/bin/true'], (s) => {
      s.hooks = { poststop: [{ path: '/bin/sh', args: ['sh', '-c', `${cli} delete --force ${id}; ${cli} state ${id} >/dev/null 2>&1; echo "delete state:$?" >> ${out}`], timeout: 20 }] };
    });
    const r = oci('run', '--bundle', b.dir, id);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.readFileSync(out, 'utf8')).toBe('delete state:1\n');
    expect(fs.readdirSync(root).filter((n) => n.includes(id))).toEqual([]);
    h.expectNoLeaks(id, b);
  });

  it('a failing prestart hook fails create and leaves nothing behind', () => {
    const b = bundle(['/bin/true'], (s) => {
      s.hooks = { prestart: [{ path: '/bin/sh', args: ['sh', '-c', 'echo nope >&2; exit 3'] }] };
    });
    const id = newId('badhook');
    const r = oci('create', '--bundle', b.dir, id);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('prestart hook #0 (/bin/sh): exit status 3: nope');
    expect(fs.existsSync(path.join(root, id))).toBe(false);
    h.expectNoLeaks(id, b);
  });

  it('a hook timeout is enforced', () => {
    const b = bundle(['/bin/true'], (s) => {
      s.hooks = { createRuntime: [{ path: '/bin/sleep', args: ['sleep', '30'], timeout: 1 }] };
    });
    const id = newId('slowhook');
    const r = oci('run', '--bundle', b.dir, id);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('timed out after 1s');
    h.expectNoLeaks(id, b);
  });

  it('startContainer hooks run in the container after start, before the process, with the state on stdin', () => {
    // The hook's path is the container's /bin/sh; it writes into the container's own /, sees the
    // container's hostname, and its state has the pid as the container sees it (1).
    const b = bundle(['/bin/true'], (s) => {
      s.hooks = {
        startContainer: [{ path: '/bin/sh', args: ['sh', '-c', 'cat > /hook.json; echo "$WHO" > /hook.env; hostname > /hook.host'], env: ['WHO=hook'] }],
      };
    });
    const id = newId('sc');
    ok('create', '--bundle', b.dir, id);
    expect(fs.existsSync(path.join(b.rootfs, 'hook.json'))).toBe(false); // not before start
    ok('start', id);
    const state = JSON.parse(fs.readFileSync(path.join(b.rootfs, 'hook.json'), 'utf8'));
    expect(state).toMatchObject({ ociVersion: expect.any(String), id, status: 'created', pid: 1, bundle: b.dir });
    expect(fs.readFileSync(path.join(b.rootfs, 'hook.env'), 'utf8')).toBe('hook\n');
    expect(fs.readFileSync(path.join(b.rootfs, 'hook.host'), 'utf8')).toBe('hull-test\n');
    ok('delete', '--force', id);
    h.expectNoLeaks(id, b);

    // run: the hooks have finished when the process starts (it prints what they wrote)
    const run = bundle(['/bin/cat', '/hook.env'], (s) => {
      s.hooks = { startContainer: [{ path: '/bin/sh', args: ['sh', '-c', 'echo ran > /hook.env'] }] };
    });
    expect(ok('run', '--bundle', run.dir, newId('scrun'))).toBe('ran\n');

    // as the container's user, with its seccomp filter already loaded (runc's order)
    const user = bundle(['/bin/cat', '/tmp/hook.id'], (s) => {
      s.process!.user = { uid: 1000, gid: 1000 };
      s.process!.noNewPrivileges = true;
      s.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }] };
      s.hooks = { startContainer: [{ path: '/bin/sh', args: ['sh', '-c', 'mkdir /tmp/d 2>/dev/null && m=made || m=refused; echo "$(id -u) $m" > /tmp/hook.id'] }] };
    });
    expect(ok('run', '--bundle', user.dir, newId('scuser'))).toBe('1000 refused\n');
  });

  it('a failing startContainer hook fails run and start, and the process never runs', () => {
    const hooks = { startContainer: [{ path: '/bin/true' }, { path: '/bin/sh', args: ['sh', '-c', 'echo nope >&2; exit 3'] }] };
    const b = bundle(['/bin/echo', 'Hello World'], (s) => {
      s.hooks = hooks;
    });
    const runId = newId('scfail');
    const r = oci('run', '--bundle', b.dir, runId);
    expect(r.code).not.toBe(0);
    expect(r.stdout).not.toContain('Hello World');
    expect(r.stderr).toContain('error running startContainer hook #1: exit status 3, stdout: , stderr: nope');
    h.expectNoLeaks(runId, b);

    const startId = newId('scfail');
    ok('create', '--bundle', b.dir, startId);
    const s = oci('start', startId);
    expect(s.code).not.toBe(0);
    expect(s.stdout).not.toContain('Hello World');
    expect(s.stderr).toContain('error running startContainer hook #1: exit status 3');
    expect(JSON.parse(ok('state', startId)).status).toBe('stopped');
    ok('delete', startId);
    h.expectNoLeaks(startId, b);
  });

  it('a startContainer hook that is missing or too slow fails the start', () => {
    const missing = bundle(['/bin/true'], (s) => {
      s.hooks = { startContainer: [{ path: '/no/such/hook' }] };
    });
    const r = oci('run', '--bundle', missing.dir, newId('scmissing'));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('error running startContainer hook #0: fork/exec /no/such/hook: no such file or directory');
    const slow = bundle(['/bin/true'], (s) => {
      s.hooks = { startContainer: [{ path: '/bin/sleep', args: ['sleep', '30'], timeout: 1 }] };
    });
    const id = newId('scslow');
    ok('create', '--bundle', slow.dir, id);
    const s = oci('start', id);
    expect(s.code).not.toBe(0);
    expect(s.stderr).toContain('error running startContainer hook #0: hook ran past specified timeout of 1.0s');
    expect(processesContaining(slow.dir)).toEqual([]);
  });
});

describe('cgroups', () => {
  const layout = detectCgroupLayout();

  it('applies memory and pids limits to the v1/v2 files and the container sees them', () => {
    const b = bundle(['/bin/hull-probe', 'sleep', '1000'], (s) => {
      s.linux!.resources = { ...s.linux!.resources, memory: { limit: 64 << 20 }, pids: { limit: 32 }, cpu: { shares: 512, quota: 50000, period: 100000 } };
    });
    const id = newId('limits');
    ok('run', '-d', '--bundle', b.dir, id);
    if (layout.mode === 'unified') {
      const dir = `/sys/fs/cgroup/hull-oci/${id}`;
      expect(fs.readFileSync(`${dir}/memory.max`, 'utf8').trim()).toBe(String(64 << 20));
      expect(fs.readFileSync(`${dir}/pids.max`, 'utf8').trim()).toBe('32');
    } else {
      expect(fs.readFileSync(`/sys/fs/cgroup/memory/hull-oci/${id}/memory.limit_in_bytes`, 'utf8').trim()).toBe(String(64 << 20));
      expect(fs.readFileSync(`/sys/fs/cgroup/pids/hull-oci/${id}/pids.max`, 'utf8').trim()).toBe('32');
      const cpuDir = layout.v1.find((h) => h.controllers.includes('cpu'))!.mountPoint;
      expect(fs.readFileSync(`${cpuDir}/hull-oci/${id}/cpu.shares`, 'utf8').trim()).toBe('512');
      expect(fs.readFileSync(`${cpuDir}/hull-oci/${id}/cpu.cfs_quota_us`, 'utf8').trim()).toBe('50000');
      // inside: /sys/fs/cgroup/memory is the container's own group
      const inside = ok('exec', id, '/bin/cat', '/sys/fs/cgroup/memory/memory.limit_in_bytes');
      expect(inside.trim()).toBe(String(64 << 20));
    }
    const forks = JSON.parse(ok('exec', id, '/bin/hull-probe', 'forkbomb', '64'));
    expect(forks.forked).toBeLessThan(64);
    expect(forks.errnoName).toBe('EAGAIN');

    ok('update', '--pids-limit', '100', id);
    const pidsFile = layout.mode === 'unified' ? `/sys/fs/cgroup/hull-oci/${id}/pids.max` : `/sys/fs/cgroup/pids/hull-oci/${id}/pids.max`;
    expect(fs.readFileSync(pidsFile, 'utf8').trim()).toBe('100');
    const viaStdin = hullOci(root, ['update', '-r', '-', id], { input: JSON.stringify({ pids: { limit: 50 } }) });
    expect(viaStdin.code, viaStdin.stderr).toBe(0);
    expect(fs.readFileSync(pidsFile, 'utf8').trim()).toBe('50');
    ok('delete', '--force', id);
    h.expectNoLeaks(id, b);
  });

  it('a process over its memory limit is OOM-killed (137)', () => {
    const b = bundle(['/bin/hull-probe', 'memhog', '64'], (s) => {
      s.linux!.resources = { ...s.linux!.resources, memory: { limit: 16 << 20, swap: 16 << 20 } };
    });
    const id = newId('oom');
    const r = oci('run', '--bundle', b.dir, id);
    expect(r.code).toBe(137);
    h.expectNoLeaks(id, b);
  });

  it('a limit the kernel refuses fails the start: the process (waiting at cgroup-wait) never runs, nothing is left', () => {
    // The limits are written while the helper already sets the container up; the program must
    // still never run when a write fails.
    const marker = path.join(work, 'ran');
    const b = bundle(['/bin/sh', '-c', `echo ran > ${marker}`], (s) => {
      s.linux!.resources = { ...s.linux!.resources, cpu: { cpus: '4096' } };
      s.mounts!.push({ destination: work, type: 'bind', source: work, options: ['rbind'] });
    });
    const id = newId('badlimit');
    const r = oci('run', '--bundle', b.dir, id);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/cpuset\.cpus/);
    expect(fs.existsSync(marker)).toBe(false);
    h.expectNoLeaks(id, b);
    expect(oci('state', id).code).not.toBe(0);
  });

  it('puts the container in its own cgroup and removes it on delete', () => {
    const b = bundle(['/bin/hull-probe', 'report'], (s) => {
      s.linux!.cgroupsPath = `/hull-oci/custom-${process.pid}`;
    });
    const id = newId('cgpath');
    const report = JSON.parse(ok('run', '--bundle', b.dir, id));
    expect(report.cgroup.join('\n')).toContain(`/hull-oci/custom-${process.pid}`);
    expect(cgroupDirsContaining(`custom-${process.pid}`)).toEqual([]);
  });
});
