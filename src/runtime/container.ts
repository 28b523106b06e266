// The OCI lifecycle: create → start → (pause/resume, exec, kill) → delete, plus run. Each operation
// reads state.json, derives the live status, and acts; the helper does everything inside namespaces.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cgroupForContainer, cgroupFromRecord, oomCheckFile, type CgroupDriver, type CgroupObserver, type CgroupStats } from '../cgroup';
import { native, type HullNative } from '../native';
import { isoTime } from '../util/time';
import { defaultDeviceRules, defaultDevices } from './default-devices';
import { parseSignal } from './flags';
import { HelperProcess, HullRuntimeError, type HelperExit, type Stdio } from './helper-process';
import { HookError, runHooks } from './hooks';
import { compilePlan, SYNC_CGROUPS, SYNC_CREATE_CONTAINER, SYNC_CREATE_RUNTIME, type CgroupMountSource, type LogFileOptions, type PlanMode } from './plan';
import { unknownCapabilities, validateProcess, validateSpec, type Process, type Resources, type Spec } from './spec';
import {
  ContainerError, DEFAULT_STATE_ROOT, EXEC_FIFO, StateStore, deriveStatus, isSameProcess, notExist, ociState,
  processStartTime, writeFileAtomic, type ContainerRecord, type OciState, type Status,
} from './state';

export interface RuntimeOptions {
  /** State directory root (`--root`), default /run/hull-oci. */
  root?: string;
  /** Non-fatal problems (unknown caps, unenforced v2 device rules, failing poststart hooks). */
  onWarning?: (message: string) => void;
  /**
   * Step-by-step trace from the helper (`--debug`, createExplainer). Host steps TypeScript takes
   * itself (cgroup mkdir and limit writes) come as op `cgroup` with step -1.
   */
  onTrace?: (step: number, op: string, text: string) => void;
  /**
   * What happens to the helper of a detached container once it runs. 'keep' (API default): it stays
   * as the container's monitor and records exit.json. 'exit' (hull-oci, like runc; plan op
   * `monitor 0`): it exits at `ready`, so the container becomes the child of the caller's subreaper
   * (containerd-shim, conmon), which reaps it and reads its exit status.
   */
  detachedMonitor?: 'keep' | 'exit';
}

export interface CreateOptions {
  id: string;
  bundle: string;
  /** Use this config instead of reading `<bundle>/config.json`. */
  spec?: Spec;
  consoleSocket?: string;
  pidFile?: string;
  noPivot?: boolean;
  noNewKeyring?: boolean;
  /** Pass our fds 3 … 3+n-1 to the container. */
  preserveFds?: number;
  /** The container's stdio; default: ours. */
  stdio?: Stdio;
  /**
   * The monitor writes the container's output to `path` as docker json-file lines, rotating at
   * `maxSize` bytes (0 = never) into `maxFiles` files (plan op `log-file`; not with
   * detachedMonitor 'exit'). With a terminal and no console socket, the monitor keeps the pty
   * master and logs what it shows: this is how a detached container can have a tty.
   */
  logFile?: LogFileOptions;
  /** Run by the monitor once the container has exited and exit.json is written (plan op `exit-command`). */
  exitCommand?: string[];
  /** Output kept by the monitor (pty or log pipes): relayed to clients of this unix socket (`attach-socket`). */
  attachSocket?: string;
  /** No terminal: the container's stdin is a pipe the attach clients write to (`-d -i`). */
  attachStdin?: boolean;
}

export interface RunOptions extends CreateOptions {
  detach?: boolean;
  /** Keep the state after a foreground run ends (runc `--keep`). */
  keep?: boolean;
  /** Called once the container runs (foreground): lets the CLI forward signals. */
  onStarted?: (pid: number) => void;
}

export interface ExecOptions {
  consoleSocket?: string;
  pidFile?: string;
  detach?: boolean;
  preserveFds?: number;
  stdio?: Stdio;
  onStarted?: (pid: number) => void;
}

