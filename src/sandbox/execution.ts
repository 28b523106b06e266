// One command in a sandbox: hand its plan to a (warm) helper, feed stdin, collect output up to the
// limit, enforce the timeout and watch for OOM, then turn what happened into a SandboxResult.
// Every kill goes to the command's cgroup (cgroup.kill), never to one pid: the whole tree dies.
import * as os from 'node:os';
import type { HullRuntimeError, HelperExit } from '../runtime/helper-process';
import type { SandboxCgroup } from './cgroup';
import { takeHelper, type SandboxHelper } from './helper';
import type { ResolvedProcessOptions, SandboxReason, SandboxResult, SandboxTrace } from './options';

export interface OutputChunk {
  stream: 'stdout' | 'stderr';
  data: Buffer;
}

export interface LaunchParams {
  /** The plan, serialized (PlanTemplate.serialize). */
  plan: string;
  /** The cgroup holding exactly this command's processes (killed on timeout/limits, measured). */
  group: SandboxCgroup;
  /** Poll this group's OOM counter (cgroup v1 cannot kill a whole group on OOM by itself). */
  watchOom: boolean;
  /** Kill whatever the command left running once its main process ended (exec in a long-lived
   * sandbox; a run's PID namespace does that by itself). */
  killLeftovers: boolean;
  /**
   * The group also holds the helper (a pool slot's monitor, which must live to reap the command):
   * kill the tree by killing the init of the command's own PID namespace (the kernel then kills
   * every process in it), not the group.
   */
  monitorInGroup?: boolean;
  proc: ResolvedProcessOptions;
  argv: string[];
  trace?: SandboxTrace;
}

const OOM_POLL_MS = 50;
/** After a cgroup kill, how long before the monitor itself is killed (it should exit at once). */
const KILL_BACKSTOP_MS = 5000;

const SIGNAL_NAMES = Object.fromEntries(Object.entries(os.constants.signals).map(([name, n]) => [n, name])) as Record<number, NodeJS.Signals>;

/** A running command: await it (or `.result`) for the result; iterate it for output as it comes. */
export class Execution implements PromiseLike<SandboxResult>, AsyncIterable<OutputChunk> {
  readonly result: Promise<SandboxResult>;
  private p?: LaunchParams;
  private helper?: SandboxHelper;
  private started = 0;
  private endedAt = 0;
  private stopReason?: SandboxReason;
  private stdout: Buffer[] = [];
  private stderr: Buffer[] = [];
  private outputBytes = 0;
  private queue: OutputChunk[] = [];
  private wake?: () => void;
  private done = false;
  private timers: NodeJS.Timeout[] = [];

  /**
   * `prepare` creates what the command needs (its cgroup) and returns the launch parameters;
   * `cleanup` removes it again, whatever happened. The result settles after cleanup. `preset`: the
   * helper to use (a pool slot's), else a warm one is taken.
   */
  constructor(prepare: () => Promise<LaunchParams>, cleanup: () => Promise<void>, preset?: SandboxHelper) {
    this.result = (async () => {
      let helper: SandboxHelper | undefined;
      try {
        const preparing = prepare(); // cgroup work runs on the thread pool meanwhile
        helper = preset ?? takeHelper();
        this.p = await preparing;
        if (this.stopReason) {
          helper.kill();
          return this.notStarted();
        }
        this.launch(this.p, helper);
        return await this.finish(this.p);
      } catch (err) {
        preparingFailed(helper, this.helper);
        throw err;
      } finally {
        this.done = true;
        this.notify();
        await cleanup();
      }
    })();
    this.result.catch(() => undefined); // callers await it; iteration alone must not raise an unhandled rejection
  }

  /** Host pid of the command's main process (0 until it started). */
  get pid(): number {
    return this.helper?.pid ?? 0;
  }

  then<A = SandboxResult, B = never>(
    onfulfilled?: ((value: SandboxResult) => A | PromiseLike<A>) | null,
    onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return this.result.then(onfulfilled, onrejected);
  }

  /** Kill the command's whole process tree now (reason "signal"). */
  kill(): void {
    this.stop('signal');
  }

