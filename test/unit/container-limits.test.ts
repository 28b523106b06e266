// Docker's limit flags → validated values → OCI spec fields; every malformed or out-of-range value is
// a usage error (exit 125) before anything is created.
import { describe, expect, it } from 'vitest';
import { ContainerCliError } from '../../src/container/errors';
import {
  checkUlimitsAgainstHost, hostHardLimits, parseDevice, parseLimitFlags, parseUlimit, validateSysctl,
} from '../../src/container/options';
import { applyLimits, buildContainerSpec, limitResources, resolveDevice, type ContainerSpecInput } from '../../src/container/spec';
import type { Device } from '../../src/runtime/spec';

const input = (over: Partial<ContainerSpecInput> = {}): ContainerSpecInput => ({
  rootfs: '/r', args: ['sh'], env: ['PATH=/bin'], cwd: '/', user: { uid: 0, gid: 0, additionalGids: [] }, tty: false,
  hostname: 'h', readonlyRootfs: false, network: 'none', privileged: false, capAdd: [], capDrop: [], noNewPrivileges: false,
  seccomp: 'default', mounts: [], cgroupsPath: '/hull/x', ...over,
});

const parse = (f: Parameters<typeof parseLimitFlags>[0]) => parseLimitFlags(f, { hostCpus: 2 });

function usage(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ContainerCliError);
    expect((err as ContainerCliError).exitCode).toBe(125);
    return (err as Error).message;
  }
  throw new Error('expected a usage error');
}

describe('limit flags', () => {
  it('map to cgroup resources as docker does', () => {
    const limits = parse({ memory: '64m', memorySwap: '128m', memoryReservation: '32m', cpus: '0.5', cpuShares: '512', cpusetCpus: '0-1', pidsLimit: '64' });
    expect(limitResources(limits)).toEqual({
      memory: { limit: 64 << 20, swap: 128 << 20, reservation: 32 << 20 },
      cpu: { period: 100000, quota: 50000, shares: 512, cpus: '0-1' },
      pids: { limit: 64 },
    });
    expect(limits.nanoCpus).toBe(500_000_000);
    expect(limitResources(parse({ memory: '64m', memorySwap: '-1' })).memory).toEqual({ limit: 64 << 20, swap: -1 });
    expect(limitResources(parse({ pidsLimit: '-1' })).pids).toEqual({ limit: -1 });
    expect(limitResources(parse({ pidsLimit: '0' })).pids).toEqual({ limit: -1 });
    expect(limitResources(parse({ cpus: '1.5' })).cpu).toEqual({ period: 100000, quota: 150000 });
    expect(limitResources(parse({}))).toEqual({});
  });

  it('reject malformed and out-of-range values', () => {
    expect(usage(() => parse({ memory: '5m' }))).toMatch(/Minimum memory limit/);
    expect(usage(() => parse({ memory: 'lots' }))).toMatch(/not a size/);
    expect(usage(() => parse({ memorySwap: '1g' }))).toMatch(/Memory limit/);
    expect(usage(() => parse({ memory: '64m', memorySwap: '32m' }))).toMatch(/larger than memory/);
    expect(usage(() => parse({ memory: '64m', memoryReservation: '128m' }))).toMatch(/reservation/);
    expect(usage(() => parse({ cpus: '0' }))).toMatch(/minimum/);
    expect(usage(() => parse({ cpus: '-1' }))).toMatch(/not a number/);
    expect(usage(() => parse({ cpus: 'half' }))).toMatch(/not a number/);
    expect(usage(() => parse({ cpus: '3' }))).toMatch(/only 2 CPUs/);
    expect(usage(() => parse({ cpuShares: '1' }))).toMatch(/out of range/);
    expect(usage(() => parse({ cpuShares: 'x' }))).toMatch(/not an integer/);
    expect(usage(() => parse({ cpusetCpus: '0-' }))).toMatch(/cpuset/);
    expect(usage(() => parse({ cpusetCpus: '3-1' }))).toMatch(/reversed/);
    expect(usage(() => parse({ cpusetCpus: '0,5' }))).toMatch(/CPU 5 is not available/);
    expect(usage(() => parse({ pidsLimit: '-2' }))).toMatch(/out of range/);
    expect(usage(() => parse({ pidsLimit: '1.5' }))).toMatch(/not an integer/);
    expect(usage(() => parse({ oomScoreAdj: '1001' }))).toMatch(/out of range/);
    expect(usage(() => parse({ ulimit: ['nofile=10', 'nofile=20'] }))).toMatch(/twice/);
  });

  it('update may set the swap limit alone', () => {
    expect(limitResources(parseLimitFlags({ memorySwap: '1g' }, { update: true, hostCpus: 2 })).memory).toEqual({ swap: 1 << 30 });
  });
});

