import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { V2Cgroup, v2ResourceWrites, v2DeviceRules, sharesToWeight, cgroupFromRecord, parseCgroupLayout, cgroupForContainer, containerCgroupPath } from '../../src/cgroup';
import { tempDirsPerTest } from '../setup/temp-dirs';

const temp = tempDirsPerTest('hull-cg2-');

function fakeRoot(): string {
  const root = temp();
  fs.writeFileSync(path.join(root, 'cgroup.controllers'), 'cpuset cpu io memory hugetlb pids rdma misc\n');
  fs.writeFileSync(path.join(root, 'cgroup.subtree_control'), '');
  return root;
}

const FILES = ['memory.max', 'memory.low', 'memory.swap.max', 'cpu.weight', 'cpu.max', 'cpuset.cpus', 'cpuset.mems', 'pids.max', 'cgroup.freeze', 'cgroup.events', 'cgroup.kill', 'cgroup.procs'];

describe('cgroup v2 resource mapping', () => {
  it('converts shares to weight like runc', () => {
    expect(sharesToWeight(2)).toBe(1);
    expect(sharesToWeight(1024)).toBe(39);
    expect(sharesToWeight(262144)).toBe(10000);
  });

  it('maps memory, cpu, cpuset, pids', () => {
    expect(v2ResourceWrites({
      memory: { limit: 64 << 20, reservation: 32 << 20, swap: 128 << 20 },
      cpu: { shares: 1024, quota: 50000, period: 100000, cpus: '0', mems: '0' },
      pids: { limit: 64 },
    })).toEqual([
      { file: 'memory.low', value: String(32 << 20) },
      { file: 'memory.max', value: String(64 << 20) },
      { file: 'memory.swap.max', value: String(64 << 20) },
      { file: 'cpu.weight', value: '39' },
      { file: 'cpu.max', value: '50000 100000' },
      { file: 'cpuset.cpus', value: '0' },
      { file: 'cpuset.mems', value: '0' },
      { file: 'pids.max', value: '64' },
    ]);
  });

  it('maps -1 to max and unified keys through', () => {
    expect(v2ResourceWrites({ memory: { limit: -1, swap: -1 }, pids: { limit: -1 }, cpu: { quota: -1, period: 50000 }, unified: { 'memory.high': '1000000' } })).toEqual([
      { file: 'memory.max', value: 'max' },
      { file: 'memory.swap.max', value: 'max' },
      { file: 'cpu.max', value: 'max 50000' },
      { file: 'pids.max', value: 'max' },
      { file: 'memory.high', value: '1000000' },
    ]);
    expect(() => v2ResourceWrites({ unified: { '../x': '1' } })).toThrow(/invalid file name/);
    expect(() => v2ResourceWrites({ memory: { limit: 100, swap: 50 } })).toThrow(/swap/);
  });
});

describe('cgroup v2 device rules', () => {
  it('puts the config first, then the runtime\'s rules; none without either', () => {
    expect(v2DeviceRules(undefined)).toBeUndefined();
    expect(v2DeviceRules({ memory: {} })).toBeUndefined();
    const runtime = { allow: true, type: 'c' as const, major: 10, minor: 200, access: 'rwm' };
    expect(v2DeviceRules({ devices: [{ allow: false, access: 'rwm' }] }, [runtime])).toEqual([{ allow: false, access: 'rwm' }, runtime]);
    // No leading "deny a": the program denies what no rule allows.
    expect(v2DeviceRules(undefined, [runtime])).toEqual([runtime]);
    expect(v2DeviceRules({ devices: [{ allow: false, access: 'rwm' }] })).toEqual([{ allow: false, access: 'rwm' }]);
  });
});

