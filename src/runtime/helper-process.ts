// Runs build/Release/hull-helper with a plan and speaks its fd-3 protocol (docs/internals/plan.md):
// write the plan, then read `pid`, `sync`, `ready`, `trace`, `error`, `exit` lines.
//
// Two phases: spawning the helper does not depend on the plan (the helper blocks reading fd 3 until
// one arrives), so `new HelperProcess(null, …)` spawns it now and `start(ops, …)` sends the plan
// later; the sandbox library keeps such warm helpers (src/sandbox/helper.ts). The runtime passes the
// plan to the constructor, which starts the helper at once.
//
// The helper is started by the addon (native/spawn.cc), not node:child_process: from one sealed
// memfd copy per process (it then skips its own copy and second execve), with a pidfd for its exit
// and uv_poll watches for fd 3 and any 'pipe' stdio (docs/internals/helper.md, "Spawning").
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import type { Readable, Stream, Writable } from 'node:stream';
import { helperPath, native, type FdWatch } from '../native';
import { fdStreams, type FdReadable, type FdWritable } from './fd-stream';
import { type PlanOp, escapeField, parseLine, serializePlan } from './plan';

/** A failed step inside the helper, with everything it reported. */
export class HullRuntimeError extends Error {
  code?: string;
  errno?: number;
  syscall?: string;
  path?: string;
  /** Index of the failed op in the plan, and its name. */
  step?: number;
  op?: string;
  /** The helper's exit code (125 for setup failures). */
  exitCode?: number;

  constructor(message: string, details: Partial<HullRuntimeError> = {}) {
    super(message);
    this.name = 'HullRuntimeError';
    Object.assign(this, details);
  }
}

/** One stdio slot: an fd of ours, a stream with an fd, or 'inherit' / 'pipe' / 'ignore' (null = 'pipe'). */
export type StdioEntry = 'inherit' | 'pipe' | 'ignore' | number | Stream | null | undefined;
export type Stdio = [StdioEntry, StdioEntry, StdioEntry];

/** What the helper needs when it is spawned, before its plan is known. */
export interface HelperSpawnOptions {
  /** The container's stdin, stdout, stderr: fds or 'inherit'/'ignore'/'pipe'. */
  stdio: Stdio;
  /** Our fds passed as the container's 3, 4, … (`--preserve-fds`): the helper receives them at 4… */
  preservedFds?: number[];
  env?: NodeJS.ProcessEnv;
}

/** Callbacks for a running plan. */
export interface HelperHandlers {
  /** Called at each `sync` op (hooks); throwing aborts the container. Without it, `sync` is answered `go`. */
  onSync?: (name: string, pid: number) => Promise<void> | void;
  onTrace?: (step: number, op: string, text: string) => void;
}

export interface HelperOptions extends HelperSpawnOptions, HelperHandlers {}

export interface HelperExit {
  exitCode: number;
  signal: number;
}

/** Resolves errno names ("EPERM") to numbers for error objects. */
function errnoNumber(name: string): number | undefined {
  return (os.constants.errno as Record<string, number>)[name];
}

// ------------------------------------------------------------------ spawning

const READABLE = 1;

/**
 * fd 3: our end of the control socketpair, non-blocking, watched by one uv_poll for reading and,
 * while output is queued, writing. Plain callbacks: a plan is written once, lines come back.
 */
export class ControlChannel {
  private readonly watch: FdWatch;
  private queued: (string | Buffer)[] = [];
  private closed = false;

  constructor(
    readonly fd: number,
    private readonly onData: (text: string) => void,
    private readonly onEnd: () => void,
  ) {
    native().setNonblocking(fd, true);
    this.watch = native().watchFd(fd, (status, events) => this.onReady(status, events));
    this.watch.start(READABLE);
  }

  write(text: string): void {
    if (this.closed) return; // the helper is gone: its exit tells why
    this.queued.push(text);
    this.flush();
  }

  private flush(): void {
    while (this.queued.length && !this.closed) {
      let rest: Buffer | null;
      try {
        rest = native().writeSome(this.fd, this.queued[0]);
      } catch {
        this.queued = []; // EPIPE: the helper died early, reported by its exit
        break;
      }
      if (rest) {
        this.queued[0] = rest; // the socket is full: on when it is writable again
        this.watch.start(READABLE | 2);
        return;
      }
      this.queued.shift();
    }
    if (!this.closed) this.watch.start(READABLE);
  }

