// The sandbox's spec and plan templates: what every sandbox gets, and how a run fills the template.
import { describe, expect, it } from 'vitest';
import { serializePlan } from '../../src/runtime/plan';
import { INIT_PATH, PlanTemplate, sandboxSpec, templatesFor, type SandboxShape } from '../../src/sandbox/plan';

const shape: SandboxShape = {
  rootfs: '/images/busybox',
  readonlyRoot: true,
  network: 'none',
  hostname: 'sandbox',
  tmpSizeBytes: 1024 * 1024,
  mounts: [{ source: '/host/data', target: '/data', readonly: true }],
  user: { uid: 1000, gid: 1000 },
  withInit: false,
};

const fill = { id: 'run-1', cgroupDirs: ['/sys/fs/cgroup/memory/hull-sandbox/run-1', '/sys/fs/cgroup/pids/hull-sandbox/run-1'], argv: ['sh', '-c', 'echo\thi'], env: ['PATH=/bin', 'A=1'], cwd: '/work', trace: false };

describe('sandboxSpec', () => {
  it('isolates: new pid, ipc, uts, mount and network namespaces, read-only root, seccomp, few caps', () => {
    const spec = sandboxSpec(shape);
    expect(spec.linux!.namespaces!.map((n) => n.type).sort()).toEqual(['ipc', 'mount', 'network', 'pid', 'uts']);
    expect(spec.root).toEqual({ path: '/images/busybox', readonly: true });
    expect(spec.process!.noNewPrivileges).toBe(true);
    expect(spec.process!.capabilities!.bounding).toEqual(['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE']);
    expect(spec.linux!.seccomp!.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(spec.linux!.seccomp!.architectures).toHaveLength(1);
    expect(spec.mounts!.find((m) => m.destination === '/tmp')).toMatchObject({ type: 'tmpfs', options: expect.arrayContaining(['size=1048576', 'mode=1777']) });
    expect(spec.mounts!.find((m) => m.destination === '/data')).toMatchObject({ type: 'bind', source: '/host/data', options: expect.arrayContaining(['ro', 'rbind']) });
    expect(spec.mounts!.some((m) => m.destination === '/sys/fs/cgroup')).toBe(false);
  });

  it('shares the host network with network: host (and binds /sys instead of mounting sysfs)', () => {
    const spec = sandboxSpec({ ...shape, network: 'host' });
    expect(spec.linux!.namespaces!.some((n) => n.type === 'network')).toBe(false);
    expect(spec.mounts!.find((m) => m.destination === '/sys')).toMatchObject({ type: 'bind', source: '/sys' });
  });

  it('binds the idle init for long-lived sandboxes', () => {
    expect(sandboxSpec({ ...shape, withInit: true }).mounts!.some((m) => m.destination === INIT_PATH)).toBe(true);
  });
});

describe('PlanTemplate', () => {
  it('fills in the run: id, cgroups, argv, env, cwd; no state directory', () => {
    const plan = PlanTemplate.compile(sandboxSpec(shape), 'run').fill(fill);
    const ops = plan.map((op) => op[0]);
    expect(ops).not.toContain('state-dir');
    expect(plan).toContainEqual(['id', 'run-1']);
    expect(plan.filter((op) => op[0] === 'cgroup-join')).toEqual(fill.cgroupDirs.map((d) => ['cgroup-join', d]));
    expect(plan.filter((op) => op[0] === 'arg')).toEqual(fill.argv.map((a) => ['arg', a]));
    expect(plan.filter((op) => op[0] === 'env')).toEqual(fill.env.map((e) => ['env', e]));
    expect(plan).toContainEqual(['cwd', '/work']);
    expect(plan).toContainEqual(['user', '1000', '1000', '']);
    expect(plan.at(-1)).toEqual(['exec']);
    expect(JSON.stringify(plan)).not.toContain('\\u0000');
  });

  it('serializes a run exactly as serializePlan of its filled plan, escapes included', () => {
    for (const template of [PlanTemplate.compile(sandboxSpec(shape), 'run'), templatesFor({ ...shape, withInit: true }).exec()]) {
      const v = { ...fill, argv: ['sh', '-c', 'a\tb\\c\nd'], env: ['X=1\t2'], trace: true, initPid: 77 };
      expect(template.serialize(v)).toBe(serializePlan(template.fill(v)));
    }
  });

  it('carries the seccomp filter precompiled: one seccomp-bpf op right before exec, no rule ops', () => {
    const plan = PlanTemplate.compile(sandboxSpec(shape), 'run').fill(fill);
    const ops = plan.map((op) => op[0]);
    expect(ops).not.toContain('seccomp');
    expect(ops).not.toContain('seccomp-rule');
    expect(ops).not.toContain('seccomp-load');
    expect(ops.slice(-2)).toEqual(['seccomp-bpf', 'exec']);
    const [, flags, notify, rules, program] = plan.at(-2)!;
    expect([flags, notify]).toEqual(['', '0']);
    expect(Number(rules)).toBeGreaterThan(10);
    expect(Buffer.from(program, 'base64').length % 8).toBe(0);
  });

  it('exec plans join the init namespaces by pid', () => {
    const plan = templatesFor({ ...shape, withInit: true }).exec().fill({ ...fill, initPid: 4242 });
    const setns = plan.filter((op) => op[0] === 'setns');
    expect(setns.map((op) => op[2])).toEqual(expect.arrayContaining(['/proc/4242/ns/pid', '/proc/4242/ns/net', '/proc/4242/ns/mnt']));
    expect(plan.map((op) => op[0])).not.toContain('rootfs');
    expect(plan).toContainEqual(['mode', 'exec']);
  });

  it('compiles each shape once', () => {
    expect(templatesFor(shape).run).toBe(templatesFor({ ...shape }).run);
    expect(templatesFor(shape).run).not.toBe(templatesFor({ ...shape, hostname: 'other' }).run);
  });
});