describe('--ulimit', () => {
  it('takes docker names, soft[:hard] and unlimited', () => {
    expect(parseUlimit('nofile=1024:2048')).toEqual({ name: 'nofile', soft: 1024, hard: 2048 });
    expect(parseUlimit('nproc=100')).toEqual({ name: 'nproc', soft: 100, hard: 100 });
    expect(parseUlimit('core=0:unlimited')).toEqual({ name: 'core', soft: 0, hard: -1 });
    expect(usage(() => parseUlimit('nofiles=1'))).toMatch(/unknown limit "nofiles"/);
    expect(usage(() => parseUlimit('nofile'))).toMatch(/name=soft/);
    expect(usage(() => parseUlimit('nofile=2:1'))).toMatch(/above the hard limit/);
    expect(usage(() => parseUlimit('nofile=a'))).toMatch(/not a number/);
    expect(usage(() => parseUlimit('nofile=1:2:3'))).toMatch(/name=soft/);
  });

  it('cannot go above our own hard limit without CAP_SYS_RESOURCE', () => {
    const hard = hostHardLimits('Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 20000                files\nMax core file size        0                    unlimited            bytes\n');
    expect(hard).toEqual({ nofile: 20000, core: -1 });
    expect(() => checkUlimitsAgainstHost([{ name: 'nofile', soft: 1024, hard: 20000 }], hard, false)).not.toThrow();
    expect(usage(() => checkUlimitsAgainstHost([{ name: 'nofile', soft: 1024, hard: 20001 }], hard, false))).toMatch(/CAP_SYS_RESOURCE/);
    expect(usage(() => checkUlimitsAgainstHost([{ name: 'nofile', soft: -1, hard: -1 }], hard, false))).toMatch(/unlimited/);
    expect(() => checkUlimitsAgainstHost([{ name: 'core', soft: -1, hard: -1 }], hard, false)).not.toThrow();
    expect(() => checkUlimitsAgainstHost([{ name: 'nofile', soft: 1, hard: 99999 }], hard, true)).not.toThrow();
  });
});

describe('--sysctl', () => {
  it('allows only sysctls of the container namespaces', () => {
    expect(validateSysctl('net.ipv4.ip_forward=1')).toEqual(['net.ipv4.ip_forward', '1']);
    expect(validateSysctl('kernel.shmmax=1000')).toEqual(['kernel.shmmax', '1000']);
    expect(validateSysctl('kernel.msgmax=1000')).toEqual(['kernel.msgmax', '1000']);
    expect(validateSysctl('kernel.sem=250 32000 32 128')).toEqual(['kernel.sem', '250 32000 32 128']);
    expect(validateSysctl('fs.mqueue.msg_max=20')).toEqual(['fs.mqueue.msg_max', '20']);
    expect(validateSysctl('net/core/somaxconn=1')).toEqual(['net.core.somaxconn', '1']);
    expect(usage(() => validateSysctl('kernel.panic=1'))).toMatch(/not allowed/);
    expect(usage(() => validateSysctl('vm.swappiness=1'))).toMatch(/not allowed/);
    expect(usage(() => validateSysctl('kernel.semx=1'))).toMatch(/not allowed/);
    expect(usage(() => validateSysctl('net.ipv4.ip_forward=1', 'host'))).toMatch(/host network/);
    expect(usage(() => validateSysctl('net.ipv4.ip_forward'))).toMatch(/name=value/);
  });
});