  private onReady(status: number, events: number): void {
    if (this.closed) return;
    if (events & 2) this.flush();
    if (!(events & READABLE) && status >= 0) return;
    let text: string | null = '';
    try {
      if (status >= 0) text = native().readSome(this.fd, 16 * 1024);
    } catch {
      text = ''; // ECONNRESET and friends: the helper is gone
    }
    if (text === null) return; // nothing to read after all
    if (text) this.onData(text);
    else this.destroy();
  }

  /** Close our end (the helper reads EOF); at EOF from the helper too. Idempotent. */
  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.watch.close();
    fs.closeSync(this.fd);
    this.onEnd();
  }

  ref(): void {
    this.watch.ref();
  }
  unref(): void {
    this.watch.unref();
  }
}

/**
 * The running hull-helper: what the runtime and the sandbox pool use of a ChildProcess (pid,
 * exitCode, signalCode, stdin/stdout/stderr for 'pipe' slots, stdio[3], kill, ref/unref, 'exit'
 * and 'close' events), over a pidfd.
 */
export class HelperChild extends EventEmitter {
  pid: number | undefined;
  pidfd = -1;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  stdin: Writable | null = null;
  stdout: Readable | null = null;
  stderr: Readable | null = null;
  readonly stdio: [Writable | null, Readable | null, Readable | null, ControlChannel | null] = [null, null, null, null];
  private exitWatch?: FdWatch;
  /** Open things 'close' waits for: the process, fd 3, 'pipe' streams. */
  private open = 1;