export interface ContainerSummary {
  id: string;
  pid: number;
  status: Exclude<Status, 'creating'>;
  bundle: string;
  created: string;
  owner: string;
}

/** runc's exec flags turned into a process, starting from the container's own process. */
export interface ExecProcessOverrides {
  args: string[];
  env?: string[];
  cwd?: string;
  user?: { uid: number; gid: number; additionalGids?: number[] };
  tty?: boolean;
  caps?: string[];
  noNewPrivileges?: boolean;
}

export function execProcessFromArgs(base: Process | undefined, o: ExecProcessOverrides): Process {
  const process: Process = {
    terminal: o.tty ?? false,
    user: o.user ?? base?.user ?? { uid: 0, gid: 0 },
    args: o.args,
    env: [...(base?.env ?? []), ...(o.env ?? [])],
    cwd: o.cwd ?? base?.cwd ?? '/',
    capabilities: base?.capabilities ? structuredClone(base.capabilities) : undefined,
    noNewPrivileges: o.noNewPrivileges || base?.noNewPrivileges,
    rlimits: base?.rlimits,
    apparmorProfile: base?.apparmorProfile,
  };
  if (o.caps?.length) {
    const caps = (process.capabilities ??= {});
    for (const set of ['bounding', 'effective', 'permitted', 'ambient'] as const) {
      caps[set] = [...new Set([...(caps[set] ?? []), ...o.caps])];
    }
  }
  return process;
}

export class Runtime {
  readonly store: StateStore;

  constructor(private readonly options: RuntimeOptions = {}) {
    this.store = new StateStore(options.root ?? DEFAULT_STATE_ROOT);
  }

  private warn(message: string): void {
    this.options.onWarning?.(message);
  }

  /**
   * The cgroup directories and limits TypeScript writes, as trace messages of op `cgroup` at step -1
   * (no plan step: explainStep phrases them as host steps, like src/sandbox/cgroup.ts does).
   */
  private hostStepTracer(): CgroupObserver | undefined {
    const onTrace = this.options.onTrace;
    if (!onTrace) return undefined;
    return (kind, file, value) =>
      onTrace(-1, 'cgroup', kind === 'write' ? `write(${JSON.stringify(file)}, ${JSON.stringify(value ?? '')})` : `${kind}(${JSON.stringify(file)})`);
  }

  // ---------------------------------------------------------------- create / run

  /** OCI create: the container process is set up and waits on exec.fifo; returns its pid. */
  async create(opts: CreateOptions): Promise<number> {
    const { helper, record } = await this.spawnContainer(opts, 'create');
    await this.detachFrom(helper, record);
    return record.initPid;
  }

  /**
   * OCI run: create + start in one go. Foreground: resolves with the exit code once the container ended
   * (state removed unless `keep`). Detached: resolves with 0 once it runs.
   */
  async run(opts: RunOptions): Promise<number> {
    if (opts.detach && this.options.detachedMonitor === 'exit') {
      // create + start: the process must not run (and maybe exit) while the helper is still its
      // parent, or the caller's subreaper would never see its exit status.
      await this.create(opts);
      await this.start(opts.id);
      return 0;
    }
    const detach = opts.detach ?? false;
    // In the foreground we hear the exit ourselves and then remove the state: without `keep`
    // the monitor need not write (and fsync) exit.json. Should we die first, the monitor kills
    // the container (detach 0) and `delete` finds its pid gone.
    const exitRecord = detach || opts.keep === true;
    const { helper, record, spec, stored, visible } = await this.spawnContainer(opts, 'run', detach, exitRecord);
    this.runPoststart(spec, record);
    if (opts.detach) {
      await this.detachFrom(helper, record);
      return 0;
    }
    opts.onStarted?.(record.initPid);
    let exit: HelperExit;
    try {
      exit = await helper.exited;
    } finally {
      const written = (opts.keep ? stored : visible).catch((err) => this.warn(`state.json: ${err.message}`));
      // What delete does, from the record in hand: nothing to re-read. Without `keep`, renamed
      // into place is enough: the removal takes the file and its directory away. A kept state
      // must be durable.
      const cgroup = record.cgroup ? cgroupFromRecord(record.cgroup) : undefined;
      if (!opts.keep) await this.remove(record, cgroup, written).catch((err) => this.warn(String(err.message)));
      await written; // settled unless the removal failed first: no write may outlive us
    }
    return exit.signal ? 128 + exit.signal : exit.exitCode;
  }

