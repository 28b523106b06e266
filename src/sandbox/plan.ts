// The OCI spec of a sandbox and its helper plans. The runtime's compilePlan turns the spec into a
// plan once per sandbox shape (root, network, mounts, user…); a run only substitutes its id, cgroup
// directories, argv, env and cwd into that template. Nothing is written to disk: sandboxes keep no
// OCI state (no state.json, no exit.json), their result comes over the helper's control socket.
import { native, probePath } from '../native';
import { compilePlan, defaultSpec, type PlanOp, type Spec } from '../runtime';
import { escapeField } from '../runtime/plan';
import { defaultSeccompProfile } from '../runtime/seccomp-default';
import type { ResolvedSandboxOptions } from './options';

/** Placeholders the template carries where each run puts its own values. */
const ID = '\u0000id';
const CGROUP = '\u0000cgroup';
const CWD = '/\u0000cwd';
const ENV = '\u0000env';
const ARG = '\u0000arg';
/** A pid no process has (pid_max ≤ 2^22): exec templates join /proc/<it>/ns/*, replaced per exec. */
const INIT_PID = 999_999_999;

/** Where a long-lived sandbox's idle init (hull-probe, static) is bound: /dev is always a tmpfs. */
export const INIT_PATH = '/dev/.hull-init';

/**
 * The sandbox init's command line. Processes an exec leaves behind are re-parented to PID 1 of the
 * sandbox (subreapers outside its PID namespace do not count), so PID 1 must reap them or they stay
 * zombies until close(): `hull-probe init` does (blocks signals, reaps on SIGCHLD).
 */
export function initArgv(): string[] {
  return [INIT_PATH, 'init'];
}

/** runc's default capabilities: AUDIT_WRITE, KILL, NET_BIND_SERVICE (nothing that reaches the host). */
const CAPS = defaultSpec().process!.capabilities!.bounding!;

/** The parts of the sandbox options that shape the plan (everything but limits and per-run values). */
export interface SandboxShape {
  rootfs: string;
  readonlyRoot: boolean;
  network: ResolvedSandboxOptions['network'];
  hostname: string;
  tmpSizeBytes: number;
  mounts: ResolvedSandboxOptions['mounts'];
  user: { uid: number; gid: number };
  /** Long-lived sandboxes: bind the idle init into /dev. */
  withInit: boolean;
}

export function sandboxSpec(shape: SandboxShape): Spec {
  const base = defaultSpec();
  const spec: Spec = {
    ociVersion: base.ociVersion,
    process: {
      terminal: false,
      user: { ...shape.user },
      args: [ARG],
      env: [ENV],
      cwd: CWD,
      capabilities: { bounding: [...CAPS], effective: [...CAPS], permitted: [...CAPS] },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 4096, soft: 4096 }],
      // Sandboxed processes are the OOM killer's first pick, on the host and in their own group,
      // where a pool slot's monitor also lives (src/sandbox/pool.ts): it must outlive them to reap
      // them, even when a fork bomb of small processes meets the memory limit.
      oomScoreAdj: 1000,
      noNewPrivileges: true,
    },
    root: { path: shape.rootfs, readonly: shape.readonlyRoot },
    hostname: shape.hostname,
    mounts: [
      // runc's /proc, /dev, /dev/pts, /dev/shm, /dev/mqueue, /sys; no /sys/fs/cgroup (nothing to see there).
      ...base.mounts!.filter((m) => m.destination !== '/sys/fs/cgroup' && (m.destination !== '/sys' || shape.network === 'none')),
      ...(shape.network === 'host'
        ? [{ destination: '/sys', type: 'bind', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] }]
        : []),
      {
        destination: '/tmp',
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['nosuid', 'nodev', 'mode=1777', `size=${shape.tmpSizeBytes}`],
      },
      ...shape.mounts.map((m) => ({
        destination: m.target,
        type: 'bind',
        source: m.source,
        options: ['rbind', 'nosuid', 'nodev', ...(m.readonly ? ['ro'] : [])],
      })),
      ...(shape.withInit ? [{ destination: INIT_PATH, type: 'bind', source: probePath, options: ['bind', 'ro', 'nosuid', 'nodev'] }] : []),
    ],
    linux: {
      namespaces: [
        { type: 'pid' },
        { type: 'ipc' },
        { type: 'uts' },
        { type: 'mount' },
        ...(shape.network === 'none' ? [{ type: 'network' as const }] : []),
      ],
      maskedPaths: base.linux!.maskedPaths,
      readonlyPaths: base.linux!.readonlyPaths,
      seccomp: nativeArchOnly(defaultSeccompProfile(CAPS)),
    },
  };
  return spec;
}

/**
 * Docker's profile also admits the 32-bit ABIs (x86, x32), which triples the filter the helper
 * compiles for every sandbox. Sandboxes run native binaries: other ABIs are refused outright
 * (the filter kills the process), which is both smaller and stricter.
 */
function nativeArchOnly<T extends { architectures?: string[] }>(profile: T): T {
  return { ...profile, architectures: profile.architectures?.slice(0, 1) };
}

export interface RunValues {
  id: string;
  cgroupDirs: string[];
  argv: string[];
  env: string[];
  cwd: string;
  trace: boolean;
  /** exec plans: the sandbox init whose namespaces are joined. */
  initPid?: number;
}

