import { describe, it, expect } from 'vitest';
import { compilePlan, serializePlan, parseLine, escapeField, unescapeField, PlanError, type PlanOptions } from '../../src/runtime/plan';
import { defaultSpec, type Spec } from '../../src/runtime/spec';
import { MS } from '../../src/runtime/flags';
import { DEFAULT_DEVICES, defaultDeviceRules, defaultDevices } from '../../src/runtime/default-devices';
import { deviceRuleText } from '../../src/cgroup';

const baseOptions: PlanOptions = {
  mode: 'create',
  id: 'c1',
  bundle: '/b',
  stateDir: '/run/hull-oci/c1',
  execFifo: '/run/hull-oci/c1/exec.fifo',
  detach: true,
  trace: false,
  cgroupDirs: ['/sys/fs/cgroup/memory/hull-oci/c1', '/sys/fs/cgroup/pids/hull-oci/c1'],
  cgroupVersion: 1,
  devCore: true,
  cgroupMountSources: [
    { name: 'memory', hostDir: '/sys/fs/cgroup/memory/hull-oci/c1', aliases: [] },
    { name: 'cpu,cpuacct', hostDir: '/sys/fs/cgroup/cpu,cpuacct/hull-oci/c1', aliases: ['cpu', 'cpuacct'] },
  ],
};

function testSpec(): Spec {
  const spec = defaultSpec();
  spec.process!.terminal = false;
  spec.process!.args = ['/bin/echo', 'hi'];
  return spec;
}

const opNames = (ops: readonly (readonly string[])[]) => ops.map((o) => o[0]);

