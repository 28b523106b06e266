// runSandbox (one command in a fresh sandbox) and Sandbox (one sandbox, many commands).
//
//   options ──validate──▶ root (shared image / rootfs / private writable overlay)
//           ──▶ cgroup /hull-sandbox/<id> with the limits
//           ──▶ plan template (compiled once per shape) + this run's id, cgroup, argv, env, cwd
//           ──▶ hull-helper: namespaces, mounts, pivot_root, seccomp, execve ──▶ result
//           ──▶ cgroup removed, root released (nothing outlives the call)
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ContainerConfig } from '../image/types';
import { probePath } from '../native';
import type { HelperExit } from '../runtime/helper-process';
import { SandboxCgroup } from './cgroup';
import { Execution, type LaunchParams } from './execution';
import { releaseWarmHelpers, takeHelper, type SandboxHelper } from './helper';
import { releaseRunSlots, takeRunSlot, type RunTicket } from './pool';
import { acquireImage, IMAGE_IDLE_MS, releaseIdleImages, shareHandle, WritableRoot, type SharedImage } from './image';
import {
  checkArgv, EXEC_KEYS, resolveProcessOptions, resolveSandboxOptions, RUN_KEYS,
  type ProcessOptions, type ResolvedProcessOptions, type ResolvedSandboxOptions, type RunSandboxOptions,
  type SandboxOptions, type SandboxResult,
} from './options';
import { initArgv, templatesFor, type SandboxShape } from './plan';

const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

let counter = 0;
/** "<pid>-<n>-<random>": unique across processes; the pid lets a later process sweep leftovers. */
function newId(): string {
  return `${process.pid}-${++counter}-${Math.random().toString(36).slice(2, 6)}`;
}

/** The directory a sandbox uses as its root, and how to give it back. */
interface OpenRoot {
  rootfs: string;
  config?: ContainerConfig;
  release(): Promise<void>;
}

async function openRoot(o: ResolvedSandboxOptions, id: string): Promise<OpenRoot> {
  let image: SharedImage | undefined;
  let implicit = false;
  if (typeof o.image === 'string') {
    image = await acquireImage(o.image, o.storeRoot, o.trace);
    implicit = true;
  } else if (o.image) {
    image = shareHandle(o.image);
  }
  // An image prepared implicitly lingers a moment for the next run; a handle's owner decides.
  const releaseImage = () => image?.release(implicit ? IMAGE_IDLE_MS : 0);
  if (o.readonlyRoot) {
    return { rootfs: image ? image.rootfs : o.rootfs!, config: image?.config, release: async () => releaseImage() };
  }
  try {
    const writable = await WritableRoot.create(id, image ? image.layers : [o.rootfs!], o.tmpSizeBytes, o.trace);
    return {
      rootfs: writable.root,
      config: image?.config,
      release: async () => {
        await writable.remove();
        releaseImage();
      },
    };
  } catch (err) {
    releaseImage();
    throw err;
  }
}

/** Image `User` ("1000", "1000:1000", "nobody") → ids; names from the image's /etc/passwd and /etc/group. */
async function imageUser(spec: string | undefined, rootfs: string): Promise<{ uid: number; gid: number } | undefined> {
  if (!spec) return undefined;
  const [userPart, groupPart] = spec.split(':');
  const lookup = async (file: string, name: string): Promise<[number, number] | undefined> => {
    const full = path.join(rootfs, 'etc', file);
    const st = await fs.promises.lstat(full).catch(() => null);
    if (!st?.isFile()) return undefined; // never follow a symlink out of the image
    const text = await fs.promises.readFile(full, 'utf8');
    for (const line of text.split('\n')) {
      const f = line.split(':');
      if (f[0] === name) return [Number(f[2]), Number(f[3])];
    }
    return undefined;
  };
  let uid: number;
  let gid: number | undefined;
  if (/^\d+$/.test(userPart)) {
    uid = Number(userPart);
  } else {
    const entry = await lookup('passwd', userPart);
    if (!entry) throw new TypeError(`image: user ${JSON.stringify(userPart)} of the image's config is not in its /etc/passwd`);
    [uid, gid] = entry;
  }
  if (groupPart !== undefined) {
    if (/^\d+$/.test(groupPart)) gid = Number(groupPart);
    else {
      const entry = await lookup('group', groupPart);
      if (!entry) throw new TypeError(`image: group ${JSON.stringify(groupPart)} of the image's config is not in its /etc/group`);
      gid = entry[0];
    }
  }
  return { uid, gid: gid ?? 0 };
}