describe('V2Cgroup on a fake tree', () => {
  it('enables controllers top-down, writes limits, freezes, kills, reports procs', async () => {
    const root = fakeRoot();
    const cg = V2Cgroup.forPath(root, '/hull-oci/c1');
    expect(cg.create(undefined)).toEqual([]);
    expect(fs.readFileSync(path.join(root, 'cgroup.subtree_control'), 'utf8')).toBe('+cpu +cpuset +io +memory +pids +hugetlb');
    const dir = path.join(root, 'hull-oci/c1');
    expect(cg.joinDirs()).toEqual([dir]);
    for (const f of FILES) fs.writeFileSync(path.join(dir, f), '');
    const warnings = cg.apply({ memory: { limit: 1 << 20 }, pids: { limit: 10 } });
    expect(warnings).toEqual([]);
    // Device rules become an eBPF program attached to the directory: a plain directory is no cgroup.
    expect(() => cg.apply({ devices: [{ allow: false, access: 'rwm' }] })).toThrow(/device filter for .*hull-oci\/c1: bpf\(BPF_PROG_QUERY\)/);
    expect(fs.readFileSync(path.join(dir, 'memory.max'), 'utf8')).toBe(String(1 << 20));
    expect(fs.readFileSync(path.join(dir, 'pids.max'), 'utf8')).toBe('10');

    fs.writeFileSync(path.join(dir, 'cgroup.events'), 'populated 1\nfrozen 1\n');
    await cg.freeze();
    expect(fs.readFileSync(path.join(dir, 'cgroup.freeze'), 'utf8')).toBe('1');
    expect(cg.isFrozen()).toBe(true);
    fs.writeFileSync(path.join(dir, 'cgroup.events'), 'populated 1\nfrozen 0\n');
    await cg.thaw();
    expect(fs.readFileSync(path.join(dir, 'cgroup.freeze'), 'utf8')).toBe('0');

    await cg.killAll();
    expect(fs.readFileSync(path.join(dir, 'cgroup.kill'), 'utf8')).toBe('1');

    fs.writeFileSync(path.join(dir, 'cgroup.procs'), '10\n11\n');
    fs.mkdirSync(path.join(dir, 'sub'));
    fs.writeFileSync(path.join(dir, 'sub/cgroup.procs'), '12\n');
    expect(cg.procs().sort()).toEqual([10, 11, 12]);

    const reopened = cgroupFromRecord(JSON.parse(JSON.stringify(cg.record)));
    expect(reopened.joinDirs()).toEqual([dir]);
  });

  it("apply's parts: 'limits' leaves the device filter out, 'devices' writes nothing else", () => {
    const root = fakeRoot();
    const cg = V2Cgroup.forPath(root, '/hull-oci/c2');
    cg.makeDirs();
    const dir = path.join(root, 'hull-oci/c2');
    for (const f of FILES) fs.writeFileSync(path.join(dir, f), '');
    const resources = { memory: { limit: 1 << 20 }, devices: [{ allow: false, access: 'rwm' }] };
    // A plain directory refuses a BPF program: 'limits' never tries one.
    expect(cg.apply(resources, 'limits')).toEqual([]);
    expect(fs.readFileSync(path.join(dir, 'memory.max'), 'utf8')).toBe(String(1 << 20));
    fs.writeFileSync(path.join(dir, 'memory.max'), '');
    expect(() => cg.apply(resources, 'devices')).toThrow(/device filter/);
    expect(fs.readFileSync(path.join(dir, 'memory.max'), 'utf8')).toBe('');
  });

  it('explains a missing controller file', () => {
    const root = fakeRoot();
    const cg = V2Cgroup.forPath(root, '/x');
    expect(() => cg.create({ memory: { limit: 100 } })).toThrow(/memory.max missing .*memory controller/);
  });
});

describe('layout detection and paths', () => {
  const hybrid = [
    '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
    '32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct',
    '35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
    '40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd',
    '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
  ].join('\n');
  it('detects hybrid, unified and legacy', () => {
    const layout = parseCgroupLayout(hybrid);
    expect(layout.mode).toBe('hybrid');
    expect(layout.unifiedRoot).toBe('/sys/fs/cgroup/unified');
    expect(layout.v1.map((h) => [h.name, h.controllers])).toEqual([
      ['cpu,cpuacct', ['cpu', 'cpuacct']], ['memory', ['memory']], ['systemd', ['name=systemd']],
    ]);
    expect(parseCgroupLayout('50 1 0:2 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate').mode).toBe('unified');
    expect(parseCgroupLayout(hybrid.split('\n').slice(0, 4).join('\n')).mode).toBe('legacy');
  });
  it('picks v2 on unified hosts, v1 with the unified dir on hybrid hosts', () => {
    const v2 = cgroupForContainer(undefined, 'c1', [], parseCgroupLayout('50 1 0:2 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw'));
    expect(v2.joinDirs()).toEqual(['/sys/fs/cgroup/hull-oci/c1']);
    const v1 = cgroupForContainer('/a/b', 'c1', [], parseCgroupLayout(hybrid));
    expect(v1.joinDirs()).toEqual(['/sys/fs/cgroup/cpu,cpuacct/a/b', '/sys/fs/cgroup/memory/a/b', '/sys/fs/cgroup/systemd/a/b', '/sys/fs/cgroup/unified/a/b']);
  });
  it('defaults and validates cgroupsPath', () => {
    expect(containerCgroupPath(undefined, 'x')).toBe('/hull-oci/x');
    expect(containerCgroupPath('foo/bar', 'x')).toBe('/foo/bar');
    expect(() => containerCgroupPath('system.slice:hull:x', 'x')).toThrow(/systemd cgroup driver is not supported/);
    expect(() => containerCgroupPath('/', 'x')).toThrow(/root cgroup/);
  });
});
