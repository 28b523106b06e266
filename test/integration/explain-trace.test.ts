// The explain trace against what really happened: a container runs from a test bundle through the
// Runtime API with an explainer as onTrace; the trace must name every plan op compilePlan produced,
// in plan order, and what it says happened must be true inside the container (hull-probe report).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cgroupForContainer, oomCheckFile } from '../../src/cgroup';
import { Runtime } from '../../src/runtime/container';
import { compilePlan, type PlanOp } from '../../src/runtime/plan';
import type { Spec } from '../../src/runtime/spec';
import { capabilityNames, createExplainer, explainStep, isBookkeeping } from '../../src/trace/explain';
import { cgroupDirsContaining, hullOci, makeBundle, uniqueId, type Bundle } from '../setup/bundle';
import { mountsContaining, removeTree, tempDir } from '../setup/rootfs';

interface Message {
  step: number;
  op: string;
  text: string;
}

interface Probe {
  hostname: string;
  pid: number;
  uid: number;
  umask: string;
  cwd: string;
  no_new_privs: boolean;
  seccomp: number | null;
  seccomp_filters: number | null;
  caps: { bnd: string; eff: string; prm: string };
  rlimits: Record<string, { soft: number; hard: number }>;
  mounts: { mountpoint: string; fstype: string; options: string; source: string }[];
  namespaces: Record<string, string | null>;
  cgroup: string[];
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** Run the bundle's container in the foreground; return the trace messages, explain lines and stdout. */
async function runTraced(bundle: Bundle, id: string) {
  const root = tempDir('hull-explain-state-');
  const outDir = tempDir('hull-explain-out-');
  cleanups.push(() => removeTree(outDir), () => removeTree(root));
  const messages: Message[] = [];
  const lines: string[] = [];
  const explain = createExplainer((l) => lines.push(l), { all: true });
  const runtime = new Runtime({
    root,
    onTrace: (step, op, text) => {
      messages.push({ step, op, text });
      explain(step, op, text);
    },
  });
  const outFile = path.join(outDir, 'out');
  const out = fs.openSync(outFile, 'w');
  let code: number;
  try {
    code = await runtime.run({ id, bundle: bundle.dir, stdio: ['ignore', out, out] });
  } finally {
    fs.closeSync(out);
  }
  return { code, messages, lines, stdout: fs.readFileSync(outFile, 'utf8') };
}

/**
 * The plan the runtime compiled for this run (same inputs as Runtime.spawnContainer): a foreground
 * run that keeps no state asks for no exit.json (no `state-dir`).
 */
function expectedPlan(spec: Spec, bundle: Bundle, id: string): PlanOp[] {
  const cgroup = cgroupForContainer(spec.linux?.cgroupsPath, id, []);
  return compilePlan(spec, {
    mode: 'run',
    id,
    bundle: bundle.dir,
    detach: false,
    trace: true,
    cgroupDirs: cgroup.joinDirs(),
    cgroupCloneInto: cgroup.cloneIntoDir(),
    cgroupVersion: cgroup.record.version,
    cgroupWait: true,
    oomCheck: oomCheckFile(cgroup.record),
    cgroupMountSources:
      cgroup.record.version === 1
        ? Object.entries(cgroup.record.dirs).map(([name, hostDir]) => ({ name, hostDir, aliases: name.includes(',') ? name.split(',') : [] }))
        : [],
  });
}

/**
 * Every plan op from `trace 1` on is reported at its own index with its own name, and the reports of
 * each process come in plan order. Known exceptions: the container process reports its parse of the
 * caps op, its part of `clone` (cgroup ns, loopback) and its session keyring (`id`) before its mount
 * phase; these are checked for presence but not for position.
 */
function checkAgainstPlan(plan: PlanOp[], messages: Message[]): void {
  const traceIndex = plan.findIndex(([op]) => op === 'trace');
  expect(traceIndex).toBeGreaterThanOrEqual(0);
  // Step -1: host steps TypeScript took itself (cgroup mkdir and limits), before the helper ran.
  const hostSteps = messages.filter((m) => m.step === -1);
  expect(hostSteps.every((m) => m.op === 'cgroup')).toBe(true);
  expect(messages.slice(0, hostSteps.length)).toEqual(hostSteps);
  messages = messages.filter((m) => m.step !== -1);
  for (const m of messages) expect(plan[m.step]?.[0], `step ${m.step}`).toBe(m.op);
  for (let i = traceIndex; i < plan.length; i++) {
    expect(messages.some((m) => m.step === i && m.op === plan[i][0]), `plan step ${i} ${plan[i].join(' ')} traced`).toBe(true);
  }
  const seen = new Set<number>();
  const ordered = messages.filter((m) => {
    const early = (m.op === 'caps' && m.text.startsWith('caps ')) || m.op === 'id' || seen.has(m.step);
    seen.add(m.step);
    return !early;
  });
  const steps = ordered.map((m) => m.step);
  expect(steps).toEqual([...steps].sort((a, b) => a - b));
  expect(new Set(steps).size).toBe(steps.length);
}

/** `=> <words>: <evidence>` lines whose words start with `prefix`. */
function linesStarting(lines: string[], prefix: string): string[] {
  return lines.filter((l) => l.startsWith(`=> ${prefix}`));
}

function hostNamespace(type: string): string {
  return fs.readlinkSync(`/proc/self/ns/${type}`);
}

function newBundle(edit?: (spec: Spec) => void): Bundle {
  const bundle = makeBundle({ args: ['/bin/hull-probe', 'report'], edit });
  fs.chmodSync(bundle.dir, 0o755); // a mapped root (user namespace) must reach the rootfs
  cleanups.push(() => bundle.cleanup());
  return bundle;
}

function noLeaks(bundle: Bundle, id: string): void {
  expect(mountsContaining(bundle.dir)).toEqual([]);
  expect(cgroupDirsContaining(id)).toEqual([]);
}

describe('explain trace (Runtime API)', () => {
  it('names every plan op in order, and what it says is true inside the container', async () => {
    const bundle = newBundle((spec) => {
      spec.hostname = 'explain-host';
      spec.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 512, hard: 1024 }];
      spec.linux!.resources = { ...spec.linux!.resources, memory: { limit: 64 * 1024 * 1024 }, pids: { limit: 100 } };
    });
    const id = uniqueId('explain');
    const { code, messages, lines, stdout } = await runTraced(bundle, id);
    expect(code).toBe(0);
    noLeaks(bundle, id);

    // One explain line per message, all in the `=> words` shape.
    expect(lines).toHaveLength(messages.length);
    for (const l of lines) expect(l).toMatch(/^=> \S/);
    expect(messages.map((m) => explainStep(m.step, m.op, m.text))).toEqual(lines);

    const plan = expectedPlan(bundle.spec, bundle, id);
    checkAgainstPlan(plan, messages);

    const probe = JSON.parse(stdout.trim().split('\n').pop()!) as Probe;

    // namespaces: the ones the clone line names are new, the others are the host's
    const clone = linesStarting(lines, 'creating namespaces (')[0];
    const created = /\(([^)]*)\)/.exec(clone)![1].split(', ');
    expect(created.sort()).toEqual(['ipc', 'mount', 'net', 'pid', 'uts']);
    const nsName: Record<string, string> = { mount: 'mnt', net: 'net', pid: 'pid', uts: 'uts', ipc: 'ipc', user: 'user', cgroup: 'cgroup' };
    for (const type of ['mount', 'net', 'pid', 'uts', 'ipc', 'user', 'cgroup']) {
      const inside = probe.namespaces[nsName[type]];
      if (created.includes(type)) expect(inside, type).not.toBe(hostNamespace(nsName[type]));
      else expect(inside, type).toBe(hostNamespace(nsName[type]));
    }
    expect(probe.pid).toBe(1);

    // hostname
    const hostnameLine = linesStarting(lines, 'setting hostname: ')[0];
    expect(hostnameLine).toBe('=> setting hostname: sethostname("explain-host")');
    expect(probe.hostname).toBe('explain-host');

    // every "mounting T on D" is a T mount at D in the container's mountinfo
    const mounted = linesStarting(lines, 'mounting ').map((l) => /^=> mounting (\S+) on (\S+):/.exec(l)!);
    expect(mounted.map((m) => m[2])).toEqual(expect.arrayContaining(['/proc', '/dev', '/dev/pts', '/sys']));
    for (const [, fstype, dest] of mounted) {
      expect(probe.mounts.some((m) => m.mountpoint === dest && m.fstype === fstype), `${fstype} on ${dest}`).toBe(true);
    }
    expect(linesStarting(lines, 'mounting proc on /proc: mount("proc", "/proc", "proc", ')).toHaveLength(1);

    // masked and read-only paths
    for (const l of linesStarting(lines, 'hiding ')) {
      const dest = /^=> hiding (\S+):/.exec(l)![1];
      expect(probe.mounts.some((m) => m.mountpoint === dest), dest).toBe(true);
    }
    for (const l of linesStarting(lines, 'making /')) {
      const m = /^=> making (\S+) read-only:/.exec(l);
      if (!m) continue;
      const mounts = probe.mounts.filter((x) => x.mountpoint === m[1]);
      expect(mounts.length, m[1]).toBeGreaterThan(0);
      expect(mounts[mounts.length - 1].options.split(',')).toContain('ro');
    }

    // pivot_root: the old root is gone, the rootfs is "/"
    expect(linesStarting(lines, 'pivoting root: ')[0]).toContain('pivot_root(".", ".")');
    expect(probe.mounts.some((m) => m.mountpoint === '/')).toBe(true);
    expect(probe.mounts.some((m) => m.mountpoint.startsWith(bundle.dir))).toBe(false);

    // cgroups: each join's path is where the process sits (v1: it moves itself, `echo 0 > tasks`)
    const joins = [...linesStarting(lines, 'joining cgroup: '), ...linesStarting(lines, 'moving itself into its cgroup: ')];
    expect(joins.length).toBeGreaterThan(0);
    for (const l of joins) {
      const file = / > (\S+)$/.exec(l)![1];
      const m = /^\/sys\/fs\/cgroup\/(memory|pids)\/(.*)\/(cgroup\.procs|tasks)$/.exec(file);
      if (!m) continue;
      expect(probe.cgroup.some((c) => c.split(':')[1] === m[1] && c.split(':')[2] === `/${m[2]}`), l).toBe(true);
    }

    // host steps: TypeScript made the cgroup and wrote the limits before the helper ran
    expect(linesStarting(lines, 'creating cgroup: mkdir /sys/fs/cgroup/').length).toBeGreaterThan(0);
    expect(linesStarting(lines, 'setting the memory limit: echo 67108864 > ')).toHaveLength(1);
    expect(linesStarting(lines, 'setting the pids limit: echo 100 > ')).toHaveLength(1);

    // rlimit
    expect(linesStarting(lines, 'setting resource limit RLIMIT_NOFILE: ')[0]).toMatch(/RLIMIT_NOFILE, \{512, 1024\}\)$/);
    expect(probe.rlimits.nofile).toEqual({ soft: 512, hard: 1024 });

