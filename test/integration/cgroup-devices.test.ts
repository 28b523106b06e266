// cgroup v2 device rules for real: the eBPF filter of native/cgroup.cc attached to a directory of
// this host's cgroup2 mount (/sys/fs/cgroup/unified on the hybrid development machines, the root on
// pure v2 ones). A shell moves itself into the group and then tries devices: allowed ones open,
// others fail with EPERM — also while the shell sits in the root of a v1 devices hierarchy that
// allows everything (the kernel asks the BPF program first). Removing the group releases the program.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { detectCgroupLayout, V2Cgroup } from '../../src/cgroup';
import { native, type DeviceFilterRule } from '../../src/native';
import { DEFAULT_DEVICES, defaultDeviceRules } from '../../src/runtime/default-devices';

const layout = detectCgroupLayout();
const unified = layout.unifiedRoot;
const base = unified ? path.join(unified, `hull-test-devices-${process.pid}`) : '';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hull-cgdev-'));

afterAll(async () => {
  if (base && fs.existsSync(base)) {
    for (const d of fs.readdirSync(base, { withFileTypes: true })) if (d.isDirectory()) fs.rmdirSync(path.join(base, d.name));
    fs.rmdirSync(base);
  }
  fs.rmSync(tmp, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function gone(id: number): Promise<boolean> {
  // The kernel frees a dead cgroup's programs from a workqueue: poll (a deadline, not a timing check).
  for (let i = 0; i < 200 && native().bpfProgramExists(id); i++) await sleep(25);
  return !native().bpfProgramExists(id);
}

/** A shell that joins `dir` and reports, one line each, whether each device could be opened. */
function tryDevices(dir: string, script: string): { lines: string[]; cgroups: string } {
  const r = spawnSync('sh', ['-c', `echo $$ > ${dir}/cgroup.procs || exit 99\ncat /proc/self/cgroup > ${tmp}/cgroups\n${script}`], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return { lines: r.stdout.trim().split('\n'), cgroups: fs.readFileSync(`${tmp}/cgroups`, 'utf8') };
}
// `true` is a regular builtin: a failed redirection is its failure (with `exec` dash would exit).
const open = (name: string, file: string, mode = '<>') => `if true 3${mode} ${file} 2>/dev/null; then echo ${name} ok; else echo ${name} denied; fi`;
const mknod = (name: string, file: string, major: number, minor: number) =>
  `if mknod ${file} c ${major} ${minor} 2>/dev/null; then echo ${name} ok; else echo ${name} denied; fi`;

describe.skipIf(!unified)('cgroup v2 eBPF device filter', () => {
  it('allowed devices open, others fail, mknod follows the m access', async () => {
    const dir = path.join(base, 'a');
    fs.mkdirSync(dir, { recursive: true });
    const rules: DeviceFilterRule[] = [
      { allow: false, access: 'rwm' },
      { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, // /dev/null
      { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' }, // /dev/full
      { allow: true, type: 'c', major: 1, minor: 9, access: 'r' }, // /dev/urandom, read only
    ];
    const id = native().setDeviceFilter(dir, rules);
    expect(native().deviceFilters(dir)).toEqual([id]);
    const d = fs.mkdtempSync(path.join(tmp, 'nodes-'));
    const { lines, cgroups } = tryDevices(dir, [
      open('null', '/dev/null'),
      open('zero', '/dev/zero', '<'),
      open('urandom-read', '/dev/urandom', '<'),
      open('urandom-rw', '/dev/urandom'),
      mknod('mknod-full', `${d}/full`, 1, 7),
      open('full-copy', `${d}/full`),
      mknod('mknod-zero', `${d}/zero`, 1, 5),
    ].join('\n'));
    expect(lines).toEqual([
      'null ok', 'zero denied', 'urandom-read ok', 'urandom-rw denied', 'mknod-full ok', 'full-copy ok', 'mknod-zero denied',
    ]);
    // The shell was in the group, and (hybrid hosts) in the root of the v1 devices hierarchy, which
    // allows everything: the BPF program alone refused.
    expect(cgroups).toContain(`0::/${path.relative(unified!, dir)}\n`);
    const v1Devices = cgroups.split('\n').find((l) => /^\d+:devices:/.test(l));
    if (v1Devices) expect(v1Devices).toMatch(/:devices:\/$/);

    fs.rmdirSync(dir);
    expect(await gone(id)).toBe(true);
  });

  it('a new filter replaces the old one (update), and clearDeviceFilters detaches it', async () => {
    const dir = path.join(base, 'b');
    fs.mkdirSync(dir, { recursive: true });
    const first = native().setDeviceFilter(dir, [{ allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }]);
    expect(tryDevices(dir, open('zero', '/dev/zero', '<')).lines).toEqual(['zero denied']);
    const second = native().setDeviceFilter(dir, [{ allow: true, type: 'c', major: 1, minor: -1, access: 'rwm' }]);
    expect(native().deviceFilters(dir)).toEqual([second]);
    expect(await gone(first)).toBe(true);
    expect(tryDevices(dir, open('zero', '/dev/zero', '<')).lines).toEqual(['zero ok']);
    native().clearDeviceFilters(dir);
    expect(native().deviceFilters(dir)).toEqual([]);
    expect(await gone(second)).toBe(true);
    fs.rmdirSync(dir);
  });

  it('errors name the directory: no cgroup, no directory', () => {
    expect(() => native().setDeviceFilter(tmp, [])).toThrow(expect.objectContaining({ syscall: 'bpf(BPF_PROG_QUERY)', path: tmp }));
    expect(() => native().deviceFilters(path.join(tmp, 'missing'))).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'open' }));
  });

  it('the v2 driver enforces linux.resources.devices and its directory takes the program with it', async () => {
    const cg = V2Cgroup.forPath(unified!, `/hull-test-devices-${process.pid}/driver`, defaultDeviceRules(DEFAULT_DEVICES));
    const seen: string[] = [];
    cg.observer = (kind, file) => seen.push(`${kind} ${path.basename(file)}`);
    expect(cg.create({ devices: [{ allow: false, access: 'rwm' }] })).toEqual([]);
    expect(seen).toContain('write bpf(BPF_CGROUP_DEVICE)');
    const [id] = native().deviceFilters(cg.dir);
    expect(id).toBeGreaterThan(0);
    // Denied by the config, but the runtime's default devices it was given (/dev/null, ptys...) stay usable.
    const { lines } = tryDevices(cg.dir, [open('null', '/dev/null'), open('zero', '/dev/zero', '<'), open('kmsg', '/dev/kmsg', '<')].join('\n'));
    expect(lines).toEqual(['null ok', 'zero ok', 'kmsg denied']);
    await cg.destroy();
    expect(fs.existsSync(cg.dir)).toBe(false);
    expect(await gone(id)).toBe(true);
  });
});