describe('--device', () => {
  it('parses host[:container][:perms]', () => {
    expect(parseDevice('/dev/fuse')).toEqual({ hostPath: '/dev/fuse', containerPath: '/dev/fuse', permissions: 'rwm' });
    expect(parseDevice('/dev/null:/dev/mynull')).toEqual({ hostPath: '/dev/null', containerPath: '/dev/mynull', permissions: 'rwm' });
    expect(parseDevice('/dev/null:r')).toEqual({ hostPath: '/dev/null', containerPath: '/dev/null', permissions: 'r' });
    expect(parseDevice('/dev/null:/dev/x:rw')).toEqual({ hostPath: '/dev/null', containerPath: '/dev/x', permissions: 'rw' });
    expect(usage(() => parseDevice('/dev/null:/dev/x:rwx'))).toMatch(/permissions/);
    expect(usage(() => parseDevice('/dev/null:/dev/x:rr'))).toMatch(/permissions/);
    expect(usage(() => parseDevice('dev/null'))).toMatch(/absolute/);
    expect(usage(() => parseDevice('/dev/null:/etc/x'))).toMatch(/under \/dev/);
    expect(usage(() => parseDevice('/dev/null:/dev/../x'))).toMatch(/\.\./);
    expect(usage(() => parse({ device: ['/dev/null:/dev/a', '/dev/zero:/dev/a'] }))).toMatch(/twice/);
  });

  it('resolves a host node to its type and numbers', () => {
    expect(resolveDevice({ hostPath: '/dev/null', containerPath: '/dev/n', permissions: 'rw' }))
      .toMatchObject([{ type: 'c', path: '/dev/n', major: 1, minor: 3 }]);
    const fake = { isCharacterDevice: () => false, isBlockDevice: () => true, isDirectory: () => false, rdev: (8 << 8) | 17, mode: 0o60660, uid: 0, gid: 6 };
    const io = { stat: () => fake, lstat: () => fake, readdir: () => [] };
    expect(resolveDevice({ hostPath: '/dev/sdb1', containerPath: '/dev/sdb1', permissions: 'r' }, io))
      .toEqual([{ type: 'b', path: '/dev/sdb1', major: 8, minor: 17, fileMode: 0o660, uid: 0, gid: 6 }]);
    // Numbers above 255/4095 use the high bits of dev_t (glibc's makedev layout).
    const big = { ...fake, rdev: Number((259n << 8n) | ((0x12345n & ~0xffn) << 12n) | (0x12345n & 0xffn)) };
    expect(resolveDevice({ hostPath: '/dev/nvme', containerPath: '/dev/nvme', permissions: 'r' }, { ...io, stat: () => big })[0])
      .toMatchObject({ major: 259, minor: 0x12345 });
    expect(usage(() => resolveDevice({ hostPath: '/etc/passwd', containerPath: '/dev/p', permissions: 'r' }))).toMatch(/not a device/);
    expect(usage(() => resolveDevice({ hostPath: '/dev/no-such', containerPath: '/dev/p', permissions: 'r' }))).toMatch(/ENOENT/);
  });

  it('expands a directory to every device node below it, at the same relative paths', () => {
    const node = (type: 'c' | 'b' | 'd' | 'f' | 'l', major = 0, minor = 0) => ({
      isCharacterDevice: () => type === 'c', isBlockDevice: () => type === 'b', isDirectory: () => type === 'd',
      rdev: (major << 8) | minor, mode: (type === 'd' ? 0o40755 : 0o20666), uid: 0, gid: 0,
    });
    const tree: Record<string, ReturnType<typeof node>> = {
      '/h/snd': node('d'), '/h/snd/timer': node('c', 116, 33), '/h/snd/by-path': node('d'), '/h/snd/by-path/link': node('l'),
      '/h/snd/pcm': node('d'), '/h/snd/pcm/c0': node('c', 116, 2), '/h/snd/readme': node('f'), '/h/snd/disk': node('b', 8, 0),
    };
    const children = (dir: string) => Object.keys(tree).filter((p) => p.startsWith(`${dir}/`) && !p.slice(dir.length + 1).includes('/')).map((p) => p.slice(dir.length + 1));
    const io = { stat: (p: string) => tree[p], lstat: (p: string) => tree[p], readdir: children };
    expect(resolveDevice({ hostPath: '/h/snd', containerPath: '/dev/sound', permissions: 'rw' }, io).map((d) => [d.path, d.type, d.major, d.minor])).toEqual([
      ['/dev/sound/disk', 'b', 8, 0], ['/dev/sound/pcm/c0', 'c', 116, 2], ['/dev/sound/timer', 'c', 116, 33],
    ]);
    const empty = { ...io, readdir: () => ['readme'], lstat: () => node('f') };
    expect(usage(() => resolveDevice({ hostPath: '/h/snd', containerPath: '/dev/snd', permissions: 'r' }, empty))).toMatch(/without device nodes/);
  });
});