  async *[Symbol.asyncIterator](): AsyncIterator<OutputChunk> {
    for (;;) {
      while (this.queue.length) yield this.queue.shift()!;
      if (this.done) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private launch(p: LaunchParams, helper: SandboxHelper): void {
    this.started = performance.now();
    this.helper = helper;
    const child = helper.child;
    helper.stdout.on('data', (chunk: Buffer) => this.onOutput(p, 'stdout', chunk));
    helper.stderr.on('data', (chunk: Buffer) => this.onOutput(p, 'stderr', chunk));
    helper.start(p.plan, { onTrace: p.trace });
    helper.stdin.end(p.proc.stdin); // no input: EOF at once
    child.once('exit', () => {
      this.endedAt = performance.now();
      // Background processes may still hold stdout open: they end with the command.
      if (p.killLeftovers) void p.group.kill().catch(() => undefined);
    });
    if (p.proc.timeoutMs !== undefined) this.timers.push(setTimeout(() => this.stop('timeout'), p.proc.timeoutMs));
    if (p.watchOom) {
      const poll = setInterval(() => {
        p.group.oomKills().then((n) => n > 0 && this.stop('oom'), () => undefined);
      }, OOM_POLL_MS);
      this.timers.push(poll);
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private onOutput(p: LaunchParams, stream: 'stdout' | 'stderr', chunk: Buffer): void {
    if (this.stopReason === 'output-limit') return; // the rest is dropped; the tree is being killed
    const room = p.proc.outputLimitBytes - this.outputBytes;
    const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
    if (kept.length) {
      this.outputBytes += kept.length;
      (stream === 'stdout' ? this.stdout : this.stderr).push(kept);
      (stream === 'stdout' ? p.proc.onStdout : p.proc.onStderr)?.(kept);
      this.queue.push({ stream, data: kept });
      this.notify();
    }
    if (chunk.length > room) this.stop('output-limit');
  }

  /** Kill the command's cgroup; the first reason wins. */
  private stop(reason: SandboxReason): void {
    if (this.stopReason || this.done) return;
    this.stopReason = reason;
    const { p, helper } = this;
    if (!p || !helper) return; // not started yet: it will not be
    if (p.monitorInGroup) killNamespaceInit(helper);
    else p.group.kill().catch(() => helper.kill());
    // The monitor exits once its process is dead; if it somehow does not, kill it too.
    const backstop = setTimeout(() => helper.kill(), KILL_BACKSTOP_MS);
    backstop.unref();
    this.timers.push(backstop);
  }

  /** Killed before its plan was sent. */
  private notStarted(): SandboxResult {
    return { exitCode: 137, signal: 'SIGKILL', reason: this.stopReason!, stdout: '', stderr: '', wallMs: 0, cpuMs: 0, peakMemoryBytes: 0 };
  }

  private async finish(p: LaunchParams): Promise<SandboxResult> {
    const helper = this.helper!;
    let exit: HelperExit | undefined;
    let failure: Error | undefined;
    try {
      await helper.ready;
      exit = await helper.exited;
    } catch (err) {
      failure = err as Error;
      await helper.exited.catch(() => undefined);
    } finally {
      for (const t of this.timers) clearTimeout(t);
    }
    const wallMs = (this.endedAt || performance.now()) - this.started;
    const usage = await p.group.usage().catch(() => ({ cpuNs: 0, peakBytes: 0, oomKills: 0 }));
    const base = {
      stdout: Buffer.concat(this.stdout).toString('utf8'),
      stderr: Buffer.concat(this.stderr).toString('utf8'),
      wallMs,
      cpuMs: usage.cpuNs / 1e6,
      peakMemoryBytes: usage.peakBytes,
    };
    if (failure && !this.stopReason && usage.oomKills === 0) {
      return { ...base, ...setupFailure(failure, p.argv) };
    }
    const signal = exit?.signal ? SIGNAL_NAMES[exit.signal] ?? null : this.stopReason ? 'SIGKILL' : null;
    const exitCode = exit ? exit.exitCode : 137;
    let reason: SandboxReason;
    if (this.stopReason === 'timeout' || this.stopReason === 'output-limit') reason = this.stopReason;
    else if (usage.oomKills > 0 || this.stopReason === 'oom') reason = 'oom';
    else if (this.stopReason === 'signal' || signal) reason = 'signal';
    else reason = 'exit';
    return { ...base, exitCode, signal, reason };
  }
}

/**
 * SIGKILL the command's PID 1 (known once the helper reports it; until the container is set up
 * there is nothing else in its namespace). The pid stays its own until the monitor reaps it, which
 * the monitor does right before it exits: only in that instant could the pid be someone else's,
 * and only if the kernel handed out every other pid (up to pid_max) in between.
 */
function killNamespaceInit(helper: SandboxHelper): void {
  const kill = () => {
    if (!helper.pid || helper.child.exitCode !== null || helper.child.signalCode !== null) return;
    try {
      process.kill(helper.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  };
  if (helper.pid) kill();
  helper.ready.then(kill, () => undefined);
}

/** A helper taken for a run that never got its plan goes away (it holds nothing yet). */
function preparingFailed(taken: SandboxHelper | undefined, launched: SandboxHelper | undefined): void {
  if (taken && taken !== launched) taken.kill();
}

/** The helper could not start the command: 127 not found, 126 not executable, 125 setup failed. */
function setupFailure(err: Error, argv: string[]): Pick<SandboxResult, 'exitCode' | 'signal' | 'reason' | 'error'> {
  const e = err as HullRuntimeError;
  const atExec = e.op === 'exec' || e.syscall === 'execve';
  if (atExec && e.code === 'ENOENT') {
    return { exitCode: 127, signal: null, reason: 'error', error: withCause(`command not found: ${argv[0]}`, err) };
  }
  if (atExec && (e.code === 'EACCES' || e.code === 'ENOEXEC' || e.code === 'EPERM')) {
    return { exitCode: 126, signal: null, reason: 'error', error: withCause(`command cannot be executed: ${argv[0]} (${e.code})`, err) };
  }
  return { exitCode: 125, signal: null, reason: 'error', error: withCause(`sandbox setup failed: ${err.message}`, err) };
}

function withCause(message: string, cause: Error): Error {
  const err = new Error(message, { cause });
  const c = cause as HullRuntimeError;
  Object.assign(err, { code: c.code, op: c.op, syscall: c.syscall, path: c.path });
  return err;
}