  private loadSpec(opts: CreateOptions): Spec {
    if (opts.spec) return validateSpec(opts.spec, { requireProcess: true });
    const file = path.join(opts.bundle, 'config.json');
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      throw new ContainerError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code}`, 'ENOENT');
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new ContainerError(`invalid config.json: ${(err as Error).message}`);
    }
    return validateSpec(json, { requireProcess: true });
  }

  private async spawnContainer(opts: CreateOptions, mode: PlanMode, detach = true, exitRecord = true) {
    const bundle = path.resolve(opts.bundle);
    const spec = this.loadSpec({ ...opts, bundle });
    const process = spec.process!;
    // Detached with a tty: somebody must hold the master. A console socket hands it to the caller;
    // with a log file the monitor keeps it and logs the output.
    if (process.terminal && !opts.consoleSocket && detach && !opts.logFile) {
      throw new ContainerError('cannot allocate tty if runc will detach without setting console socket');
    }
    if (!process.terminal && opts.consoleSocket) {
      throw new ContainerError('cannot use console socket if runc will not detach or allocate tty');
    }
    for (const cap of unknownCapabilities(process.capabilities)) this.warn(`ignoring unknown or unsupported capability "${cap}"`);
    const dir = this.store.claim(opts.id);
    let cgroup: CgroupDriver | undefined;
    let helper: HelperProcess | undefined;
    let stored: Promise<void> | undefined; // state.json durable
    let visible: Promise<void> | undefined; // state.json renamed into place
    const record: ContainerRecord = {
      ociVersion: spec.ociVersion,
      id: opts.id,
      bundle,
      rootfs: path.resolve(bundle, spec.root!.path),
      created: isoTime(),
      owner: '',
      annotations: spec.annotations,
      initPid: 0,
      initStartTime: '',
      monitorPid: 0,
      config: spec,
    };
    try {
      const execFifo = mode === 'create' ? makeExecFifo(dir) : undefined;
      // The config's device rules, then the runtime's defaults but those whose path linux.devices
      // redefines: linux.devices only creates nodes (runc's specconv), so `--device
      // /dev/zero:/dev/zero:r` leaves /dev/zero read-only. The plan creates the same default nodes.
      const devices = defaultDeviceRules(defaultDevices(spec));
      cgroup = cgroupForContainer(spec.linux?.cgroupsPath, opts.id, devices, undefined, this.hostStepTracer());
      record.cgroup = cgroup.record;
      // Before the helper starts, the directory the container process is born in (clone3
      // CLONE_INTO_CGROUP) and, on v2, its device filter: it makes device nodes and opens
      // /dev/pts/ptmx while it sets up, which a half-made filter would refuse. v1 directories it
      // moves into at `cgroup-wait`: they are made, with everything in them, while it sets up.
      cgroup.makeDirs('clone-into');
      const v2 = cgroup.record.version === 2;
      if (v2) for (const w of cgroup.apply(spec.linux?.resources, 'devices')) this.warn(w);
      const oomFile = oomCheckFile(cgroup.record);
      const ops = compilePlan(spec, {
        mode,
        id: opts.id,
        bundle,
        stateDir: exitRecord ? dir : undefined,
        execFifo,
        consoleSocket: opts.consoleSocket ? path.resolve(opts.consoleSocket) : undefined,
        detach,
        monitor: !(detach && this.options.detachedMonitor === 'exit'),
        trace: this.options.onTrace !== undefined,
        cgroupDirs: cgroup.joinDirs(),
        cgroupCloneInto: cgroup.cloneIntoDir(),
        cgroupVersion: cgroup.record.version,
        cgroupMountSources: cgroupMountSources(cgroup),
        cgroupWait: true,
        noPivot: opts.noPivot,
        preserveFds: opts.preserveFds,
        devCore: fs.existsSync('/proc/kcore'),
        logFile: opts.logFile ? { ...opts.logFile, path: path.resolve(opts.logFile.path) } : undefined,
        oomCheck: oomFile && (!v2 || fs.existsSync(oomFile)) ? oomFile : undefined, // v2: only with the memory controller
        exitCommand: opts.exitCommand,
        attachSocket: opts.attachSocket,
        attachStdin: opts.attachStdin,
        startHookState: spec.hooks?.startContainer?.length ? startHookState(record) : undefined,
      });
      // Two processes at work from here until `sync cgroups`: the helper creates the container
      // process and its first mounts, while we make the v1 directories and write the limits.
      // The container process waits at `cgroup-wait` until both are done: a foreground start
      // answers right after the synchronous writes below (answerAhead), a detached one once its
      // state is durable (onSync). state.json (with the pid the helper reports right after its
      // clone: `delete` can clean up a crash from then on) is written and fsync'd on the thread
      // pool meanwhile.
      const started = new HelperProcess(ops, {
        stdio: opts.stdio ?? ['inherit', 'inherit', 'inherit'],
        preservedFds: Array.from({ length: opts.preserveFds ?? 0 }, (_, i) => 3 + i),
        onTrace: this.options.onTrace,
        // A detached container (create, run -d) outlives us: it must not start before its
        // state.json is durable, or a crash of ours would leave it where `delete` cannot see it.
        // Hooks get the state on disk too (a hook may run `hull-oci state`). A foreground run's
        // container dies with us (the helper's EOF), so it goes on at once.
        onSync: async (name, pid) => {
          if (name === SYNC_CGROUPS) return detach ? stored : undefined;
          await stored;
          this.onSync(name, pid, spec, record);
        },
      });
      helper = started;
      cgroup.makeDirs('others');
      for (const w of cgroup.apply(spec.linux?.resources, v2 ? 'limits' : 'all')) this.warn(w);
      // In the foreground the container may go on now: say so at once, not when our event loop
      // gets to the monitor's `sync cgroups`.
      if (!detach) started.answerAhead(SYNC_CGROUPS);
      const write = started.pidReported.then((pid) => {
        this.recordPid(record, pid, started.monitorPid);
        return this.store.writeInBackground(record);
      });
      stored = write.then((w) => w.durable);
      visible = write.then((w) => w.visible);
      visible.catch(() => undefined); // stored carries the failure
      stored.catch(() => undefined); // awaited below, unless `ready` failed first
      await helper.ready;
      // A foreground run lets the fsyncs finish while its container runs (it awaits them before
      // removing the state); everyone else hears of the container once its state is durable.
      if (detach) await stored;
      if (opts.pidFile) writeFileAtomic(path.resolve(opts.pidFile), String(record.initPid));
      return { helper, record, spec, stored, visible };
    } catch (err) {
      helper?.kill();
      await helper?.exited.catch(() => undefined);
      await stored?.catch(() => undefined); // a state.json write in flight must not outlive the removal
      if (cgroup) {
        await cgroup.killAll().catch(() => undefined);
        await cgroup.destroy().catch(() => undefined);
      }
      this.store.remove(opts.id);
      throw err;
    }
  }

  /** Let the caller go while the container runs on (see RuntimeOptions.detachedMonitor). */
  private async detachFrom(helper: HelperProcess, record?: ContainerRecord): Promise<void> {
    if (this.options.detachedMonitor !== 'exit') {
      helper.release();
      return;
    }
    // The plan said `monitor 0`: the helper exits by itself right after `ready`, without reaping
    // the container process (a quick one may already be a zombie, which the subreaper collects).
    await helper.helperGone();
    helper.release();
    if (record) {
      record.monitorPid = 0;
      record.monitorStartTime = undefined;
      this.store.write(record, { lock: false });
    }
  }

  private recordPid(record: ContainerRecord, pid: number, monitorPid: number): void {
    if (!pid) throw new HullRuntimeError('hull-helper did not report the container pid');
    record.initPid = pid;
    record.initStartTime = processStartTime(pid) ?? '';
    record.monitorPid = monitorPid;
    record.monitorStartTime = processStartTime(monitorPid);
  }

  /** Hook points inside create (the container process waits at a `sync` op meanwhile). */
  private onSync(name: string, pid: number, spec: Spec, record: ContainerRecord): void {
    const state = { ...ociState(record, 'created'), status: 'creating' };
    if (name === SYNC_CREATE_RUNTIME) {
      runHooks('prestart', spec.hooks?.prestart, state);
      runHooks('createRuntime', spec.hooks?.createRuntime, state);
    } else if (name === SYNC_CREATE_CONTAINER) {
      runHooks('createContainer', spec.hooks?.createContainer, state, { mountNamespaceOf: pid });
    }
  }

  private runPoststart(spec: Spec, record: ContainerRecord): void {
    try {
      runHooks('poststart', spec.hooks?.poststart, ociState(record, 'running'));
    } catch (err) {
      this.warn((err as HookError).message);
    }
  }

  // ---------------------------------------------------------------- inspection

  private load(id: string): { record: ContainerRecord; status: Exclude<Status, 'creating'>; cgroup?: CgroupDriver } {
    const record = this.store.read(id);
    const cgroup = record.cgroup ? cgroupFromRecord(record.cgroup) : undefined;
    const status = deriveStatus({ record, stateDir: this.store.dir(id), isFrozen: () => cgroup?.isFrozen() ?? false });
    return { record, status, cgroup };
  }

  state(id: string): OciState {
    const { record, status } = this.load(id);
    return ociState(record, status);
  }

  list(): ContainerSummary[] {
    const out: ContainerSummary[] = [];
    for (const id of this.store.list()) {
      try {
        const s = this.state(id);
        out.push({ id, pid: s.pid, status: s.status, bundle: s.bundle, created: s.created, owner: s.owner });
      } catch {
        /* deleted while listing */
      }
    }
    return out;
  }

  ps(id: string): number[] {
    const { record, status, cgroup } = this.load(id);
    if (status === 'stopped') return [];
    return cgroup ? cgroup.procs() : [record.initPid];
  }

  stats(id: string): CgroupStats {
    const { cgroup } = this.load(id);
    return cgroup?.stats() ?? {};
  }

  /** The saved record (config, cgroup paths): for `exec` and tooling. */
  record(id: string): ContainerRecord {
    return this.store.read(id);
  }

  // ---------------------------------------------------------------- start / signals

  /** OCI start: release the process waiting on exec.fifo, then run poststart hooks. */
  async start(id: string): Promise<void> {
    const { record, status } = this.load(id);
    if (status === 'stopped') throw new ContainerError('cannot start a container that has stopped', 'ESTATE');
    if (status !== 'created') throw new ContainerError(`cannot start an already ${status} container`, 'ESTATE');
    const fifo = path.join(this.store.dir(id), EXEC_FIFO);
    // With startContainer hooks, wait for them: they run between the fifo and execve.
    const waitForHooks = (record.config.hooks?.startContainer?.length ?? 0) > 0;
    await releaseExecFifo(fifo, () => isSameProcess(record.initPid, record.initStartTime), waitForHooks);
    this.runPoststart(record.config, record);
  }

  /** Signal the init process (pidfd, so a reused pid is never hit), or every process with `all`. */
  async kill(id: string, signal: string | number = 'SIGTERM', opts: { all?: boolean } = {}): Promise<void> {
    const sig = parseSignal(signal);
    const { record, status, cgroup } = this.load(id);
    // --all also works on a stopped container (as runc): the shim uses it to sweep up what the
    // init left behind in its cgroup.
    if (opts.all && cgroup) {
      if (status !== 'stopped' || cgroup.procs().length) await cgroup.killAll(sig);
      return;
    }
    if (status === 'stopped') throw new ContainerError('container not running', 'ESTATE');
    signalProcess(record.initPid, record.initStartTime, sig);
  }

  async pause(id: string): Promise<void> {
    const { status, cgroup } = this.load(id);
    if (status !== 'running' && status !== 'created') throw new ContainerError('container not running', 'ESTATE');
    if (!cgroup) throw new ContainerError('container has no cgroup: cannot pause');
    await cgroup.freeze();
  }

  async resume(id: string): Promise<void> {
    const { status, cgroup } = this.load(id);
    if (status !== 'paused') throw new ContainerError('container not paused', 'ESTATE');
    await cgroup!.thaw();
  }

  /** New resource limits for a live container (`update -r`). */
  update(id: string, resources: Resources): void {
    const { record, status, cgroup } = this.load(id);
    if (status === 'stopped') throw new ContainerError('container not running', 'ESTATE');
    if (!cgroup) throw new ContainerError('container has no cgroup: cannot update');
    // New device rules replace the old ones: the runtime's defaults still follow them, as at create.
    const devices = resources.devices && defaultDeviceRules(defaultDevices(record.config));
    for (const w of cgroup.apply(devices ? { ...resources, devices: [...resources.devices!, ...devices] } : resources)) this.warn(w);
    const linux = (record.config.linux ??= {});
    linux.resources = mergeResources(linux.resources ?? {}, resources);
    this.store.write(record);
  }

  // ---------------------------------------------------------------- exec

  /** Run another process in the container; foreground resolves with its exit code, detached with 0. */
  async exec(id: string, process: Process, opts: ExecOptions = {}): Promise<number> {
    validateProcess(process);
    const { record, status, cgroup } = this.load(id);
    if (status === 'stopped') throw new ContainerError('cannot exec in a stopped container', 'ESTATE');
    if (status === 'paused') throw new ContainerError('cannot exec in a paused container', 'ESTATE');
    if (process.terminal && !opts.consoleSocket && opts.detach) {
      throw new ContainerError('cannot allocate tty if runc will detach without setting console socket');
    }
    // The exec's monitor records the exit status here; delete removes it with the container.
    const stateDir = path.join(this.store.dir(id), `exec-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`);
    fs.mkdirSync(stateDir, { mode: 0o700 });
    const ops = compilePlan(record.config, {
      mode: 'exec',
      id,
      bundle: record.bundle,
      stateDir,
      consoleSocket: opts.consoleSocket ? path.resolve(opts.consoleSocket) : undefined,
      detach: opts.detach ?? false,
      monitor: !(opts.detach && this.options.detachedMonitor === 'exit'),
      trace: this.options.onTrace !== undefined,
      cgroupDirs: cgroup?.joinDirs() ?? [],
      cgroupCloneInto: cgroup?.cloneIntoDir(),
      preserveFds: opts.preserveFds,
      initPid: record.initPid,
      process,
    });
    const helper = new HelperProcess(ops, {
      stdio: opts.stdio ?? ['inherit', 'inherit', 'inherit'],
      preservedFds: Array.from({ length: opts.preserveFds ?? 0 }, (_, i) => 3 + i),
      onTrace: this.options.onTrace,
    });
    try {
      await helper.ready;
    } catch (err) {
      await helper.exited.catch(() => undefined);
      fs.rmSync(stateDir, { recursive: true, force: true });
      throw err;
    }
    if (opts.pidFile) writeFileAtomic(path.resolve(opts.pidFile), String(helper.pid));
    if (opts.detach) {
      await this.detachFrom(helper);
      return 0;
    }
    opts.onStarted?.(helper.pid);
    try {
      const exit = await helper.exited;
      return exit.signal ? 128 + exit.signal : exit.exitCode;
    } finally {
      fs.rmSync(stateDir, { recursive: true, force: true });
    }
  }

  // ---------------------------------------------------------------- delete

  /**
   * Remove a stopped (or, with `force`, any) container: kill what is left, remove the cgroup, run
   * poststop hooks, delete the state directory.
   */
  async delete(id: string, opts: { force?: boolean } = {}): Promise<void> {
    let loaded: ReturnType<Runtime['load']>;
    try {
      loaded = this.load(id);
    } catch (err) {
      if ((err as ContainerError).code !== 'ENOENT') throw err;
      // An aborted create can leave a directory without state.json: remove it (runc does the same),
      // and the cgroup it may have made at the default path (the record that would name another
      // path never got written).
      const dir = this.store.dir(id);
      const existed = fs.existsSync(dir);
      if (existed) await cgroupForContainer(undefined, id).destroy().catch(() => undefined);
      this.store.remove(id);
      if (opts.force || existed) return;
      throw notExist(id);
    }
    const { record, status, cgroup } = loaded;
    if ((status === 'running' || status === 'paused') && !opts.force) {
      throw new ContainerError(`cannot delete container ${id} that is not stopped: ${status}`, 'ESTATE');
    }
    await this.remove(record, cgroup);
  }

  /**
   * Kill whatever is left, wait for the init and the monitor, then remove cgroups and state.
   * `stateWritten`: a write of state.json still in flight (a foreground run's), awaited only
   * before the state directory goes: a short-lived container often ends while that write's fsync
   * (1-7 ms on a disk) still runs, and the cgroups need not wait for it.
   */
  private async remove(record: ContainerRecord, cgroup: CgroupDriver | undefined, stateWritten?: Promise<void>): Promise<void> {
    if (cgroup) {
      await cgroup.killAll(9).catch(() => undefined);
      if (cgroup.isFrozen()) await cgroup.thaw().catch(() => undefined);
    }
    try {
      // No cgroup, or a process that escaped it. (Checked first: usually it is gone already, and
      // then the addon need not even be loaded.)
      if (isSameProcess(record.initPid, record.initStartTime)) signalProcess(record.initPid, record.initStartTime, 9);
    } catch {
      /* it exited meanwhile: that is what we want */
    }
    await waitGone(record.initPid, record.initStartTime);
    // The monitor writes exit.json into the state directory and then exits: let it finish first.
    if (record.monitorPid && record.monitorStartTime) {
      await waitGone(record.monitorPid, record.monitorStartTime, 5_000).catch(() => {
        if (isSameProcess(record.monitorPid, record.monitorStartTime!)) process.kill(record.monitorPid, 'SIGKILL');
      });
    }
    if (cgroup) await cgroup.destroy();
    await stateWritten;
    this.store.removeOnce(record.id, () => {
      try {
        runHooks('poststop', record.config.hooks?.poststop, ociState(record, 'stopped'));
      } catch (err) {
        this.warn((err as Error).message);
      }
    });
  }
}

