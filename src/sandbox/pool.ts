// Warm run slots for runSandbox: a reusable cgroup with a warm helper already inside it.
//
// On cgroup v1 every run used to pay, on its critical path, a mkdir and an rmdir per hierarchy and
// a cgroup.procs write per hierarchy. The write is the expensive one: moving a task takes the
// global cgroup threadgroup rwsem for writing, which waits for an RCU grace period (5-20 ms) unless
// another move happened a moment before. A slot does all of that ahead of time: its group is made
// once and reused, and the warm helper (the future monitor) moves itself into it (its first line on
// fd 3, before any plan: `cgroup-self`) while the previous sandbox runs. The sandbox process then starts in the group by simply being forked, and its plan
// has no cgroup-join step at all.
//
// The monitor inside the group changes three things, all accounted for: the pids limit gets one
// more (the monitor is not the sandbox's); its few KiB of memory and its setup CPU time count as
// the sandbox's; and the tree is killed (timeout, limits) through the init of the run's own PID
// namespace, not the group, so the monitor lives on to reap it (src/sandbox/execution.ts). Sandboxed
// processes have oom_score_adj 1000, so the OOM killer never picks the monitor instead.
//
// A group comes back after its run once it is empty: its memory is emptied (force_empty drops the
// page cache the last run left charged to it), its peak reset, its OOM-kill and CPU counters read as
// the new zero, and its limits are rewritten by the next run (only the files that change). Groups
// are removed when the pool idles (1 s), by releaseIdle(), and when the process exits.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SandboxCgroup } from './cgroup';
import { refHelper, SandboxHelper, stopHelper, unrefHelper } from './helper';
import type { Limits } from './options';

/** Warm slots kept at most (more sandboxes at once start the rest the slow way). */
const MAX_WARM = 4;
/** Emptied groups kept for reuse at most. */
const MAX_FREE = 8;
/** A pool nobody used for this long is emptied: warm helpers stopped, groups removed. */
const IDLE_MS = 1000;

export interface RunSlot {
  /** A warm helper (not yet given a plan) already inside `group`. */
  helper: SandboxHelper;
  group: SandboxCgroup;
}

/** One runSandbox call that may use the pool; `finished()` once its sandbox is gone. */
export interface RunTicket {
  slot?: RunSlot;
  finished(): void;
}

interface WarmSlot {
  helper: SandboxHelper;
  group?: SandboxCgroup;
  ready: boolean;
  taken: boolean;
}

const warm: WarmSlot[] = [];
const free: SandboxCgroup[] = [];
/** Groups being attached, reset or removed: releaseIdle waits for them. */
const pending = new Set<Promise<unknown>>();
let running = 0;
let counter = 0;
let refillScheduled = false;
let idleTimer: NodeJS.Timeout | undefined;
let exitHook = false;

function track(p: Promise<unknown>): void {
  const done = p.catch(() => undefined).finally(() => pending.delete(done));
  pending.add(done);
}

/**
 * A run with these limits: a warm slot when one is ready (undefined ticket: this run cannot use the
 * pool, e.g. a CPU quota or a cgroup v2 host). Starts the next warm slot either way.
 */
export function takeRunSlot(limits: Limits): RunTicket | undefined {
  if (!SandboxCgroup.reusable(limits)) return undefined;
  running++;
  drainLater();
  let slot: RunSlot | undefined;
  const i = warm.findIndex((s) => s.ready && s.helper.idle);
  if (i >= 0) {
    const [s] = warm.splice(i, 1);
    s.taken = true;
    refHelper(s.helper);
    slot = { helper: s.helper, group: s.group! };
  }
  scheduleRefill();
  let done = false;
  return {
    slot,
    finished() {
      if (done) return;
      done = true;
      running--;
      drainLater();
      if (slot) recycle(slot.group);
    },
  };
}

/**
 * Start warm slots in the background: one more than pooled runs in flight (at most MAX_WARM), so a
 * run that starts while the last one is still being attached finds another.
 */
function scheduleRefill(): void {
  if (refillScheduled) return;
  refillScheduled = true;
  setImmediate(() => {
    refillScheduled = false;
    const want = Math.min(MAX_WARM, running + 1);
    while (warm.length < want) warm.push(newSlot());
  });
}

function newSlot(): WarmSlot {
  if (!exitHook) {
    exitHook = true;
    process.once('exit', removeAllSync);
  }
  const helper = new SandboxHelper();
  helper.onStart = scheduleRefill;
  unrefHelper(helper); // a warm slot must not keep Node alive
  const slot: WarmSlot = { helper, ready: false, taken: false };
  helper.exited
    .finally(() => {
      // Died (or was stopped) while warm: its group goes back, emptied.
      if (slot.taken) return;
      const i = warm.indexOf(slot);
      if (i >= 0) warm.splice(i, 1);
      if (slot.group) recycle(slot.group);
      slot.group = undefined;
    })
    .catch(() => undefined);
  track(
    (async () => {
      const group = free.pop() ?? (await SandboxCgroup.createReusable(`${process.pid}-p${++counter}`));
      if (!helper.idle) {
        recycle(group);
        return;
      }
      slot.group = group;
      try {
        // The helper writes its own pid into the group's cgroup.procs files (`cgroup-self`): one
        // control-socket line and its answer instead of a thread-pool write per hierarchy here.
        await helper.joinCgroups(group.dirs);
      } catch {
        stopHelper(helper); // its exit hands the group back
        return;
      }
      slot.ready = true;
    })(),
  );
  return slot;
}

/** An emptied group goes back to the free list, reset; one still busy (or too many) is removed. */
function recycle(group: SandboxCgroup): void {
  track(
    (async () => {
      if ((await group.empty()) && free.length < MAX_FREE) {
        try {
          await group.reset();
          free.push(group);
          return;
        } catch {
          /* removed below */
        }
      }
      await group.remove();
    })(),
  );
}

function drainLater(): void {
  // Every run calls this twice: re-arm the one timer (refresh) rather than replace it.
  if (idleTimer) idleTimer.refresh();
  else idleTimer = setTimeout(() => void releaseRunSlots(), IDLE_MS).unref();
}

/** Stop the warm slots' helpers and remove every idle group (runs in flight keep theirs). */
export async function releaseRunSlots(): Promise<void> {
  if (idleTimer) clearTimeout(idleTimer);
  idleTimer = undefined;
  const stopping = warm.splice(0);
  for (const s of stopping) {
    stopHelper(s.helper);
  }
  await Promise.allSettled(stopping.map((s) => s.helper.exited));
  while (pending.size) await Promise.allSettled([...pending]);
  const groups = free.splice(0);
  await Promise.allSettled(groups.map((g) => g.remove()));
}

/**
 * Process exit: remove the idle groups, synchronously. Warm helpers are moved out to the parent
 * group first rather than killed (killing them would wake their exit watches while Node tears down);
 * they exit by themselves when our end of their control socket closes.
 */
function removeAllSync(): void {
  const groups = [...free];
  for (const s of warm) {
    if (!s.group) continue;
    groups.push(s.group);
    for (const dir of s.group.dirs) {
      try {
        fs.writeFileSync(path.join(path.dirname(dir), 'cgroup.procs'), String(s.helper.monitorPid));
      } catch {
        /* gone already */
      }
    }
  }
  for (const group of groups) {
    for (const dir of group.dirs) {
      try {
        fs.rmdirSync(dir);
      } catch {
        /* still busy: the next process's sweep removes it */
      }
    }
  }
}