/** image Env (or a default PATH), HOME, then the caller's variables (later ones win). */
function mergeEnv(layers: (string[] | undefined)[], uid: number): string[] {
  const vars = new Map<string, string>();
  const add = (list: string[] | undefined) => {
    for (const e of list ?? []) {
      const eq = e.indexOf('=');
      if (eq > 0) vars.set(e.slice(0, eq), e);
    }
  };
  add([DEFAULT_PATH, `HOME=${uid === 0 ? '/root' : '/'}`]);
  for (const l of layers) add(l);
  return [...vars.values()];
}

/** What a sandbox needs once its root is known: shape, identity, defaults for every command. */
interface Prepared {
  shape: SandboxShape;
  env: string[];
  cwd: string;
  imageArgv?: string[];
}

async function prepare(o: ResolvedSandboxOptions, root: OpenRoot, defaults: { env: string[]; cwd?: string }, withInit: boolean, explicitUser: boolean): Promise<Prepared> {
  const user = explicitUser ? o.user : (await imageUser(root.config?.User, root.rootfs)) ?? o.user;
  const entry = [...(root.config?.Entrypoint ?? []), ...(root.config?.Cmd ?? [])];
  return {
    shape: {
      rootfs: root.rootfs,
      readonlyRoot: o.readonlyRoot,
      network: o.network,
      hostname: o.hostname,
      tmpSizeBytes: o.tmpSizeBytes,
      mounts: o.mounts,
      user,
      withInit,
    },
    env: mergeEnv([root.config?.Env, defaults.env], user.uid),
    cwd: defaults.cwd ?? (root.config?.WorkingDir || '/'),
    imageArgv: entry.length ? entry : undefined,
  };
}

/**
 * Run one command in a fresh sandbox and return how it ended. Resolves with reason "error" when the
 * command could not be started (exit code 127: not found); rejects only for invalid options (before
 * anything is created) and for host failures (cgroup or mount errors).
 */
export async function runSandbox(options: RunSandboxOptions): Promise<SandboxResult> {
  const o = await resolveSandboxOptions(options, RUN_KEYS);
  const proc = resolveProcessOptions(options);
  if (!proc.argv && o.rootfs) throw new TypeError('argv: required (the command to run, e.g. ["sh", "-c", "echo hi"])');
  const id = newId();
  const root = await openRoot(o, id);
  let group: SandboxCgroup | undefined;
  let ticket: RunTicket | undefined;
  try {
    const p = await prepare(o, root, { env: proc.env, cwd: proc.cwd }, false, options.user !== undefined);
    const argv = proc.argv ?? p.imageArgv;
    if (!argv) throw new TypeError('argv: required (the image has no Entrypoint or Cmd)');
    const template = templatesFor(p.shape).run;
    // Traced runs show every cgroup step, so they make their own group.
    ticket = o.trace ? undefined : takeRunSlot(o.limits);
    const slot = ticket?.slot;
    const execution = new Execution(
      async (): Promise<LaunchParams> => {
        let cgroupDirs: string[] = [];
        if (slot) {
          group = slot.group; // its helper is inside already: the sandbox process is forked into it
          await group.setLimits(o.limits, 1);
        } else {
          group = await SandboxCgroup.create(id, o.limits, { trace: o.trace, oomGroup: true });
          cgroupDirs = group.joinDirs();
        }
        return {
          plan: template.serialize({ id, cgroupDirs, argv, env: p.env, cwd: p.cwd, trace: !!o.trace }),
          group,
          watchOom: group.version === 1 && o.limits.memoryBytes !== undefined,
          killLeftovers: false, // the PID namespace ends with its first process
          monitorInGroup: !!slot,
          proc: { ...proc, cwd: p.cwd },
          argv,
          trace: o.trace,
        };
      },
      async () => {
        if (!slot) await group?.remove();
        ticket?.finished(); // a slot's group is emptied and reused in the background
      },
      slot?.helper,
    );
    return await execution.result;
  } finally {
    ticket?.finished();
    await root.release();
  }
}

export interface SandboxStartOptions extends SandboxOptions {
  /** Environment every exec starts from. */
  env?: Record<string, string> | string[];
  /** Working directory of every exec unless it says otherwise. */
  cwd?: string;
}

/**
 * A long-lived sandbox: one set of namespaces, one root, one /tmp and one set of limits shared by
 * every command exec'd in it. Close it with close() or `await using`.
 *
 *   await using box = await Sandbox.start({ image: 'busybox', memory: '64m' });
 *   await box.exec(['sh', '-c', 'echo hi > /tmp/x']);
 *   const { stdout } = await box.exec(['cat', '/tmp/x']);
 */
export class Sandbox implements AsyncDisposable {
  private closing?: Promise<void>;
  private readonly running = new Set<Execution>();
  private execCounter = 0;