describe('applyLimits', () => {
  it('puts rlimits, oom score, sysctls, devices and resources into the spec', () => {
    const limits = parse({ memory: '32m', pidsLimit: '64', ulimit: ['nofile=1024:1024', 'core=0:unlimited'], oomScoreAdj: '500', sysctl: ['net.ipv4.ip_forward=1'],
      device: ['/dev/null:/dev/x:r'] });
    const [device] = resolveDevice(limits.devices[0]);
    const spec = applyLimits(buildContainerSpec(input()), limits, [[device]]);
    expect(spec.process!.rlimits).toEqual([
      { type: 'RLIMIT_NOFILE', soft: 1024, hard: 1024 },
      { type: 'RLIMIT_CORE', soft: 0, hard: -1 },
    ]);
    expect(spec.process!.oomScoreAdj).toBe(500);
    expect(spec.linux!.sysctl).toEqual({ 'net.ipv4.ip_forward': '1' });
    expect(spec.linux!.devices).toEqual([device]);
    expect(spec.linux!.resources!.memory).toEqual({ limit: 32 << 20 });
    expect(spec.linux!.resources!.pids).toEqual({ limit: 64 });
    // Docker's deny-all and defaults stay first; the device's rule comes last with its permissions.
    expect(spec.linux!.resources!.devices![0]).toEqual({ allow: false, access: 'rwm' });
    expect(spec.linux!.resources!.devices!.at(-1)).toEqual({ allow: true, type: 'c', major: 1, minor: 3, access: 'r' });
  });

  it('gives every node of a directory the directory\'s permissions', () => {
    const limits = parse({ device: ['/dev/null:/dev/a:rw', '/h/dir:/dev/d:r'] });
    const a: Device = { type: 'c', path: '/dev/a', major: 1, minor: 3 };
    const d1: Device = { type: 'c', path: '/dev/d/x', major: 1, minor: 5 };
    const d2: Device = { type: 'b', path: '/dev/d/y/z', major: 7, minor: 1 };
    const spec = applyLimits(buildContainerSpec(input()), limits, [[a], [d1, d2]]);
    expect(spec.linux!.devices).toEqual([a, d1, d2]);
    expect(spec.linux!.resources!.devices!.slice(-3)).toEqual([
      { allow: true, type: 'c', major: 1, minor: 3, access: 'rw' },
      { allow: true, type: 'c', major: 1, minor: 5, access: 'r' },
      { allow: true, type: 'b', major: 7, minor: 1, access: 'r' },
    ]);
  });

  it('leaves a spec without limits as it was', () => {
    const plain = buildContainerSpec(input());
    expect(applyLimits(buildContainerSpec(input()), parse({}))).toEqual(plain);
  });
});