/** Ops whose fields (or count) a run decides; everything else is the same in every run. */
const PER_RUN = new Set(['state-dir', 'trace', 'id', 'cgroup-join', 'cwd', 'env', 'arg', 'setns']);

function line(op: PlanOp): string {
  return op.map(escapeField).join('\t') + '\n';
}

/**
 * A compiled plan with holes; `fill` makes the plan of one run, `serialize` the same plan as the
 * helper reads it. The fixed ops are serialized once here: a run escapes only its own fields.
 */
export class PlanTemplate {
  /** Wire text of runs of fixed ops, and the per-run ops between them, in order; ends with `end`. */
  private readonly segments: (string | PlanOp)[] = [];

  private constructor(private readonly ops: readonly PlanOp[]) {
    let text = '';
    for (const op of ops) {
      if (!PER_RUN.has(op[0])) {
        text += line(op);
        continue;
      }
      if (text) this.segments.push(text);
      text = '';
      this.segments.push(op);
    }
    this.segments.push(text + 'end\n');
  }

  static compile(spec: Spec, mode: 'run' | 'exec'): PlanTemplate {
    const ops = compilePlan(spec, {
      mode,
      id: ID,
      bundle: '/',
      stateDir: '/',
      detach: false,
      trace: false,
      cgroupDirs: [CGROUP],
      initPid: mode === 'exec' ? INIT_PID : undefined,
      process: mode === 'exec' ? spec.process : undefined,
    });
    return new PlanTemplate(precompileSeccomp(ops));
  }

  fill(v: RunValues): PlanOp[] {
    const out: PlanOp[] = [];
    for (const op of this.ops) {
      if (PER_RUN.has(op[0])) fillOp(op, v, out);
      else out.push(op);
    }
    return out;
  }

  /** `serializePlan(this.fill(v))`, without escaping the fixed ops again. */
  serialize(v: RunValues): string {
    let text = '';
    const ops: PlanOp[] = [];
    for (const segment of this.segments) {
      if (typeof segment === 'string') {
        text += segment;
        continue;
      }
      ops.length = 0;
      fillOp(segment, v, ops);
      for (const op of ops) text += line(op);
    }
    return text;
  }
}

/** The run's op(s) for a per-run template op. */
function fillOp(op: PlanOp, v: RunValues, out: PlanOp[]): void {
  switch (op[0]) {
    case 'state-dir':
      break; // no exit.json: the result comes over the control socket
    case 'trace':
      out.push(['trace', v.trace ? '1' : '0']);
      break;
    case 'id':
      out.push(['id', v.id]);
      break;
    case 'cgroup-join':
      for (const dir of v.cgroupDirs) out.push(['cgroup-join', dir]);
      break;
    case 'cwd':
      out.push(['cwd', v.cwd]);
      break;
    case 'env':
      for (const e of v.env) out.push(['env', e]);
      break;
    case 'arg':
      for (const a of v.argv) out.push(['arg', a]);
      break;
    case 'setns':
      out.push(['setns', op[1], op[2].replace(`/proc/${INIT_PID}/`, `/proc/${v.initPid}/`)]);
      break;
    default:
      out.push(op);
  }
}

/**
 * Replace the `seccomp`, `seccomp-rule`…, `seccomp-load` run with one `seccomp-bpf` op: the filter
 * is compiled here once per shape (the same compiler the helper has) instead of in every helper,
 * and the plan loses its ~360 rule lines. Notify rules need a listener and never occur in sandboxes.
 */
function precompileSeccomp(ops: PlanOp[]): PlanOp[] {
  const start = ops.findIndex((op) => op[0] === 'seccomp');
  const load = ops.findIndex((op) => op[0] === 'seccomp-load');
  if (start < 0 || load < start) return ops;
  const filterOps = ops.slice(start, load);
  if (filterOps.some((op, i) => (i === 0 ? op[0] !== 'seccomp' : op[0] !== 'seccomp-rule' || op[1] === 'notify'))) return ops;
  const program = native().compileSeccomp(filterOps.map((op) => [...op]));
  const bpf: PlanOp = ['seccomp-bpf', filterOps[0][3], '0', String(filterOps.length - 1), program];
  return [...ops.slice(0, start), bpf, ...ops.slice(load + 1)];
}

/** Templates by shape: a warm process compiles each distinct sandbox shape once. */
const templates = new Map<string, { run: PlanTemplate; exec?: PlanTemplate; spec: Spec }>();
const MAX_TEMPLATES = 64;

export function templatesFor(shape: SandboxShape): { run: PlanTemplate; exec: () => PlanTemplate } {
  const key = JSON.stringify(shape);
  let entry = templates.get(key);
  if (entry) {
    templates.delete(key); // most recently used goes last
  } else {
    const spec = sandboxSpec(shape);
    entry = { run: PlanTemplate.compile(spec, 'run'), spec };
    if (templates.size >= MAX_TEMPLATES) templates.delete(templates.keys().next().value!);
  }
  templates.set(key, entry);
  const e = entry;
  return { run: e.run, exec: () => (e.exec ??= PlanTemplate.compile(e.spec, 'exec')) };
}