  /** Start the helper; throws the addon's error (syscall 'execve', path) if it cannot run. */
  spawn(opts: HelperSpawnOptions, onControlData: (text: string) => void): void {
    const n = native();
    const toClose: number[] = [];
    const fds: [number, number][] = [];
    const pipes: ['r' | 'w', number, number][] = []; // [our side, child fd, our fd]
    try {
      opts.stdio.forEach((entry, childFd) => {
        if (entry === 'inherit') fds.push([childFd, childFd]);
        else if (typeof entry === 'number') fds.push([childFd, entry]);
        else if (entry === 'ignore') {
          const devNull = fs.openSync('/dev/null', childFd === 0 ? 'r' : 'w');
          toClose.push(devNull);
          fds.push([childFd, devNull]);
        } else if (entry === 'pipe' || entry === null || entry === undefined) {
          const [r, w] = n.pipe();
          if (childFd === 0) {
            toClose.push(r);
            pipes.push(['w', childFd, w]);
            fds.push([childFd, r]);
          } else {
            toClose.push(w);
            pipes.push(['r', childFd, r]);
            fds.push([childFd, w]);
          }
        } else {
          const fd = streamFd(entry);
          if (fd === undefined) throw new TypeError(`stdio[${childFd}]: a stream without an fd`);
          fds.push([childFd, fd]);
        }
      });
      const [ours, theirs] = n.socketpair('stream');
      toClose.push(theirs);
      fds.push([3, theirs]);
      (opts.preservedFds ?? []).forEach((fd, i) => fds.push([4 + i, fd]));
      const env = Object.entries(opts.env ?? { PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' })
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => `${k}=${v}`);
      // The streams exist even if the spawn fails: their pipes then just read EOF / fail with EPIPE.
      if (pipes.length) {
        const { FdReadable: R, FdWritable: W } = fdStreams();
        for (const [side, childFd, fd] of pipes) {
          const stream: FdReadable | FdWritable = side === 'r' ? new R(fd) : new W(fd);
          if (side === 'r') {
            // As child_process: 'close' waits for the output pipes, not for stdin.
            this.open++;
            stream.once('close', () => this.closedOne());
          }
          if (childFd === 0) this.stdin = this.stdio[0] = stream as FdWritable;
          else if (childFd === 1) this.stdout = this.stdio[1] = stream as FdReadable;
          else this.stderr = this.stdio[2] = stream as FdReadable;
        }
      }
      this.open++;
      this.stdio[3] = new ControlChannel(ours, onControlData, () => this.closedOne());
      const { pid, pidfd } = spawnHelper(fds, env);
      this.pid = pid;
      this.pidfd = pidfd;
    } finally {
      for (const fd of toClose) fs.closeSync(fd);
    }
    this.exitWatch = n.watchFd(this.pidfd, () => this.reap());
    this.exitWatch.start(READABLE);
  }

  /** The pidfd polled readable: the helper has exited. */
  private reap(): void {
    const status = native().waitPidfd(this.pidfd);
    if (!status) return;
    this.exitWatch!.close();
    fs.closeSync(this.pidfd);
    this.pidfd = -1;
    this.exitCode = status.exitCode;
    this.signalCode = status.signal ? (signalName(status.signal) ?? null) : null;
    this.stdin?.destroy(); // nobody reads it any more (child_process does the same)
    this.emit('exit', this.exitCode, this.signalCode);
    this.closedOne();
  }

  /** The spawn failed: 'exit' and 'close' as if it had exited 127, after the caller set up its listeners. */
  failed(): void {
    this.exitCode = 127;
    this.stdio[3]?.destroy();
    for (const stream of [this.stdin, this.stdout, this.stderr]) stream?.destroy();
    process.nextTick(() => {
      this.emit('exit', this.exitCode, null);
      this.closedOne();
    });
  }

  private closedOne(): void {
    if (--this.open === 0) this.emit('close', this.exitCode, this.signalCode);
  }

  kill(signal: NodeJS.Signals | number = 'SIGTERM'): boolean {
    if (this.pidfd < 0) return false;
    const number = typeof signal === 'number' ? signal : os.constants.signals[signal];
    try {
      native().pidfdSendSignal(this.pidfd, number);
      return true;
    } catch {
      return false; // exited, not yet reaped
    }
  }

  /**
   * Forget the helper (detached containers): no pidfd kept open, no 'exit' event; a SIGCHLD
   * listener reaps it if Node outlives it.
   */
  detach(): void {
    if (this.pidfd < 0 || this.pid === undefined) return;
    this.exitWatch!.close();
    fs.closeSync(this.pidfd);
    this.pidfd = -1;
    released.add(this.pid);
    if (!reaperInstalled) process.on('SIGCHLD', reapReleased);
    reaperInstalled = true;
    reapReleased();
  }

  /** Whether the helper keeps Node alive (not its stdio: see the streams' own ref/unref). */
  ref(): void {
    this.exitWatch?.ref();
  }
  unref(): void {
    this.exitWatch?.unref();
  }
}

/** Detached helpers not reaped yet (their pidfds are closed: nothing of ours stays open for them). */
const released = new Set<number>();
let reaperInstalled = false;

function reapReleased(): void {
  for (const pid of released) {
    try {
      if (native().waitPid(pid)) released.delete(pid);
    } catch {
      released.delete(pid); // ECHILD: reaped elsewhere
    }
  }
  if (!released.size && reaperInstalled) {
    process.off('SIGCHLD', reapReleased);
    reaperInstalled = false;
  }
}

function streamFd(stream: Stream): number | undefined {
  const s = stream as unknown as { fd?: unknown; _handle?: { fd?: unknown } };
  if (typeof s.fd === 'number') return s.fd;
  if (typeof s._handle?.fd === 'number' && s._handle.fd >= 0) return s._handle.fd;
  return undefined;
}

function signalName(signal: number): NodeJS.Signals | undefined {
  return (Object.keys(os.constants.signals) as NodeJS.Signals[]).find((name) => os.constants.signals[name] === signal);
}

/**
 * The sealed copy, made on the first spawn of this process; `null` when the kernel gives none
 * (e.g. vm.memfd_noexec=2): then the helper is exec'd by path and makes its own copy as before.
 */
let sealedCopy: number | null | undefined;

function spawnHelper(fds: [number, number][], env: string[]): { pid: number; pidfd: number } {
  const n = native();
  if (sealedCopy === undefined) {
    try {
      sealedCopy = n.sealedHelper(helperPath);
    } catch {
      sealedCopy = null; // e.g. ENOENT: the spawn by path reports it as execve's error
    }
  }
  const options = { path: helperPath, argv: [helperPath], env, fds };
  if (sealedCopy !== null) {
    try {
      return n.spawn({ ...options, fd: sealedCopy });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EACCES' && code !== 'EPERM' && code !== 'ENOEXEC') throw err;
      sealedCopy = null; // memfds are not executable here
    }
  }
  return n.spawn(options);
}

// ------------------------------------------------------------------ the fd-3 protocol

export class HelperProcess {
  readonly child = new HelperChild();
  private buffered = '';
  private containerPid = 0;
  private failure?: HullRuntimeError;
  private reportedExit?: HelperExit;
  private resolveReady!: () => void;
  private rejectReady!: (err: Error) => void;
  private readySettled = false;
  private handlers: HelperHandlers = {};
  /** Syncs answered before the helper asked (answerAhead): their `sync` needs no reply. */
  private readonly answeredAhead = new Set<string>();
  private planSent = false;
  /** A `cgroup-self` waiting for its `attached`. */
  private joining?: { resolve: () => void; reject: (err: Error) => void };
  /** Settles when the container process is set up (`ready`) or the helper failed. */
  readonly ready: Promise<void>;
  /**
   * The container's host pid, as soon as the helper has cloned it (`pid`, long before `ready`);
   * rejects like `ready` if the helper fails first.
   */
  readonly pidReported: Promise<number>;
  private resolvePid!: (pid: number) => void;
  /**
   * Settles when the monitor exited and its stdio closed ('close', not 'exit'): the container's exit
   * code (128+signal if killed).
   */
  readonly exited: Promise<HelperExit>;