describe('--userns remap', () => {
  it('takes the subordinate range of hull, else root, and maps 65536 ids', async () => {
    const { parseUsernsMode, remapRanges, subordinateRange } = await import('../../src/container/userns');
    expect(subordinateRange('root:100000:65536\nhull:300000:131072\n', ['hull', 'root'])).toEqual({ start: 300000, count: 65536 });
    expect(subordinateRange('root:100000:65536\n', ['hull', 'root'])).toEqual({ start: 100000, count: 65536 });
    expect(subordinateRange('hull:100000:1000\n', ['hull'])).toBeUndefined(); // too small
    expect(subordinateRange('# nothing\nhull:x:65536\n', ['hull'])).toBeUndefined();
    expect(remapRanges('hull:200000:65536\n', 'hull:300000:65536\n')).toEqual({ uid: { start: 200000, count: 65536 }, gid: { start: 300000, count: 65536 }, user: 'hull' });
    expect(usage(() => remapRanges('', ''))).toMatch(/subordinate ids/);
    expect(usage(() => remapRanges('hull:200000:65536\n', 'root:1:65536\n'))).toMatch(/subordinate ids/);
    expect(parseUsernsMode(undefined)).toBe('host');
    expect(parseUsernsMode('host')).toBe('host');
    expect(parseUsernsMode('remap')).toBe('remap');
    expect(usage(() => parseUsernsMode('keep-id'))).toMatch(/host or remap/);
  });

  it('adds a user namespace with the mappings', async () => {
    const { applyUserns } = await import('../../src/container/spec');
    const spec = applyUserns(buildContainerSpec(input()), { start: 1000, count: 65536 }, { start: 2000, count: 65536 });
    expect(spec.linux!.namespaces!.filter((n) => n.type === 'user')).toHaveLength(1);
    expect(spec.linux!.uidMappings).toEqual([{ containerID: 0, hostID: 1000, size: 65536 }]);
    expect(spec.linux!.gidMappings).toEqual([{ containerID: 0, hostID: 2000, size: 65536 }]);
  });
});

describe('--security-opt seccomp=FILE', () => {
  it('reads OCI and Docker profiles, resolving includes/excludes for the capabilities', async () => {
    const { loadSeccompProfile } = await import('../../src/container/spec');
    const docker = JSON.stringify({
      defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 1,
      archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] }],
      syscalls: [
        { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' },
        { names: ['mount'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
        { names: ['arch_prctl'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['amd64'] } },
        { names: ['ptrace'], action: 'SCMP_ACT_ALLOW', excludes: { caps: ['CAP_SYS_PTRACE'] } },
      ],
    });
    const p = loadSeccompProfile('p.json', ['CAP_CHOWN'], 'x64', () => docker);
    expect(p.architectures).toEqual(['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    expect(p.syscalls!.map((s) => s.names[0])).toEqual(['read', 'arch_prctl', 'ptrace']);
    const admin = loadSeccompProfile('p.json', ['CAP_SYS_ADMIN', 'CAP_SYS_PTRACE'], 'arm64', () => docker);
    expect(admin.syscalls!.map((s) => s.names[0])).toEqual(['read', 'mount']);
    const oci = loadSeccompProfile('o.json', [], 'x64', () => '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}');
    expect(oci).toEqual({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }] });
  });

  it('refuses unreadable, malformed and uncompilable profiles', async () => {
    const { loadSeccompProfile } = await import('../../src/container/spec');
    expect(usage(() => loadSeccompProfile('/no/such/profile.json', []))).toMatch(/ENOENT/);
    expect(usage(() => loadSeccompProfile('x', [], 'x64', () => 'not json'))).toMatch(/seccomp profile/);
    expect(usage(() => loadSeccompProfile('x', [], 'x64', () => '[]'))).toMatch(/JSON object/);
    expect(usage(() => loadSeccompProfile('x', [], 'x64', () => '{"syscalls":[]}'))).toMatch(/defaultAction/);
    expect(usage(() => loadSeccompProfile('x', [], 'x64', () => '{"defaultAction":"SCMP_ACT_NOPE"}'))).toMatch(/not supported/);
    expect(usage(() => loadSeccompProfile('x', [], 'x64', () => '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"action":"SCMP_ACT_ERRNO"}]}'))).toMatch(/names/);
  });
});
