// hull-helper processes started BEFORE their plan is known. Starting the helper is the most
// expensive part of a run that does not depend on it: `child_process.spawn` forks the whole Node
// process (its cost grows with Node's memory) and blocks until the child has exec'd, and the helper
// then re-executes itself from a sealed in-memory copy (docs/internals/plan.md). A warm helper has
// done all that and sits blocked reading fd 3; a run writes its plan and the container starts at once.
//
// This speaks the same fd-3 protocol as src/runtime/helper-process.ts (whose HelperProcess writes
// the plan in its constructor, so it cannot be started ahead); the wire format comes from the
// runtime's serializePlan/parseLine.
import { spawn, type ChildProcess } from 'node:child_process';
import * as os from 'node:os';
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { helperPath } from '../native';
import { parseLine, serializePlan, type PlanOp } from '../runtime/plan';
import { HullRuntimeError, type HelperExit } from '../runtime/helper-process';

/** Warm helpers kept at most (more sandboxes at once start the rest cold). */
const MAX_WARM = 4;
/** A warm helper nobody took for this long is stopped. */
const WARM_IDLE_MS = 1000;

export class SandboxHelper {
  readonly child: ChildProcess;
  private readonly control: Socket;
  private buffered = '';
  private containerPid = 0;
  private failure?: HullRuntimeError;
  private reportedExit?: HelperExit;
  private resolveReady!: () => void;
  private rejectReady!: (err: Error) => void;
  private onTrace?: (step: number, op: string, text: string) => void;
  private started = false;
  /** Settles when the container process is about to execve (`ready`) or the helper failed. */
  readonly ready: Promise<void>;
  /** Settles when the monitor exited and its stdio closed: the container's exit status. */
  readonly exited: Promise<HelperExit>;

  constructor() {
    // stdin is always a pipe (a run without input closes it at once: the command reads EOF).
    this.child = spawn(helperPath, [], { stdio: ['pipe', 'pipe', 'pipe', 'pipe'], env: {} });
    this.control = this.child.stdio[3] as Socket;
    this.ready = new Promise<void>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.ready.catch(() => {});
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
          this.failure ?? new HullRuntimeError(`hull-helper exited with code ${code ?? signal} before the container was ready`, { exitCode: code ?? undefined }),
        );
        if (this.failure) reject(this.failure);
        else resolve(exit);
      });
    });
    this.exited.catch(() => {});
    this.child.stdin!.on('error', () => {}); // EPIPE: the command did not read its input
    this.control.setEncoding('utf8');
    this.control.on('data', (chunk: string) => this.onData(chunk));
    this.control.on('error', () => {});
  }

  get stdin(): Writable {
    return this.child.stdin!;
  }
  get stdout(): Readable {
    return this.child.stdout!;
  }
  get stderr(): Readable {
    return this.child.stderr!;
  }

  /** Host pid of the container process (0 until reported). */
  get pid(): number {
    return this.containerPid;
  }

  /** Still waiting for a plan (not exited, not taken). */
  get idle(): boolean {
    return !this.started && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Send the plan: the helper runs it right away. */
  start(ops: readonly PlanOp[], onTrace?: (step: number, op: string, text: string) => void): void {
    if (this.started) throw new Error('hull-helper already has a plan');
    this.started = true;
    this.onTrace = onTrace;
    this.control.write(serializePlan(ops));
    // Start the next warm helper now: its (blocking) spawn overlaps with this container's setup,
    // which runs in the kernel on behalf of the helper, not on our thread.
    scheduleRefill();
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
        this.control.write('go\n'); // sandbox plans have no hooks; never leave a container waiting
        break;
      case 'ready':
        this.resolveReady();
        break;
      case 'trace':
        this.onTrace?.(Number(fields[0]), fields[1], fields[2] ?? '');
        break;
      case 'error': {
        const [step, op, code, syscall, path, message] = fields;
        this.failure = new HullRuntimeError(message || `${op} failed: ${code}`, {
          step: Number(step), op, code, errno: (os.constants.errno as Record<string, number>)[code], syscall: syscall || undefined,
          path: path || undefined, exitCode: 125,
        });
        this.rejectReady(this.failure);
        break;
      }
      case 'exit':
        this.reportedExit = { exitCode: Number(fields[0]), signal: Number(fields[1] ?? 0) };
        break;
      default:
        break;
    }
  }

  /** SIGKILL the monitor (a foreground monitor's container dies with it: PDEATHSIG / control EOF). */
  kill(): void {
    try {
      this.child.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
}

// ------------------------------------------------------------------ the pool

const warm: SandboxHelper[] = [];
let running = 0;
let idleTimer: NodeJS.Timeout | undefined;
let refillScheduled = false;

function drainLater(): void {
  if (idleTimer) clearTimeout(idleTimer);
  idleTimer = setTimeout(() => void releaseWarmHelpers(), WARM_IDLE_MS);
  idleTimer.unref();
}

/** Start warm helpers in the background, as many as sandboxes run now (at most MAX_WARM). */
function scheduleRefill(): void {
  if (refillScheduled) return;
  refillScheduled = true;
  setImmediate(() => {
    refillScheduled = false;
    const want = Math.min(MAX_WARM, Math.max(1, running));
    while (warm.length < want) {
      const helper = new SandboxHelper();
      // A warm helper must not keep Node alive; it is ref'd again once it runs a plan.
      unrefHelper(helper);
      helper.exited.finally(() => {
        const i = warm.indexOf(helper);
        if (i >= 0) warm.splice(i, 1);
      }).catch(() => undefined);
      warm.push(helper);
    }
  });
}

function unrefHelper(h: SandboxHelper): void {
  h.child.unref();
  for (const s of [h.child.stdin, h.child.stdout, h.child.stderr, h.child.stdio[3]] as (Socket | null)[]) s?.unref?.();
}

function refHelper(h: SandboxHelper): void {
  h.child.ref();
  for (const s of [h.child.stdin, h.child.stdout, h.child.stderr, h.child.stdio[3]] as (Socket | null)[]) s?.ref?.();
}

/** A helper for a run: a warm one when there is one, else a new one. Starts the next warm one. */
export function takeHelper(): SandboxHelper {
  let helper: SandboxHelper | undefined;
  while (warm.length && !helper) {
    const candidate = warm.shift()!;
    if (candidate.idle) helper = candidate;
  }
  if (helper) refHelper(helper);
  else helper = new SandboxHelper();
  running++;
  helper.exited.finally(() => running--).catch(() => undefined);
  drainLater();
  return helper;
}

/** Stop every warm helper now (they are also stopped after WARM_IDLE_MS unused, and at exit). */
export async function releaseWarmHelpers(): Promise<void> {
  if (idleTimer) clearTimeout(idleTimer);
  idleTimer = undefined;
  const stopping = warm.splice(0);
  for (const helper of stopping) helper.kill();
  await Promise.allSettled(stopping.map((h) => h.exited));
}

/** Pids of the warm helpers waiting for a plan. */
export function warmHelperPids(): number[] {
  return warm.map((h) => h.child.pid ?? 0).filter(Boolean);
}