/** The v1 hierarchies to bind under the container's /sys/fs/cgroup (see plan.ts compileCgroupMount). */
function cgroupMountSources(cgroup: CgroupDriver): CgroupMountSource[] {
  if (cgroup.record.version !== 1) return [];
  return Object.entries(cgroup.record.dirs).map(([name, hostDir]) => ({
    name,
    hostDir,
    aliases: name.includes(',') ? name.split(',') : [],
  }));
}

function mergeResources(base: Resources, update: Resources): Resources {
  const out: Resources = { ...base };
  for (const [k, v] of Object.entries(update)) {
    const key = k as keyof Resources;
    const old = base[key];
    (out as Record<string, unknown>)[key] =
      v && typeof v === 'object' && !Array.isArray(v) && old && typeof old === 'object' && !Array.isArray(old) ? { ...old, ...v } : v;
  }
  return out;
}

/** mkfifo <dir>/exec.fifo 0622 (the container opens it for writing, `start` for reading). */
function makeExecFifo(dir: string): string {
  const fifo = path.join(dir, EXEC_FIFO);
  native().mknod(fifo, 'p', 0o622, 0, 0);
  fs.chmodSync(fifo, 0o622); // mknod honours our umask
  return fifo;
}

/** The state startContainer hooks get, but `pid`: the container process adds the pid it sees. */
function startHookState(record: ContainerRecord): string {
  const { pid: _pid, ...state } = ociState(record, 'created');
  return JSON.stringify(state);
}