    // capabilities: the bounding set kept and the effective set given are what the process has
    const drop = linesStarting(lines, 'dropping capabilities')[0];
    const kept = /keeps ([^)]*)\)/.exec(drop)![1].split(', ');
    expect(capabilityNames(probe.caps.bnd)).toEqual(kept);
    const user = linesStarting(lines, 'becoming uid 0, gid 0')[0];
    const eff = /effective=(0x[0-9a-f]+)/.exec(user)![1];
    expect(BigInt(`0x${probe.caps.eff}`)).toBe(BigInt(eff));
    expect(probe.uid).toBe(0);

    // umask, no_new_privs, cwd, exec
    expect(linesStarting(lines, 'setting umask: umask(0022)')).toHaveLength(1);
    expect(probe.umask).toBe('0022');
    expect(linesStarting(lines, 'forbidding new privileges')).toHaveLength(bundle.spec.process!.noNewPrivileges ? 1 : 0);
    expect(probe.no_new_privs).toBe(bundle.spec.process!.noNewPrivileges === true);
    expect(linesStarting(lines, 'changing directory to /: ')).toHaveLength(1);
    expect(probe.cwd).toBe('/');
    expect(lines[lines.length - 1]).toMatch(/^=> executing \/bin\/hull-probe: .*execve\("\/bin\/hull-probe", \["\/bin\/hull-probe", "report"\], env\)$/);
  });

  it('user namespace, id maps, seccomp and sysctl: the trace matches the plan and the container', async () => {
    const bundle = newBundle((spec) => {
      spec.linux!.namespaces!.push({ type: 'user' }, { type: 'cgroup' });
      spec.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      spec.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      spec.linux!.sysctl = { 'net.ipv4.ip_forward': '1' };
      spec.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdirat', 'mkdir'], action: 'SCMP_ACT_ERRNO' }] };
      spec.process!.args = ['/bin/sh', '-c', 'cat /proc/self/uid_map; cat /proc/sys/net/ipv4/ip_forward; mkdir /tmp/x 2>/dev/null || echo mkdir-refused; /bin/hull-probe report'];
    });
    const id = uniqueId('explain-userns');
    const { code, messages, lines, stdout } = await runTraced(bundle, id);
    expect(code).toBe(0);
    noLeaks(bundle, id);
    checkAgainstPlan(expectedPlan(bundle.spec, bundle, id), messages);

    const [uidMap, forward, mkdir, report] = stdout.trim().split('\n');
    const probe = JSON.parse(report) as Probe;

    expect(linesStarting(lines, 'creating namespaces (user, pid, mount, uts, ipc, net)')).toHaveLength(1);
    // The cgroup namespace waits for `cgroup-wait`: the container process must sit in its cgroups.
    expect(linesStarting(lines, 'waiting until it sits in its cgroups with their limits written, then creating the cgroup namespace from inside')).toHaveLength(1);
    expect(probe.namespaces.user).not.toBe(hostNamespace('user'));
    expect(probe.namespaces.cgroup).not.toBe(hostNamespace('cgroup'));

    const map = linesStarting(lines, 'writing uid map: ')[0];
    expect(map).toMatch(/^=> writing uid map: 0 100000 65536 > \/proc\/\d+\/uid_map$/);
    expect(uidMap.trim().split(/\s+/)).toEqual(['0', '100000', '65536']);
    expect(linesStarting(lines, 'writing gid map: 0 100000 65536 > ')).toHaveLength(1);

    expect(linesStarting(lines, 'setting sysctl net.ipv4.ip_forward: echo 1 > /proc/sys/net/ipv4/ip_forward')).toHaveLength(1);
    expect(forward).toBe('1');

    expect(linesStarting(lines, 'installing seccomp filter (')).toHaveLength(1);
    expect(mkdir).toBe('mkdir-refused');
    expect(probe.seccomp).toBe(2);
    expect(probe.seccomp_filters).toBeGreaterThanOrEqual(1);

    // /dev nodes: mknod is refused in a user namespace, so the host's nodes are bound
    const devNull = lines.find((l) => l.includes('/dev/null (') || l.includes("host's /dev/null"))!;
    expect(devNull).toMatch(/^=> binding the host's \/dev\/null/);
    expect(probe.mounts.some((m) => m.mountpoint === '/dev/null')).toBe(true);
  });

  it('createExplainer hides bookkeeping but keeps every kernel step', async () => {
    const bundle = newBundle();
    const id = uniqueId('explain-quiet');
    const { messages } = await runTraced(bundle, id);
    const quiet: string[] = [];
    const explain = createExplainer((l) => quiet.push(l));
    for (const m of messages) explain(m.step, m.op, m.text);
    expect(quiet.length).toBe(messages.filter((m) => !isBookkeeping(m.op, m.text)).length);
    expect(quiet.some((l) => l.startsWith('=> environment'))).toBe(false);
    expect(quiet.some((l) => l.startsWith('=> pivoting root'))).toBe(true);
    noLeaks(bundle, id);
  });
});

