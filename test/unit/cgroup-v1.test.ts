import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it, expect } from 'vitest';
import { v1ResourceWrites, deviceRuleText } from '../../src/cgroup';
import { V1Cgroup, deviceRulesToApply } from '../../src/cgroup/v1';

describe('cgroup v1 resource mapping', () => {
  it('maps memory, cpu, cpuset, pids to v1 files', () => {
    const writes = v1ResourceWrites({
      memory: { limit: 8 << 20, reservation: 4 << 20, swap: 16 << 20, swappiness: 0 },
      cpu: { shares: 512, quota: 50000, period: 100000, cpus: '0-1', mems: '0' },
      pids: { limit: 32 },
      blockIO: { weight: 500 },
    });
    expect(writes.map((w) => `${w.controller}/${w.file}=${w.value}`)).toEqual([
      `memory/memory.limit_in_bytes=${8 << 20}`,
      `memory/memory.memsw.limit_in_bytes=${16 << 20}`,
      `memory/memory.soft_limit_in_bytes=${4 << 20}`,
      'memory/memory.swappiness=0',
      'cpu/cpu.shares=512',
      'cpu/cpu.cfs_period_us=100000',
      'cpu/cpu.cfs_quota_us=50000',
      'cpuset/cpuset.cpus=0-1',
      'cpuset/cpuset.mems=0',
      'pids/pids.max=32',
      'blkio/blkio.weight=500',
    ]);
  });

  it('maps unlimited values', () => {
    expect(v1ResourceWrites({ memory: { limit: -1 }, pids: { limit: -1 }, cpu: { quota: -1 } })).toEqual([
      { controller: 'memory', file: 'memory.limit_in_bytes', value: '-1' },
      { controller: 'cpu', file: 'cpu.cfs_quota_us', value: '-1' },
      { controller: 'pids', file: 'pids.max', value: 'max' },
    ]);
  });

  it('writes the config\'s device rules in order, then the runtime\'s; nothing without either', () => {
    const runtime = [{ allow: true, type: 'c' as const, major: 1, minor: 3, access: 'rwm' }];
    const writes = v1ResourceWrites({ devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 10, minor: 229, access: 'r' }] }, runtime);
    expect(writes).toEqual([
      { controller: 'devices', file: 'devices.deny', value: 'a' },
      { controller: 'devices', file: 'devices.allow', value: 'c 10:229 r' },
      { controller: 'devices', file: 'devices.allow', value: 'c 1:3 rwm' },
    ]);
    expect(v1ResourceWrites({ memory: {} })).toEqual([]);
    expect(v1ResourceWrites(undefined)).toEqual([]);
  });

  it('device rules are an allow-list as runc\'s: "deny a" first unless the config starts with it', () => {
    const runtime = [{ allow: true, type: 'c' as const, major: 1, minor: 3, access: 'rwm' }];
    // No config rules (runc: only the defaults are allowed, not everything).
    expect(v1ResourceWrites(undefined, runtime).map((w) => `${w.file} ${w.value}`)).toEqual(['devices.deny a', 'devices.allow c 1:3 rwm']);
    expect(deviceRulesToApply({ devices: [{ allow: true, type: 'c', major: 4, access: 'rw' }] }, runtime)).toEqual([
      { allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 4, access: 'rw' }, ...runtime,
    ]);
    // privileged: "allow a" after the leading deny still opens everything.
    expect(deviceRulesToApply({ devices: [{ allow: true, access: 'rwm' }] })!.map(deviceRuleText)).toEqual(['a', 'a']);
    expect(deviceRulesToApply({ devices: [{ allow: false, type: 'a', access: 'rwm' }] })).toHaveLength(1);
    expect(deviceRulesToApply({}, [])).toBeUndefined();
  });

  it('formats device rules', () => {
    expect(deviceRuleText({ allow: true, type: 'b', major: 8, access: 'r' })).toBe('b 8:* r');
    expect(deviceRuleText({ allow: true })).toBe('a');
    expect(deviceRuleText({ allow: false, type: 'c', major: -1, minor: -1, access: 'm' })).toBe('c *:* m');
  });
});

describe("V1Cgroup.apply's parts (a container start writes the device rules before the helper, the rest while it works)", () => {
  it("'devices' writes only the devices hierarchy, 'limits' everything else", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hull-cg1-'));
    try {
      const dirs = { memory: path.join(root, 'memory'), devices: path.join(root, 'devices') };
      for (const d of Object.values(dirs)) fs.mkdirSync(d);
      const cg = new V1Cgroup({ version: 1, path: '/c', dirs }, [{ allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }]);
      const resources = { memory: { limit: 1 << 20 } };
      cg.apply(resources, 'devices');
      expect(fs.readdirSync(dirs.memory)).toEqual([]);
      expect(fs.readFileSync(path.join(dirs.devices, 'devices.allow'), 'utf8')).toBe('c 1:3 rwm');
      fs.rmSync(path.join(dirs.devices, 'devices.allow'));
      fs.rmSync(path.join(dirs.devices, 'devices.deny'));
      cg.apply(resources, 'limits');
      expect(fs.readdirSync(dirs.devices)).toEqual([]);
      expect(fs.readFileSync(path.join(dirs.memory, 'memory.limit_in_bytes'), 'utf8')).toBe(String(1 << 20));
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
