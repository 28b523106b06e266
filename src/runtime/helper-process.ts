// Runs build/Release/hull-helper with a plan and speaks its fd-3 protocol (docs/internals/plan.md):
// write the plan, then read `pid`, `sync`, `ready`, `trace`, `error`, `exit` lines.
//
// Two phases: spawning the helper does not depend on the plan (the helper blocks reading fd 3 until
// one arrives), so `new HelperProcess(null, …)` spawns it now and `start(ops, …)` sends the plan
// later; the sandbox library keeps such warm helpers (src/sandbox/helper.ts). The runtime passes the
// plan to the constructor, which starts the helper at once.
import { spawn, type ChildProcess, type IOType } from 'node:child_process';
import type { Stream } from 'node:stream';
import * as os from 'node:os';
import type { Socket } from 'node:net';
import { helperPath } from '../native';
import { type PlanOp, parseLine, serializePlan } from './plan';

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

/** One stdio slot: an fd of ours, a stream, or 'inherit' / 'pipe' / 'ignore'. */
export type StdioEntry = IOType | number | Stream | null | undefined;
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

export class HelperProcess {
  readonly child: ChildProcess;
  private readonly control: Socket;
  private buffered = '';
  private containerPid = 0;
  private failure?: HullRuntimeError;
  private reportedExit?: HelperExit;
  private resolveReady!: () => void;
  private rejectReady!: (err: Error) => void;
  private handlers: HelperHandlers = {};
  private planSent = false;
  /** Settles when the container process is set up (`ready`) or the helper failed. */
  readonly ready: Promise<void>;
  /**
   * Settles when the monitor exited and its stdio closed ('close', not 'exit'): the container's exit
   * code (128+signal if killed).
   */
  readonly exited: Promise<HelperExit>;

  /** Spawn the helper; with `ops`, start it at once, else it waits on fd 3 until `start`. */
  constructor(ops: readonly PlanOp[] | null, opts: HelperOptions) {
    const extra = opts.preservedFds ?? [];
    this.child = spawn(helperPath, [], {
      stdio: [...opts.stdio, 'pipe', ...extra],
      // The container's environment comes from `env` ops; the helper itself only needs a PATH
      // (newuidmap/newgidmap fallback for id maps).
      env: opts.env ?? { PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' },
      // The monitor must not get our terminal signals (Ctrl-C goes to the container through it).
      detached: false,
    });
    this.control = this.child.stdio[3] as Socket;
    this.ready = new Promise<void>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.ready.catch(() => {}); // callers await it; avoid an unhandled rejection if they await `exited` first
    this.exited = new Promise<HelperExit>((resolve, reject) => {
      this.child.once('error', (err) => {
        const failure = new HullRuntimeError(`cannot start ${helperPath}: ${err.message}`, { code: (err as NodeJS.ErrnoException).code });
        this.rejectReady(failure);
        reject(failure);
      });
      this.child.once('close', (code, signal) => {
        const exit = this.reportedExit ?? {
          exitCode: code ?? 128 + (signal ? os.constants.signals[signal] : 0),
          signal: signal ? os.constants.signals[signal] : 0,
        };
        this.rejectReady(
          this.failure ??
            new HullRuntimeError(`hull-helper exited with code ${code ?? signal} before the container was ready`, { exitCode: code ?? undefined }),
        );
        if (this.failure) reject(this.failure);
        else resolve(exit);
      });
    });
    this.exited.catch(() => {});
    this.control.setEncoding('utf8');
    this.control.on('data', (chunk: string) => this.onData(chunk));
    this.control.on('error', () => {}); // EPIPE when the helper died early: reported through 'close'
    if (ops) this.sendPlan(ops, opts);
  }

  /** Send the plan to a helper spawned without one: it runs it right away. */
  start(ops: readonly PlanOp[], handlers: HelperHandlers = {}): void {
    this.sendPlan(ops, handlers);
  }

  private sendPlan(ops: readonly PlanOp[], handlers: HelperHandlers): void {
    if (this.planSent) throw new Error('hull-helper already has a plan');
    this.planSent = true;
    this.handlers = { onSync: handlers.onSync, onTrace: handlers.onTrace };
    this.control.write(serializePlan(ops));
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
        break;
      case 'sync':
        if (this.handlers.onSync) void this.answerSync(fields[0], this.handlers.onSync);
        else this.control.write('go\n'); // no hooks: never leave a container waiting
        break;
      case 'ready':
        this.resolveReady();
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
   * Let Node exit while the monitor keeps running (detached containers): drop our references to the
   * child and its control socket. The helper runs with `detach 1`, so the socket's EOF is harmless.
   */
  release(): void {
    this.control.removeAllListeners('data');
    this.control.destroy();
    this.child.unref();
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