// `HULL_TRACE=1 hull-oci run` prints the same lines on stderr once src/oci/cli.ts passes
// createExplainer as onTrace (the lead wires it; this test starts running as soon as it is wired).
const ociWired = fs.readFileSync(path.resolve(__dirname, '../../src/oci/cli.ts'), 'utf8').includes('explainEnabled');

describe('explain trace (hull-oci)', () => {
  it.skipIf(!ociWired)('HULL_TRACE=1 hull-oci run prints one explain line per kernel step on stderr', () => {
    const bundle = newBundle((spec) => {
      spec.hostname = 'explain-oci';
    });
    const id = uniqueId('explain-oci');
    const root = tempDir('hull-explain-oci-');
    cleanups.push(() => removeTree(root));
    const saved = process.env.HULL_TRACE;
    process.env.HULL_TRACE = '1';
    let res: ReturnType<typeof hullOci>;
    try {
      res = hullOci(root, ['run', '--bundle', bundle.dir, id]);
    } finally {
      if (saved === undefined) delete process.env.HULL_TRACE;
      else process.env.HULL_TRACE = saved;
    }
    expect(res.code).toBe(0);
    const lines = res.stderr.split('\n').filter(Boolean);
    for (const l of lines) expect(l).toMatch(/^=> /);
    expect(lines).toContain('=> setting hostname: sethostname("explain-oci")');
    expect(lines.some((l) => l.startsWith('=> creating namespaces ('))).toBe(true);
    expect(lines.some((l) => l.startsWith('=> mounting proc on /proc: '))).toBe(true);
    expect(lines.some((l) => l.startsWith('=> pivoting root: '))).toBe(true);
    expect(lines.some((l) => l.startsWith('=> dropping capabilities'))).toBe(true);
    expect(lines[lines.length - 1]).toMatch(/^=> executing \/bin\/hull-probe: /);
    expect(lines.some((l) => l.startsWith('=> environment'))).toBe(false);
    expect((JSON.parse(res.stdout.trim()) as Probe).hostname).toBe('explain-oci');
    noLeaks(bundle, id);
  });
});