  /** Spawn the helper; with `ops`, start it at once, else it waits on fd 3 until `start`. */
  constructor(ops: readonly PlanOp[] | null, opts: HelperOptions) {
    this.ready = new Promise<void>((resolve, reject) => {
      this.resolveReady = () => {
        this.readySettled = true;
        resolve();
      };
      this.rejectReady = (err) => {
        this.readySettled = true;
        reject(err);
      };
    });
    this.ready.catch(() => {}); // callers await it; avoid an unhandled rejection if they await `exited` first
    const reported = new Promise<number>((resolve) => (this.resolvePid = resolve));
    // Without a `pid` the helper failed before the clone: `ready` carries that failure.
    this.pidReported = Promise.race([reported, this.ready.then(() => this.containerPid)]);
    this.pidReported.catch(() => {});
    this.exited = new Promise<HelperExit>((resolve, reject) => {
      this.child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
        const exit = this.reportedExit ?? {
          exitCode: code ?? 128 + (signal ? os.constants.signals[signal] : 0),
          signal: signal ? os.constants.signals[signal] : 0,
        };
        // Only a still-pending `ready` needs the error (building one, stack and all, for every
        // sandbox run that went fine is measurable in a busy pool).
        if (!this.readySettled) {
          this.rejectReady(
            this.failure ??
              new HullRuntimeError(`hull-helper exited with code ${code ?? signal} before the container was ready`, { exitCode: code ?? undefined }),
          );
        }
        if (this.joining) {
          this.joining.reject(this.failure ?? new HullRuntimeError(`hull-helper exited with code ${code ?? signal} before joining its cgroups`));
          this.joining = undefined;
        }
        if (this.failure) reject(this.failure);
        else resolve(exit);
      });
    });
    this.exited.catch(() => {});
    try {
      this.child.spawn(opts, (chunk) => this.onData(chunk));
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      this.failure = new HullRuntimeError(`cannot start ${helperPath}: ${e.message}`, {
        code: e.code,
        errno: e.errno === undefined ? undefined : Math.abs(e.errno),
        syscall: e.syscall,
        path: e.path,
      });
      this.child.failed();
      return;
    }
    if (ops) this.sendPlan(ops, opts);
  }

  private get control(): ControlChannel {
    return this.child.stdio[3]!;
  }

  /**
   * Send the plan to a helper spawned without one: it runs it right away. `ops` may be the plan
   * already serialized (`serializePlan`'s text, as sandbox plan templates make it).
   */
  start(ops: readonly PlanOp[] | string, handlers: HelperHandlers = {}): void {
    this.sendPlan(ops, handlers);
  }

  private sendPlan(ops: readonly PlanOp[] | string, handlers: HelperHandlers): void {
    if (this.planSent) throw new Error('hull-helper already has a plan');
    this.planSent = true;
    this.handlers = { onSync: handlers.onSync, onTrace: handlers.onTrace };
    this.control.write(typeof ops === 'string' ? ops : serializePlan(ops));
  }

  /**
   * Before the plan: the helper moves itself into these cgroup directories (one `cgroup.procs`
   * write each, by the helper: no thread-pool round trips here). Resolves on `attached`; rejects
   * with the failed write (the helper exits then) or if the helper is gone.
   */
  joinCgroups(dirs: readonly string[]): Promise<void> {
    if (this.planSent || this.joining) return Promise.reject(new Error('hull-helper: cgroup-self after the plan or while one is pending'));
    return new Promise<void>((resolve, reject) => {
      this.joining = { resolve, reject };
      this.control.write(['cgroup-self', ...dirs].map(escapeField).join('\t') + '\n');
    });
  }

  /** The plan has been sent. */
  get started(): boolean {
    return this.planSent;
  }

  /** Host pid of the container process (0 until reported). */
  get pid(): number {
    return this.containerPid;
  }

  get monitorPid(): number {
    return this.child.pid ?? 0;
  }

  private onData(chunk: string): void {
    this.buffered += chunk;
    let nl: number;
    while ((nl = this.buffered.indexOf('\n')) >= 0) {
      const line = this.buffered.slice(0, nl);
      this.buffered = this.buffered.slice(nl + 1);
      if (line) this.onMessage(parseLine(line));
    }
  }

  private onMessage([kind, ...fields]: string[]): void {
    switch (kind) {
      case 'pid':
        this.containerPid = Number(fields[0]);
        this.resolvePid(this.containerPid);
        break;
      case 'sync':
        if (this.answeredAhead.delete(fields[0])) break;
        if (this.handlers.onSync) void this.answerSync(fields[0], this.handlers.onSync);
        else this.control.write('go\n'); // no hooks: never leave a container waiting
        break;
      case 'ready':
        this.resolveReady();
        break;
      case 'attached':
        this.joining?.resolve();
        this.joining = undefined;
        break;
      case 'trace':
        this.handlers.onTrace?.(Number(fields[0]), fields[1], fields[2] ?? '');
        break;
      case 'error': {
        const [step, op, code, syscall, path, message] = fields;
        this.failure = new HullRuntimeError(message || `${op} failed: ${code}`, {
          step: Number(step),
          op,
          code,
          errno: errnoNumber(code),
          syscall: syscall || undefined,
          path: path || undefined,
          exitCode: 125,
        });
        if (this.joining) {
          this.joining.reject(this.failure);
          this.joining = undefined;
        }
        this.rejectReady(this.failure);
        break;
      }
      case 'exit':
        this.reportedExit = { exitCode: Number(fields[0]), signal: Number(fields[1] ?? 0) };
        break;
      default:
        break; // newer helper, older TS: ignore unknown messages
    }
  }

  /**
   * Answer the `sync <name>` the helper is about to send, now: a foreground start knows its limits
   * are in place once `apply` returns, and its container process need not wait for our event loop
   * to read the question. The monitor reads the `go` only once it asks.
   */
  answerAhead(name: string): void {
    this.answeredAhead.add(name);
    this.control.write('go\n');
  }

  private async answerSync(name: string, onSync: NonNullable<HelperHandlers['onSync']>): Promise<void> {
    try {
      await onSync(name, this.containerPid);
      this.control.write('go\n');
    } catch (err) {
      this.failure = err instanceof HullRuntimeError ? err : new HullRuntimeError((err as Error).message);
      this.rejectReady(this.failure);
      this.control.write('abort\n');
    }
  }

  /**
   * Let Node exit while the monitor keeps running (detached containers): close our end of fd 3 and
   * the pidfd (the helper is still reaped if Node lives on); `exited` does not settle after this.
   * The helper runs with `detach 1`, so the socket's EOF is harmless.
   */
  release(): void {
    this.child.stdio[3]?.destroy();
    this.child.detach();
  }

  /**
   * Resolves when the helper process itself has exited (`monitor 0` makes it exit at `ready`).
   * Unlike `exited`, this doesn't wait for fd 3 to close: a container process blocked on its exec
   * fifo still holds its copy until `execve`.
   */
  helperGone(): Promise<void> {
    return new Promise((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) resolve();
      else this.child.once('exit', () => resolve());
    });
  }

  /** SIGKILL the monitor (which kills the container in foreground mode). */
  kill(): void {
    try {
      this.child.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
}
