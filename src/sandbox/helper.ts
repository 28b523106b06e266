// hull-helper processes started BEFORE their plan is known. Starting the helper is the part of a
// run that does not depend on it: a clone and an exec of this process's sealed in-memory copy of
// the helper (the addon's spawn, docs/internals/helper.md). A warm helper has done that and sits
// blocked reading fd 3; a run writes its plan and the container starts at once.
//
// The fd-3 protocol is the runtime's HelperProcess (src/runtime/helper-process.ts), spawned without
// a plan and started later; this file adds the sandbox's fixed stdio and the pool.
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import type { PlanOp } from '../runtime/plan';
import { HelperProcess, type HelperHandlers } from '../runtime/helper-process';

/** Warm helpers kept at most (more sandboxes at once start the rest cold). */
const MAX_WARM = 4;
/** A warm helper nobody took for this long is stopped. */
const WARM_IDLE_MS = 1000;

export class SandboxHelper extends HelperProcess {
  /** Called when a plan is sent: start the next warm helper of the same kind. */
  onStart: () => void = scheduleRefill;

  constructor() {
    // stdin is always a pipe (a run without input closes it at once: the command reads EOF).
    // No environment: the container's comes from `env` ops, and sandbox plans need no id-map tools.
    super(null, { stdio: ['pipe', 'pipe', 'pipe'], env: {} });
    this.child.stdin!.on('error', () => {}); // EPIPE: the command did not read its input
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

  /** Still waiting for a plan (not exited, not taken). */
  get idle(): boolean {
    return !this.started && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Send the plan: the helper runs it right away (sandbox plans have no hooks: `sync` gets `go`). */
  override start(ops: readonly PlanOp[] | string, handlers: HelperHandlers = {}): void {
    super.start(ops, handlers);
    // Start the next warm helper now: its (blocking) spawn overlaps with this container's setup,
    // which runs in the kernel on behalf of the helper, not on our thread.
    this.onStart();
  }
}

// ------------------------------------------------------------------ the pool

const warm: SandboxHelper[] = [];
let running = 0;
let idleTimer: NodeJS.Timeout | undefined;
let refillScheduled = false;

function drainLater(): void {
  // Every run calls this twice: re-arm the one timer (refresh) rather than replace it.
  if (idleTimer) idleTimer.refresh();
  else idleTimer = setTimeout(() => void releaseWarmHelpers(), WARM_IDLE_MS).unref();
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

export function unrefHelper(h: SandboxHelper): void {
  h.child.unref();
  for (const s of [h.child.stdin, h.child.stdout, h.child.stderr, h.child.stdio[3]] as (Socket | null)[]) s?.unref?.();
}

export function refHelper(h: SandboxHelper): void {
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
  for (const helper of stopping) {
    stopHelper(helper);
  }
  await Promise.allSettled(stopping.map((h) => h.exited));
}

/** Kill a helper that never got a plan; its `exited` settles once its (unread) output ends. */
export function stopHelper(h: SandboxHelper): void {
  refHelper(h); // keep Node alive until it is gone
  h.stdin.destroy();
  h.stdout.resume();
  h.stderr.resume();
  h.kill();
}

/** Pids of the warm helpers waiting for a plan. */
export function warmHelperPids(): number[] {
  return warm.map((h) => h.child.pid ?? 0).filter(Boolean);
}