describe('compilePlan', () => {
  it('compiles the runc default spec (create mode) in the creation order', () => {
    const ops = compilePlan(testSpec(), baseOptions);
    expect(ops.map((o) => o.join(' | '))).toMatchSnapshot();
  });

  it('follows REFERENCE §2 ordering', () => {
    const ops = opNames(compilePlan(testSpec(), baseOptions));
    const order = ['mode', 'clone', 'cgroup-join', 'rlimit', 'propagation', 'rootfs', 'mount', 'mkdev', 'symlink', 'pivot',
      'readonly-root', 'mask', 'readonly', 'hostname', 'umask', 'nnp', 'caps', 'user', 'cwd', 'env', 'arg', 'seccomp', 'exec'];
    const spec = testSpec();
    spec.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }] };
    const withSeccomp = opNames(compilePlan(spec, { ...baseOptions, cgroupMountSources: [] }));
    let last = -1;
    for (const name of order) {
      const i = withSeccomp.indexOf(name);
      expect(i, name).toBeGreaterThan(last);
      last = i;
    }
    expect(ops.at(-1)).toBe('exec');
  });

  it('puts seccomp before user without noNewPrivileges', () => {
    const spec = testSpec();
    spec.process!.noNewPrivileges = false;
    spec.linux!.seccomp = {
      defaultAction: 'SCMP_ACT_ERRNO',
      defaultErrnoRet: 38,
      architectures: ['SCMP_ARCH_X86_64'],
      flags: ['SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_TSYNC'],
      syscalls: [
        { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' },
        { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 2114060288, op: 'SCMP_CMP_MASKED_EQ' }] },
        { names: ['personality'], action: 'SCMP_ACT_ERRNO', errnoRet: 22 },
      ],
    };
    const ops = compilePlan(spec, baseOptions);
    const names = opNames(ops);
    expect(names.indexOf('seccomp-load')).toBeLessThan(names.indexOf('user'));
    expect(names.indexOf('seccomp')).toBeGreaterThan(names.indexOf('umask'));
    expect(ops.filter((o) => o[0].startsWith('seccomp'))).toEqual([
      ['seccomp', 'errno', '38', 'log', 'SCMP_ARCH_X86_64'],
      ['seccomp-rule', 'allow', '0', 'read,write', ''],
      ['seccomp-rule', 'allow', '0', 'clone', '0:masked-eq:2114060288:0'],
      ['seccomp-rule', 'errno', '22', 'personality', ''],
      ['seccomp-load'],
    ]);
  });

  it('puts seccomp right before exec with noNewPrivileges', () => {
    const spec = testSpec();
    spec.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW' };
    const names = opNames(compilePlan(spec, baseOptions));
    expect(names.slice(-3)).toEqual(['seccomp', 'seccomp-load', 'exec']);
  });

  it('rejects unsupported seccomp actions with the field', () => {
    const spec = testSpec();
    spec.linux!.seccomp = { defaultAction: 'SCMP_ACT_BOGUS' };
    expect(() => compilePlan(spec, baseOptions)).toThrow(/linux.seccomp.defaultAction: seccomp action SCMP_ACT_BOGUS/);
  });

  it('SCMP_ACT_NOTIFY rules: a seccomp-listener op with the state (exec: status running, the init pid)', () => {
    const spec = testSpec();
    spec.annotations = { a: 'b' };
    spec.linux!.seccomp = {
      defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '/run/agent.sock', listenerMetadata: 'meta',
      syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' }],
    };
    const ops = compilePlan(spec, baseOptions);
    expect(ops).toContainEqual(['seccomp-rule', 'notify', '0', 'mkdir', '']);
    expect(ops.find((o) => o[0] === 'seccomp-listener')).toEqual([
      'seccomp-listener', '/run/agent.sock', '1.2.0', 'meta',
      '{"ociVersion":"1.2.0","id":"c1","status":"creating","bundle":"/b","annotations":{"a":"b"}}',
    ]);
    const exec = compilePlan(spec, { ...baseOptions, mode: 'exec', execFifo: undefined, initPid: 42, process: spec.process });
    expect(JSON.parse(exec.find((o) => o[0] === 'seccomp-listener')![4])).toMatchObject({ status: 'running', pid: 42 });
    spec.linux!.seccomp.syscalls = [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }];
    expect(opNames(compilePlan(spec, baseOptions))).not.toContain('seccomp-listener'); // listenerPath ignored
  });

  it('joins namespaces by path and creates the rest, with user maps', () => {
    const spec = testSpec();
    spec.linux!.namespaces = [
      { type: 'user' }, { type: 'pid' }, { type: 'network', path: '/var/run/netns/x' }, { type: 'mount' }, { type: 'uts' },
    ];
    spec.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    spec.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    const ops = compilePlan(spec, baseOptions);
    expect(ops.filter((o) => ['setns', 'clone', 'setgroups', 'uid-map', 'gid-map'].includes(o[0]))).toEqual([
      ['setns', 'net', '/var/run/netns/x'],
      ['clone', 'user,pid,mount,uts'],
      ['setgroups', 'allow'],
      ['uid-map', '0', '100000', '65536'],
      ['gid-map', '0', '100000', '65536'],
    ]);
  });

  it('needs maps for a new user namespace', () => {
    const spec = testSpec();
    spec.linux!.namespaces!.push({ type: 'user' });
    expect(() => compilePlan(spec, baseOptions)).toThrow(PlanError);
  });

  it('refuses a hostname without a uts namespace and host-wide sysctls', () => {
    const spec = testSpec();
    spec.linux!.namespaces = spec.linux!.namespaces!.filter((n) => n.type !== 'uts');
    expect(() => compilePlan(spec, baseOptions)).toThrow(/hostname: .*uts/);
    const s2 = testSpec();
    s2.linux!.sysctl = { 'vm.swappiness': '10' };
    expect(() => compilePlan(s2, baseOptions)).toThrow(/linux.sysctl.vm.swappiness/);
    const s3 = testSpec();
    s3.linux!.sysctl = { 'net.ipv4.ip_forward': '1', 'kernel.shmmax': '1000' };
    expect(compilePlan(s3, baseOptions).filter((o) => o[0] === 'sysctl')).toEqual([
      ['sysctl', 'net.ipv4.ip_forward', '1'],
      ['sysctl', 'kernel.shmmax', '1000'],
    ]);
  });

  it('compiles bind mounts with bundle-relative sources, flags and propagation', () => {
    const spec = testSpec();
    spec.mounts = [
      { destination: '/data', type: 'bind', source: 'data', options: ['rbind', 'ro', 'nosuid', 'rprivate'] },
      { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nodev', 'size=1m', 'mode=1777'] },
    ];
    const mounts = compilePlan(spec, baseOptions).filter((o) => o[0] === 'mount');
    expect(mounts).toEqual([
      ['mount', '/b/data', '/data', 'bind', String(MS.BIND | MS.REC | MS.RDONLY | MS.NOSUID), '', String(MS.PRIVATE | MS.REC)],
      ['mount', 'tmpfs', '/tmp', 'tmpfs', String(MS.NODEV), 'size=1m,mode=1777', '0'],
    ]);
  });

  it('emits mount-setattr right after a mount with recursive options, and only then', () => {
    const spec = testSpec();
    spec.mounts = [
      { destination: '/data', type: 'bind', source: 'data', options: ['rbind', 'ro', 'rro', 'rnoexec', 'rprivate'] },
      { destination: '/plain', type: 'bind', source: 'plain', options: ['rbind', 'ro'] },
      { destination: '/scratch', type: 'tmpfs', source: 'tmpfs', options: ['rnoatime', 'size=1m'] },
    ];
    const ops = compilePlan(spec, baseOptions);
    const at = ops.findIndex((o) => o[0] === 'mount' && o[2] === '/data');
    expect(ops[at + 1]).toEqual(['mount-setattr', '/data', '0x9', '0x0']);
    expect(ops[at + 2]).toEqual(['mount', '/b/plain', '/plain', 'bind', String(MS.BIND | MS.REC | MS.RDONLY), '', '0']);
    expect(ops[at + 3]).toEqual(['mount', 'tmpfs', '/scratch', 'tmpfs', '0', 'size=1m', '0']);
    expect(ops[at + 4]).toEqual(['mount-setattr', '/scratch', '0x10', '0x70']);
    expect(ops.filter((o) => o[0] === 'mount-setattr')).toHaveLength(2);
  });

  it('compiles an idmapped bind mount to mount-idmap (attributes as mount_setattr bits), plain binds unchanged', () => {
    const spec = testSpec();
    const map = [{ containerID: 0, hostID: 100000, size: 65536 }, { containerID: 65536, hostID: 300000, size: 10 }];
    const gmap = [{ containerID: 0, hostID: 200000, size: 65536 }];
    spec.mounts = [
      { destination: '/data', type: 'bind', source: 'data', options: ['bind', 'ro', 'nosuid', 'noatime', 'rprivate'], uidMappings: map, gidMappings: gmap },
      { destination: '/tree', source: '/srv/tree', options: ['rbind', 'ridmap', 'rro'], uidMappings: map, gidMappings: gmap },
      { destination: '/top', type: 'bind', source: '/srv/top', options: ['rbind', 'idmap'], uidMappings: map, gidMappings: gmap },
      { destination: '/plain', type: 'bind', source: '/srv/plain', options: ['bind'], uidMappings: [], gidMappings: [] },
    ];
    const ops = compilePlan(spec, baseOptions);
    const uid = '0:100000:65536,65536:300000:10';
    const gid = '0:200000:65536';
    const at = ops.findIndex((o) => o[0] === 'mount-idmap');
    expect(ops.slice(at, at + 5)).toEqual([
      ['mount-idmap', '/b/data', '/data', 'bind', 'idmap', '0x13', '0x70', String(MS.PRIVATE | MS.REC), uid, gid],
      ['mount-idmap', '/srv/tree', '/tree', 'rbind', 'ridmap', '0x0', '0x0', '0', uid, gid],
      ['mount-setattr', '/tree', '0x1', '0x0'],
      ['mount-idmap', '/srv/top', '/top', 'rbind', 'idmap', '0x0', '0x0', '0', uid, gid],
      ['mount', '/srv/plain', '/plain', 'bind', String(MS.BIND), '', '0'],
    ]);
    // idmap/ridmap never reach mount(2) data.
    expect(ops.filter((o) => o[0] === 'mount').some((o) => /idmap/.test(o[5] ?? ''))).toBe(false);
  });

  it('idmap/ridmap without mappings take the container\'s own; refused without a user namespace', () => {
    const spec = testSpec();
    spec.mounts = [{ destination: '/data', type: 'bind', source: '/srv/data', options: ['bind', 'idmap'] }];
    expect(() => compilePlan(spec, baseOptions)).toThrow(/"idmap" without uidMappings\/gidMappings needs a new user namespace/);
    spec.linux!.namespaces!.push({ type: 'user' });
    spec.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    spec.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    const op = compilePlan(spec, baseOptions).find((o) => o[0] === 'mount-idmap');
    expect(op).toEqual(['mount-idmap', '/srv/data', '/data', 'bind', 'idmap', '0x0', '0x0', '0', '0:100000:65536', '0:100000:65536']);
  });

  it('refuses mappings on a mount that is not a bind mount', () => {
    const spec = testSpec();
    const map = [{ containerID: 0, hostID: 100000, size: 65536 }];
    spec.mounts = [{ destination: '/scratch', type: 'tmpfs', source: 'tmpfs', uidMappings: map, gidMappings: map }];
    expect(() => compilePlan(spec, baseOptions)).toThrow('mounts: /scratch: idmapped mounts are only supported for bind mounts');
  });

  it('emits mount-setattr after the whole v1 cgroup tree', () => {
    const spec = testSpec();
    spec.mounts = [{ destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['ro', 'rnosuid'] }];
    const ops = compilePlan(spec, baseOptions);
    const first = ops.findIndex((o) => o[0] === 'mount' && o[2] === '/sys/fs/cgroup');
    const at = ops.findIndex((o) => o[0] === 'mount-setattr');
    // tmpfs, the binds and links of each hierarchy, the read-only remount of the tmpfs: then the attributes.
    expect(ops.slice(first, at).every((o) => String(o[2]).startsWith('/sys/fs/cgroup'))).toBe(true);
    expect(ops[at - 1]).toEqual(['mount', 'tmpfs', '/sys/fs/cgroup', 'tmpfs', String(MS.RDONLY | MS.REMOUNT), 'mode=755', '0']);
    expect(ops[at]).toEqual(['mount-setattr', '/sys/fs/cgroup', '0x2', '0x0']);
  });

  it('skips default /dev nodes when /dev is bound', () => {
    const spec = testSpec();
    spec.mounts = [{ destination: '/dev', type: 'bind', source: '/dev', options: ['rbind'] }];
    const names = opNames(compilePlan(spec, baseOptions));
    expect(names).not.toContain('mkdev');
    expect(names).not.toContain('symlink');
  });

  it('adds linux.devices after the defaults', () => {
    const spec = testSpec();
    spec.linux!.devices = [{ type: 'c', path: '/dev/fuse', major: 10, minor: 229, fileMode: 0o600, uid: 0, gid: 0 }];
    const devs = compilePlan(spec, baseOptions).filter((o) => o[0] === 'mkdev');
    expect(devs.at(-1)).toEqual(['mkdev', '/dev/fuse', 'c', '10', '229', '0600', '0', '0']);
    expect(devs[0]).toEqual(['mkdev', '/dev/null', 'c', '1', '3', '0666', '0', '0']);
  });

  it('creates the default nodes with paths (runc\'s list), but not one linux.devices redefines', () => {
    const spec = testSpec();
    const nodes = (s: typeof spec) => compilePlan(s, baseOptions).filter((o) => o[0] === 'mkdev').map((o) => o.slice(1, 5).join(' '));
    expect(nodes(spec)).toEqual(['/dev/null c 1 3', '/dev/random c 1 8', '/dev/full c 1 7', '/dev/tty c 5 0', '/dev/zero c 1 5', '/dev/urandom c 1 9']);
    expect(DEFAULT_DEVICES.filter((d) => d.path).map((d) => `${d.path} ${d.type} ${d.major} ${d.minor}`)).toEqual(nodes(spec));
    spec.linux!.devices = [{ type: 'c', path: '/dev/zero', major: 1, minor: 5, fileMode: 0o640 }];
    const redefined = compilePlan(spec, baseOptions).filter((o) => o[0] === 'mkdev' && o[1] === '/dev/zero');
    expect(redefined).toEqual([['mkdev', '/dev/zero', 'c', '1', '5', '0640', '0', '0']]);
  });

  it('default device rules: mknod of anything, the nodes, ptys, tun; a redefined path loses its rule', () => {
    const text = (spec: ReturnType<typeof testSpec>) => defaultDeviceRules(defaultDevices(spec)).map(deviceRuleText);
    const spec = testSpec();
    expect(text(spec)).toEqual([
      'c *:* m', 'b *:* m', 'c 1:3 rwm', 'c 1:8 rwm', 'c 1:7 rwm', 'c 5:0 rwm', 'c 1:5 rwm', 'c 1:9 rwm', 'c 136:* rwm', 'c 5:2 rwm', 'c 10:200 rwm',
    ]);
    expect(defaultDeviceRules(defaultDevices(spec)).every((r) => r.allow)).toBe(true);
    // runc compares paths; a node elsewhere with the same numbers keeps the default rule.
    spec.linux!.devices = [{ type: 'c', path: '/dev/zero', major: 1, minor: 5 }, { type: 'c', path: '/dev/z', major: 1, minor: 9 }];
    expect(text(spec)).not.toContain('c 1:5 rwm');
    expect(text(spec)).toContain('c 1:9 rwm');
  });

  it('mounts cgroup2 on v2 hosts', () => {
    const ops = compilePlan(testSpec(), { ...baseOptions, cgroupVersion: 2, cgroupDirs: ['/sys/fs/cgroup/hull-oci/c1'] });
    expect(ops.filter((o) => o[0] === 'mount' && o[2] === '/sys/fs/cgroup')).toEqual([
      ['mount', 'cgroup', '/sys/fs/cgroup', 'cgroup2', String(MS.NOSUID | MS.NOEXEC | MS.NODEV | MS.RELATIME | MS.RDONLY), '', '0'],
    ]);
  });

  it('adds hook sync points only when hooks exist', () => {
    expect(opNames(compilePlan(testSpec(), baseOptions))).not.toContain('sync');
    const spec = testSpec();
    spec.hooks = { createRuntime: [{ path: '/bin/true' }], createContainer: [{ path: '/bin/true' }] };
    const ops = compilePlan(spec, baseOptions);
    const names = opNames(ops);
    const syncs = ops.filter((o) => o[0] === 'sync');
    expect(syncs).toEqual([['sync', 'create-runtime'], ['sync', 'create-container']]);
    expect(names.indexOf('sync')).toBeLessThan(names.indexOf('propagation'));
    expect(names.lastIndexOf('sync')).toBeLessThan(names.indexOf('pivot'));
  });

  it('cgroupWait: the joins right before cgroup-wait, which comes before the binds of v1 directories or else credentials', () => {
    const spec = testSpec();
    spec.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 10, hard: 10 }];
    const plain = opNames(compilePlan(spec, baseOptions));
    expect(plain).not.toContain('cgroup-wait');
    expect(plain.indexOf('cgroup-join')).toBeLessThan(plain.indexOf('rlimit'));

    const ops = compilePlan(spec, { ...baseOptions, cgroupWait: true });
    const names = opNames(ops);
    expect(names.filter((n) => n === 'cgroup-wait')).toHaveLength(1);
    expect(names.indexOf('rlimit')).toBeLessThan(names.indexOf('cgroup-join'));
    // The container process moves into its v1 cgroups at the wait (the caller makes them while it
    // sets up): the joins are listed there, and the wait comes before the first bind of one of
    // those directories under /sys/fs/cgroup.
    const wait = names.indexOf('cgroup-wait');
    expect(names.slice(wait - 2, wait + 1)).toEqual(['cgroup-join', 'cgroup-join', 'cgroup-wait']);
    expect(ops[wait + 1]).toEqual(expect.arrayContaining(['mount', '/sys/fs/cgroup/memory/hull-oci/c1']));
    expect(ops.findIndex((o) => o[0] === 'mount' && o[3] === 'proc')).toBeLessThan(wait);
    // A config's own bind of something inside (or above) a v1 directory waits for it too.
    const inside = testSpec();
    inside.mounts = [
      ...inside.mounts!.filter((m) => m.type !== 'cgroup'),
      { destination: '/mem', type: 'bind', source: '/sys/fs/cgroup/memory/hull-oci/c1/memory.stat', options: ['bind', 'ro'] },
    ];
    const insideOps = compilePlan(inside, { ...baseOptions, cgroupWait: true });
    const insideWait = insideOps.findIndex((o) => o[0] === 'cgroup-wait');
    expect(insideOps[insideWait + 1]).toEqual(expect.arrayContaining(['mount', '/sys/fs/cgroup/memory/hull-oci/c1/memory.stat']));
    // Without a cgroup mount: after the filesystem, right before the first credential step.
    const unmounted = testSpec();
    unmounted.mounts = unmounted.mounts!.filter((m) => m.type !== 'cgroup');
    const late = opNames(compilePlan(unmounted, { ...baseOptions, cgroupWait: true }));
    expect(late.indexOf('cgroup-wait')).toBeGreaterThan(late.lastIndexOf('readonly'));
    expect(late.indexOf('cgroup-wait')).toBe(late.indexOf('umask') - 1);
    expect(late.indexOf('cgroup-wait')).toBeLessThan(late.indexOf('user'));
    // exec joins a running container's cgroups: nothing to wait for.
    expect(opNames(compilePlan(spec, { ...baseOptions, mode: 'exec', initPid: 42, process: spec.process!, cgroupWait: true }))).not.toContain('cgroup-wait');
  });

  it('cgroupWait: before the first hook sync and before a cgroup2 mount', () => {
    const hooked = testSpec();
    hooked.hooks = { createRuntime: [{ path: '/bin/true' }] };
    const names = opNames(compilePlan(hooked, { ...baseOptions, cgroupWait: true }));
    expect(names.indexOf('cgroup-wait')).toBe(names.indexOf('sync') - 1);

    const ops = compilePlan(testSpec(), { ...baseOptions, cgroupWait: true, cgroupVersion: 2, cgroupDirs: ['/sys/fs/cgroup/hull-oci/c1'] });
    const cgroupMount = ops.findIndex((o) => o[0] === 'mount' && o[3] === 'cgroup2');
    expect(cgroupMount).toBeGreaterThan(0);
    expect(ops[cgroupMount - 1]).toEqual(['cgroup-wait']);
  });

  it('run mode has no fifo; no-pivot uses chroot; rootfsPropagation applied after pivot', () => {
    const spec = testSpec();
    spec.linux!.rootfsPropagation = 'shared';
    const ops = compilePlan(spec, { ...baseOptions, mode: 'run', execFifo: undefined, noPivot: true, preserveFds: 2 });
    expect(opNames(ops)).not.toContain('exec-fifo');
    expect(ops).toContainEqual(['pivot', 'chroot']);
    expect(ops).toContainEqual(['propagation', String(MS.SHARED)]);
    expect(ops).toContainEqual(['rootfs-propagation', String(MS.SHARED)]);
    expect(ops).toContainEqual(['preserve-fds', '2']);
  });

  it("monitor 0 only when asked (hull-oci: the caller's subreaper reaps the container)", () => {
    expect(opNames(compilePlan(testSpec(), baseOptions))).not.toContain('monitor');
    expect(compilePlan(testSpec(), { ...baseOptions, monitor: false }).slice(0, 3)).toEqual([['mode', 'create'], ['detach', '1'], ['monitor', '0']]);
  });

  it('log-file and oom-check are header settings, only when asked and only with a monitor', () => {
    const plain = opNames(compilePlan(testSpec(), baseOptions));
    expect(plain).not.toContain('log-file');
    expect(plain).not.toContain('oom-check');
    const logFile = { path: '/var/lib/hull/c1-json.log', maxSize: 1024, maxFiles: 2 };
    const oomCheck = '/sys/fs/cgroup/memory/hull-oci/c1/memory.oom_control';
    const ops = compilePlan(testSpec(), { ...baseOptions, logFile, oomCheck });
    expect(ops).toContainEqual(['log-file', '/var/lib/hull/c1-json.log', '1024', '2']);
    expect(ops).toContainEqual(['oom-check', oomCheck]);
    expect(opNames(ops).indexOf('oom-check')).toBeLessThan(opNames(ops).indexOf('clone'));
    // maxFiles 0 would mean "no file at all": the helper's minimum is 1 (truncate instead of rotating).
    expect(compilePlan(testSpec(), { ...baseOptions, logFile: { ...logFile, maxFiles: 0 } })).toContainEqual(['log-file', logFile.path, '1024', '1']);
    expect(() => compilePlan(testSpec(), { ...baseOptions, monitor: false, logFile })).toThrow(/log-file/);
    expect(opNames(compilePlan(testSpec(), { ...baseOptions, monitor: false, oomCheck }))).not.toContain('oom-check');
  });

  it('exit-command: an absolute program the monitor runs after exit.json, only with a monitor', () => {
    const exitCommand = ['/usr/bin/node', '/opt/hull/bin/hull', '--root', '/var/lib/hull', 'container', 'cleanup', 'c1'];
    expect(opNames(compilePlan(testSpec(), baseOptions))).not.toContain('exit-command');
    const ops = compilePlan(testSpec(), { ...baseOptions, exitCommand });
    expect(ops).toContainEqual(['exit-command', ...exitCommand]);
    expect(opNames(ops).indexOf('exit-command')).toBeLessThan(opNames(ops).indexOf('clone'));
    expect(() => compilePlan(testSpec(), { ...baseOptions, monitor: false, exitCommand })).toThrow(PlanError);
    expect(() => compilePlan(testSpec(), { ...baseOptions, exitCommand: ['node', 'hull'] })).toThrow(/absolute path/);
  });

  it('attach-socket: for output the monitor keeps (its pty, or the log pipes); stdin pipe only without a terminal', () => {
    const spec = testSpec();
    spec.process!.terminal = true;
    const attachSocket = '/var/lib/hull/runtime/c1/attach.sock';
    const logFile = { path: '/var/lib/hull/containers/c1/c1-json.log', maxSize: 0, maxFiles: 1 };
    expect(compilePlan(spec, { ...baseOptions, attachSocket })).toContainEqual(['attach-socket', attachSocket, '0']);
    expect(compilePlan(spec, { ...baseOptions, attachSocket, attachStdin: true })).toContainEqual(['attach-socket', attachSocket, '0']);
    // No terminal: the monitor has output to relay only when it reads the pipes for the log.
    expect(() => compilePlan(testSpec(), { ...baseOptions, attachSocket })).toThrow(/attach-socket/);
    expect(compilePlan(testSpec(), { ...baseOptions, attachSocket, logFile })).toContainEqual(['attach-socket', attachSocket, '0']);
    expect(compilePlan(testSpec(), { ...baseOptions, attachSocket, logFile, attachStdin: true })).toContainEqual(['attach-socket', attachSocket, '1']);
    expect(() => compilePlan(spec, { ...baseOptions, attachSocket, consoleSocket: '/tmp/s.sock' })).toThrow(PlanError);
    expect(() => compilePlan(spec, { ...baseOptions, attachSocket, monitor: false })).toThrow(PlanError);
  });

  it('timeOffsets: the container makes its time namespace itself (`time` leaves clone), offsets checked', () => {
    const spec = testSpec();
    spec.linux!.namespaces!.push({ type: 'time' });
    expect(compilePlan(spec, baseOptions).find((o) => o[0] === 'clone')?.[1]).toContain('time');
    spec.linux!.timeOffsets = { boottime: { secs: 172800, nanosecs: 0 }, monotonic: { secs: -5, nanosecs: 7 } };
    const ops = compilePlan(spec, baseOptions);
    expect(ops.find((o) => o[0] === 'clone')?.[1]).not.toContain('time');
    expect(ops.filter((o) => o[0] === 'time-offset')).toEqual([['time-offset', 'boottime', '172800', '0'], ['time-offset', 'monotonic', '-5', '7']]);
    expect(() => compilePlan({ ...spec, linux: { ...spec.linux, timeOffsets: { realtime: { secs: 1 } } } }, baseOptions)).toThrow(/monotonic and boottime/);
    expect(() => compilePlan({ ...spec, linux: { ...spec.linux, timeOffsets: { boottime: { secs: 1, nanosecs: 1e9 } } } }, baseOptions)).toThrow(/nanosecs/);
    const noTimeNs = testSpec();
    noTimeNs.linux!.timeOffsets = { boottime: { secs: 1 } };
    expect(() => compilePlan(noTimeNs, baseOptions)).toThrow(/new time namespace/);
  });

  it('startContainer hooks: one start-hook (+ args, env) each, with the state; relative paths refused', () => {
    const spec = testSpec();
    spec.hooks = { startContainer: [{ path: '/bin/hook', args: ['hook', '-v'], env: ['A=1'], timeout: 3 }] };
    const ops = compilePlan(spec, { ...baseOptions, startHookState: '{"id":"c1"}' });
    const at = opNames(ops).indexOf('start-hook');
    expect(ops.slice(at, at + 4)).toEqual([['start-hook', '/bin/hook', '3', '{"id":"c1"}'], ['start-hook-arg', 'hook'], ['start-hook-arg', '-v'], ['start-hook-env', 'A=1']]);
    expect(opNames(compilePlan(testSpec(), baseOptions))).not.toContain('start-hook');
    spec.hooks = { startContainer: [{ path: 'hook' }] };
    expect(() => compilePlan(spec, baseOptions)).toThrow(/startContainer\[0\]\.path/);
  });

  it('terminal without console socket lets the monitor keep the pty', () => {
    const spec = testSpec();
    spec.process!.terminal = true;
    expect(compilePlan(spec, baseOptions)).toContainEqual(['terminal', '1']);
    spec.process!.consoleSize = { height: 40, width: 120 };
    expect(compilePlan(spec, baseOptions)).toContainEqual(['console-size', '40', '120']);
    const withSocket = compilePlan(spec, { ...baseOptions, consoleSocket: '/tmp/s.sock' });
    expect(withSocket).toContainEqual(['console-socket', '/tmp/s.sock']);
    expect(opNames(withSocket)).not.toContain('terminal');
  });

  it('exec mode joins the init namespaces and does no mounts', () => {
    const spec = testSpec();
    const ops = compilePlan(spec, {
      ...baseOptions, mode: 'exec', execFifo: undefined, initPid: 4242,
      process: { user: { uid: 1000, gid: 1000, additionalGids: [5, 6] }, cwd: '/tmp', args: ['id'], env: ['A=1'] },
    });
    expect(ops.map((o) => o.join(' | '))).toMatchSnapshot();
    expect(opNames(ops)).not.toContain('mount');
    expect(ops).toContainEqual(['setns', 'mnt', '/proc/4242/ns/mnt']);
    expect(ops).toContainEqual(['user', '1000', '1000', '5,6']);
  });

  it('rejects mount destinations outside the root', () => {
    const spec = testSpec();
    spec.mounts = [{ destination: '/../etc', type: 'tmpfs', source: 'tmpfs' }];
    expect(() => compilePlan(spec, baseOptions)).toThrow(/destination/);
  });
});

describe('wire format', () => {
  it('escapes backslash, tab and newline and round-trips', () => {
    const raw = 'a\tb\nc\\d\\t';
    expect(escapeField(raw)).toBe('a\\tb\\nc\\\\d\\\\t');
    expect(unescapeField(escapeField(raw))).toBe(raw);
    expect(parseLine(['x', escapeField(raw), ''].join('\t'))).toEqual(['x', raw, '']);
  });

  it('serializes lines and ends with end', () => {
    expect(serializePlan([['mode', 'run'], ['env', 'A=\t'], ['exec']])).toBe('mode\trun\nenv\tA=\\t\nexec\nend\n');
  });
});
