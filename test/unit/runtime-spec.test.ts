import { describe, it, expect } from 'vitest';
import { defaultSpec, validateSpec, validateProcess, SpecError } from '../../src/runtime/spec';

describe('defaultSpec', () => {
  it('matches runc spec content', () => {
    const s = defaultSpec();
    expect(s.process!.args).toEqual(['sh']);
    expect(s.process!.terminal).toBe(true);
    expect(s.root).toEqual({ path: 'rootfs', readonly: true });
    expect(s.hostname).toBe('runc');
    expect(s.mounts!.map((m) => m.destination)).toEqual(['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/sys/fs/cgroup']);
    expect(s.linux!.namespaces!.map((n) => n.type)).toEqual(['pid', 'network', 'ipc', 'uts', 'mount']);
    expect(validateSpec(s, { requireProcess: true })).toBe(s);
  });
});

describe('validateSpec', () => {
  const bad = (mutate: (s: any) => void) => {
    const s: any = defaultSpec();
    mutate(s);
    return () => validateSpec(s, { requireProcess: true });
  };
  it('names the offending field', () => {
    expect(bad((s) => (s.process.args = []))).toThrow('invalid config.json: process.args: must not be empty');
    expect(bad((s) => (s.process.args = ['a', 3]))).toThrow('process.args[1]: expected string, got number');
    expect(bad((s) => (s.process.cwd = 'tmp'))).toThrow('process.cwd: must be an absolute path');
    expect(bad((s) => delete s.root)).toThrow('root: is required');
    expect(bad((s) => (s.ociVersion = 2))).toThrow('ociVersion: expected string');
    expect(bad((s) => (s.mounts[2].destination = ''))).toThrow('mounts[2].destination');
    expect(bad((s) => (s.linux.namespaces[1].type = 'bogus'))).toThrow('linux.namespaces[1].type: unknown namespace type "bogus"');
    expect(bad((s) => s.linux.namespaces.push({ type: 'pid' }))).toThrow('duplicate namespace');
    expect(bad((s) => (s.process.rlimits[0].type = 'RLIMIT_FOO'))).toThrow('process.rlimits[0].type: unknown rlimit');
    expect(bad((s) => (s.process.env = ['NOEQUALS']))).toThrow('process.env[0]');
    expect(bad((s) => (s.hooks = { prestart: [{ path: 'rel' }] }))).toThrow('hooks.prestart[0].path');
    expect(bad((s) => (s.linux.rootfsPropagation = 'weird'))).toThrow('linux.rootfsPropagation');
    expect(bad((s) => (s.linux.uidMappings = [{ containerID: 0, hostID: 1, size: 1 }]))).toThrow('user namespace');
    expect(() => validateSpec([])).toThrow(SpecError);
  });
  it('idmapped mounts: bind mounts only, both mappings or neither, sizes positive', () => {
    const map = [{ containerID: 0, hostID: 100000, size: 65536 }];
    const withMount = (m: object) => (s: any) => s.mounts.push({ destination: '/data', type: 'bind', source: '/src', options: ['bind'], ...m });
    expect(bad(withMount({ uidMappings: map, gidMappings: map }))).not.toThrow();
    expect(bad(withMount({ options: ['rbind', 'ridmap'], uidMappings: map, gidMappings: map }))).not.toThrow();
    expect(bad(withMount({ uidMappings: [], gidMappings: [] }))).not.toThrow();
    expect(bad(withMount({ uidMappings: map }))).toThrow('mounts[7].gidMappings: idmapped mounts need both uidMappings and gidMappings');
    expect(bad(withMount({ gidMappings: map }))).toThrow('mounts[7].uidMappings: idmapped mounts need both');
    expect(bad(withMount({ uidMappings: [{ containerID: 0, hostID: 1, size: 0 }], gidMappings: map }))).toThrow(
      'mounts[7].uidMappings[0].size: must be greater than zero',
    );
    expect(bad(withMount({ uidMappings: map, gidMappings: [{ containerID: -1, hostID: 1, size: 1 }] }))).toThrow('ids must not be negative');
    expect(bad(withMount({ uidMappings: map, gidMappings: [{ containerID: 0, hostID: 0xffffffff, size: 2 }] }))).toThrow('largest id');
    expect(bad(withMount({ uidMappings: {}, gidMappings: map }))).toThrow('mounts[7].uidMappings: expected array');
    expect(bad(withMount({ uidMappings: [{ containerID: '0', hostID: 1, size: 1 }], gidMappings: map }))).toThrow('containerID: expected an integer');
    expect(bad(withMount({ type: 'tmpfs', source: 'tmpfs', options: [], uidMappings: map, gidMappings: map }))).toThrow(
      'mounts[7].uidMappings: idmapped mounts are only supported for bind mounts, not type "tmpfs"',
    );
    expect(bad(withMount({ type: 'tmpfs', source: 'tmpfs', options: ['idmap'] }))).toThrow('mounts[7].options: idmapped mounts are only supported for bind mounts');
  });
  it('validates exec process files', () => {
    expect(() => validateProcess({ args: ['sh'], cwd: '/', user: { uid: 0, gid: 0 } })).not.toThrow();
    expect(() => validateProcess({ args: ['sh'], cwd: '/' })).toThrow('process.user: is required');
  });
});