  private constructor(
    /** Unique id (also the cgroup name under /hull-sandbox). */
    readonly id: string,
    private readonly options: ResolvedSandboxOptions,
    private readonly prepared: Prepared,
    private readonly root: OpenRoot,
    private readonly group: SandboxCgroup,
    private readonly init: SandboxHelper,
    private readonly initExit: Promise<HelperExit | undefined>,
  ) {}

  static async start(options: SandboxStartOptions): Promise<Sandbox> {
    const o = await resolveSandboxOptions(options, ['env', 'cwd']);
    const defaults = resolveProcessOptions({ env: options.env, cwd: options.cwd });
    if (!fs.existsSync(probePath)) throw new Error(`${probePath} is missing: the sandbox init is built by npm run build:native`);
    const id = newId();
    const root = await openRoot(o, id);
    let group: SandboxCgroup | undefined;
    let init: SandboxHelper | undefined;
    try {
      const p = await prepare(o, root, { env: defaults.env, cwd: defaults.cwd }, true, options.user !== undefined);
      group = await SandboxCgroup.create(id, o.limits, { trace: o.trace, delegate: true });
      const initGroup = await group.child('init', { measured: false });
      const plan = templatesFor(p.shape).run.serialize({
        id, cgroupDirs: initGroup.joinDirs(), argv: initArgv(), env: [], cwd: '/', trace: !!o.trace,
      });
      init = takeHelper();
      init.stdout.resume(); // the idle init writes nothing; drain anyway
      init.stderr.resume();
      init.start(plan, { onTrace: o.trace });
      init.stdin.end();
      await init.ready;
      const initExit = init.exited.catch(() => undefined);
      return new Sandbox(id, o, p, root, group, init, initExit);
    } catch (err) {
      init?.kill();
      await init?.exited.catch(() => undefined);
      await group?.remove().catch(() => undefined);
      await root.release();
      throw err;
    }
  }

  /** Host pid of the sandbox's init (its PID 1). */
  get pid(): number {
    return this.init.pid;
  }

  get closed(): boolean {
    return this.closing !== undefined;
  }

  /**
   * Run a command in the sandbox. Await the returned execution for its result, or iterate it for
   * output chunks as they arrive. Invalid options throw here, synchronously.
   */
  exec(argv: string[], options: ProcessOptions = {}): Execution {
    const command = checkArgv(argv);
    const proc: ResolvedProcessOptions = resolveProcessOptions(options, EXEC_KEYS);
    if (this.closing) throw new Error(`sandbox ${this.id} is closed`);
    const n = ++this.execCounter;
    const id = `${this.id}-e${n}`;
    const env = mergeEnv([this.prepared.env, proc.env], this.prepared.shape.user.uid);
    const cwd = proc.cwd ?? this.prepared.cwd;
    let group: SandboxCgroup | undefined;
    const execution = new Execution(
      async (): Promise<LaunchParams> => {
        if (this.init.child.exitCode !== null || this.init.child.signalCode !== null) {
          throw new Error(`sandbox ${this.id} has stopped (its init exited)`);
        }
        group = await this.group.child(`e${n}`, { oomGroup: true });
        if (this.closing) throw new Error(`sandbox ${this.id} is closed`);
        return {
          plan: templatesFor(this.prepared.shape).exec().serialize({
            id, cgroupDirs: group.joinDirs(), argv: command, env, cwd, trace: !!this.options.trace, initPid: this.init.pid,
          }),
          group,
          watchOom: group.version === 1 && this.options.limits.memoryBytes !== undefined,
          killLeftovers: true,
          proc: { ...proc, cwd },
          argv: command,
          trace: this.options.trace,
        };
      },
      async () => {
        this.running.delete(execution);
        if (group) {
          await group.kill().catch(() => undefined);
          await group.remove();
        }
      },
    );
    this.running.add(execution);
    return execution;
  }

  /** Kill everything in the sandbox, then remove its cgroup and give back its root. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const execution of this.running) execution.kill();
      await this.group.kill().catch(() => this.init.kill());
      await Promise.allSettled([...this.running].map((e) => e.result));
      await this.initExit;
      await this.group.remove();
      await this.root.release();
    })();
    return this.closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Drop what the library keeps warm between runs: prepared images nobody uses (implicitly prepared
 * ones otherwise stay mounted for 2 s), warm helpers and the run pool's cgroups (otherwise stopped
 * and removed after 1 s unused, and at exit). For graceful shutdown and for tests that check the
 * host is clean.
 */
export async function releaseIdle(): Promise<void> {
  await releaseIdleImages();
  await releaseWarmHelpers();
  await releaseRunSlots();
}