/**
 * Open the fifo without blocking (a blocking open would hang forever if the container died), then
 * read the one byte the container writes once it sees a reader; unlink it so the status is `running`.
 * `waitForHooks`: the container keeps the fifo open while its startContainer hooks run, until it
 * execs (EOF) or a hook fails (it writes the error, then exits).
 */
async function releaseExecFifo(fifo: string, alive: () => boolean, waitForHooks = false): Promise<void> {
  let fd: number;
  try {
    fd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (err) {
    throw new ContainerError(`cannot start container: open ${fifo}: ${(err as NodeJS.ErrnoException).code}`, 'ESTATE');
  }
  try {
    const buf = Buffer.alloc(1);
    for (let attempt = 0; ; attempt++) {
      let n = 0;
      try {
        n = fs.readSync(fd, buf, 0, 1, null);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      }
      if (n === 1) break;
      if (!alive()) throw new ContainerError('cannot start a container that has stopped', 'ESTATE');
      if (attempt > 10000) throw new ContainerError('container did not open its exec fifo', 'ESTATE');
      await new Promise((r) => setTimeout(r, attempt < 20 ? 0 : 5));
    }
    if (waitForHooks) {
      fs.rmSync(fifo, { force: true });
      const chunk = Buffer.alloc(4096);
      let error = '';
      for (let attempt = 0; ; attempt++) {
        let n = -1;
        try {
          n = fs.readSync(fd, chunk, 0, chunk.length, null);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
        }
        if (n === 0) break; // no writer left: execve happened, or the process is gone
        if (n > 0) error += chunk.toString('utf8', 0, n);
        else await new Promise((r) => setTimeout(r, attempt < 20 ? 0 : 5));
      }
      if (error) throw new ContainerError(error);
    }
  } finally {
    fs.closeSync(fd);
  }
  fs.rmSync(fifo, { force: true });
}

/** pidfd_send_signal to a pidfd taken after checking the start time: no window for pid reuse. */
function signalProcess(pid: number, startTime: string, signal: number): void {
  let nat: HullNative | undefined;
  try {
    nat = native();
  } catch {
    nat = undefined;
  }
  if (nat?.pidfdOpen) {
    let pidfd: number;
    try {
      pidfd = nat.pidfdOpen(pid);
    } catch {
      throw new ContainerError('container not running', 'ESTATE');
    }
    try {
      if (!isSameProcess(pid, startTime)) throw new ContainerError('container not running', 'ESTATE');
      nat.pidfdSendSignal(pidfd, signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') throw new ContainerError('container not running', 'ESTATE');
      throw err;
    } finally {
      fs.closeSync(pidfd);
    }
    return;
  }
  if (!isSameProcess(pid, startTime)) throw new ContainerError('container not running', 'ESTATE');
  try {
    process.kill(pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') throw new ContainerError('container not running', 'ESTATE');
    throw err;
  }
}

async function waitGone(pid: number, startTime: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (isSameProcess(pid, startTime)) {
    if (Date.now() > deadline) throw new ContainerError(`container process ${pid} did not exit after SIGKILL`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

