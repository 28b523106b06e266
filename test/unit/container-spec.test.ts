import { describe, expect, it } from 'vitest';
import {
  boundingCapabilities, buildContainerSpec, DEFAULT_CAPABILITIES, effectiveCapabilities, mergeEnv, resolveArgs, type ContainerSpecInput,
} from '../../src/container/spec';

const input = (over: Partial<ContainerSpecInput> = {}): ContainerSpecInput => ({
  rootfs: '/r', args: ['sh'], env: ['PATH=/bin'], cwd: '/', user: { uid: 0, gid: 0, additionalGids: [] }, tty: false,
  hostname: 'h', readonlyRootfs: false, network: 'none', privileged: false, capAdd: [], capDrop: [], noNewPrivileges: false,
  seccomp: 'default', mounts: [], cgroupsPath: '/hull/x', ...over,
});

describe('container spec', () => {
  it("has docker's defaults", () => {
    const spec = buildContainerSpec(input());
    expect(spec.process!.capabilities!.bounding).toEqual(DEFAULT_CAPABILITIES);
    expect(spec.process!.capabilities!.inheritable).toBeUndefined();
    expect(spec.process!.capabilities!.ambient).toBeUndefined();
    expect(spec.linux!.seccomp!.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(spec.linux!.maskedPaths).toContain('/proc/kcore');
    expect(spec.linux!.readonlyPaths).toContain('/proc/sysrq-trigger');
    expect(spec.linux!.namespaces!.map((n) => n.type).sort()).toEqual(['ipc', 'mount', 'network', 'pid', 'uts']);
    expect(spec.mounts!.map((m) => m.destination)).toEqual(['/proc', '/dev', '/dev/pts', '/sys', '/sys/fs/cgroup', '/dev/mqueue', '/dev/shm']);
    expect(spec.mounts!.find((m) => m.destination === '/sys')!.options).toContain('ro');
    expect(spec.linux!.resources!.devices![0]).toEqual({ allow: false, access: 'rwm' });
  });

  it('--privileged, --network host, user mounts after the defaults and by depth', () => {
    const priv = buildContainerSpec(input({ privileged: true, network: 'host', availableCapabilities: ['CAP_SYS_ADMIN', 'CAP_KILL'],
      mounts: [{ destination: '/a/b', type: 'tmpfs' }, { destination: '/a', type: 'tmpfs' }, { destination: '/dev/shm', type: 'tmpfs', source: 'mine' }] }));
    expect(priv.process!.capabilities!.bounding).toEqual(['CAP_SYS_ADMIN', 'CAP_KILL']);
    expect(priv.linux!.seccomp).toBeUndefined();
    expect(priv.linux!.maskedPaths).toBeUndefined();
    expect(priv.linux!.namespaces!.some((n) => n.type === 'network')).toBe(false);
    const dests = priv.mounts!.map((m) => m.destination);
    expect(dests.indexOf('/a')).toBeLessThan(dests.indexOf('/a/b'));
    expect(priv.mounts!.filter((m) => m.destination === '/dev/shm')).toEqual([{ destination: '/dev/shm', type: 'tmpfs', source: 'mine' }]);
  });

  it('cap-add/cap-drop follow docker', () => {
    expect(effectiveCapabilities(false, ['NET_ADMIN'], ['chown'])).toContain('CAP_NET_ADMIN');
    expect(effectiveCapabilities(false, ['NET_ADMIN'], ['chown'])).not.toContain('CAP_CHOWN');
    expect(effectiveCapabilities(false, ['KILL'], ['ALL'])).toEqual(['CAP_KILL']);
    expect(() => effectiveCapabilities(false, ['NOT_A_CAP'], [])).toThrow(/unknown capability/);
    expect(boundingCapabilities('CapBnd:\t0000000000000021\n')).toEqual(['CAP_CHOWN', 'CAP_KILL']);
  });

  it('entrypoint, cmd and env merging', () => {
    expect(resolveArgs({ Entrypoint: ['/ep'], Cmd: ['a'] }, undefined, [])).toEqual(['/ep', 'a']);
    expect(resolveArgs({ Entrypoint: ['/ep'], Cmd: ['a'] }, undefined, ['b'])).toEqual(['/ep', 'b']);
    expect(resolveArgs({ Entrypoint: ['/ep'], Cmd: ['a'] }, 'sh', [])).toEqual(['sh']);
    expect(resolveArgs({ Cmd: ['a'] }, '', ['x'])).toEqual(['x']);
    expect(() => resolveArgs({}, undefined, [])).toThrow(/no command/);
    expect(mergeEnv(['PATH=/a', 'X=1'], ['PATH=/b'], ['Y=2'])).toEqual(['PATH=/b', 'X=1', 'Y=2']);
  });
});
