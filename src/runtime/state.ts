// Container state on disk: <root>/<id>/{state.json, exec.fifo, exit.json}. The directory's atomic
// mkdir claims the id; state.json is replaced atomically under an flock on the directory; the status
// is derived from the live system every time it is asked for (REFERENCE §2, §9).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CgroupRecord } from '../cgroup/driver';
import { native } from '../native';
import { OCI_VERSION, type Spec } from './spec';
import { fsyncDir } from '../image/fsutil';

export const DEFAULT_STATE_ROOT = '/run/hull-oci';
export const STATE_FILE = 'state.json';
export const EXEC_FIFO = 'exec.fifo';
export const EXIT_FILE = 'exit.json';

export type Status = 'creating' | 'created' | 'running' | 'paused' | 'stopped';

/** What hull keeps per container (state.json). */
export interface ContainerRecord {
  ociVersion: string;
  id: string;
  bundle: string;
  rootfs: string;
  /** RFC 3339 creation time. */
  created: string;
  owner: string;
  annotations?: Record<string, string>;
  /** Host pid of the container's init process; 0 until the helper reported it. */
  initPid: number;
  /** Field 22 of /proc/<pid>/stat at creation: a different value means the pid was reused. */
  initStartTime: string;
  /** The helper acting as monitor (its exit code is the container's), and its start time. */
  monitorPid: number;
  monitorStartTime?: string;
  cgroup?: CgroupRecord;
  /** The config as validated at create (exec, hooks and delete use it). */
  config: Spec;
}

/** Recorded by the monitor when the container's init exits. */
export interface ExitRecord {
  exitCode: number;
  signal: number;
  finishedAt: string;
  oomKilled: boolean;
}

/** The runtime-spec state (what `hull-oci state` prints). */
export interface OciState {
  ociVersion: string;
  id: string;
  pid: number;
  status: Exclude<Status, 'creating'>;
  bundle: string;
  rootfs: string;
  created: string;
  annotations?: Record<string, string>;
  owner: string;
}

/** An error whose message the callers (containerd, podman) match on: keep the strings stable. */
export class ContainerError extends Error {
  constructor(
    message: string,
    readonly code: 'ENOENT' | 'EEXIST' | 'EINVAL' | 'ESTATE' = 'EINVAL',
  ) {
    super(message);
    this.name = 'ContainerError';
  }
}

export const notExist = (id: string) => new ContainerError(`container "${id}" does not exist`, 'ENOENT');

/** runc's validateID: letters, digits and `_ + - .`; never `.`/`..`, `/` or NUL. */
export function validateId(id: string): void {
  if (typeof id !== 'string' || id === '') throw new ContainerError('invalid container id: empty');
  if (id === '.' || id === '..' || !/^[A-Za-z0-9_+.-]+$/.test(id) || id.length > 1024) {
    throw new ContainerError(`invalid container id: ${JSON.stringify(id)} (allowed: letters, digits and _ + - .)`);
  }
}

export class StateStore {
  constructor(readonly root: string = DEFAULT_STATE_ROOT) {}

  dir(id: string): string {
    validateId(id);
    return path.join(this.root, id);
  }

  /** Claim the id: the atomic mkdir is the only thing deciding who wins a race. */
  claim(id: string): string {
    const dir = this.dir(id);
    fs.mkdirSync(this.root, { recursive: true, mode: 0o711 });
    try {
      fs.mkdirSync(dir, { mode: 0o711 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new ContainerError(`container with id exists: ${id}`, 'EEXIST');
      }
      throw err;
    }
    return dir;
  }

  exists(id: string): boolean {
    return fs.existsSync(path.join(this.dir(id), STATE_FILE));
  }

  read(id: string): ContainerRecord {
    const file = path.join(this.dir(id), STATE_FILE);
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notExist(id);
      throw err;
    }
    return JSON.parse(text) as ContainerRecord;
  }

  /**
   * temp + rename, so a crash leaves the old or the new file, never a torn one. `create` passes
   * lock=false: until it returns, the directory it just claimed has no other writer.
   */
  write(record: ContainerRecord, opts: { lock?: boolean } = {}): void {
    const dir = this.dir(record.id);
    const save = () => writeFileAtomic(path.join(dir, STATE_FILE), JSON.stringify(record), true);
    if (opts.lock === false) save();
    else withDirLock(dir, save);
  }

  /**
   * write() (no lock: for a container being created, see above) with its fsyncs on libuv's thread
   * pool, so a disk's fsync latency (1-7 ms here) overlaps the helper's work. The caller awaits it
   * before any other write of the record (they would share the temp file).
   */
  writeInBackground(record: ContainerRecord): BackgroundWrite {
    return writeFileAtomicAsync(path.join(this.dir(record.id), STATE_FILE), JSON.stringify(record));
  }

  readExit(id: string): ExitRecord | undefined {
    try {
      return JSON.parse(fs.readFileSync(path.join(this.dir(id), EXIT_FILE), 'utf8')) as ExitRecord;
    } catch {
      return undefined;
    }
  }

  /** Ids of every container directory holding a state.json, sorted. */
  list(): string[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.root);
    } catch {
      return [];
    }
    return names.filter((n) => fs.existsSync(path.join(this.root, n, STATE_FILE))).sort();
  }

  /**
   * Remove the state directory unless another command got there first, running `before` (the
   * poststop hooks) just ahead of its removal. A `delete --force` and the foreground `run` whose
   * container it kills both end here: only one runs the hooks. The claim is a rename of the
   * directory out of the way (`.<id>.removing-<pid>`, its state.json gone at once) under its flock;
   * the hooks run after the lock is released, so a hook may call hull-oci on the same id. Returns
   * whether this call removed it.
   */
  removeOnce(id: string, before: () => void): boolean {
    const dir = this.dir(id);
    const claimed = path.join(this.root, `.${id}.removing-${process.pid}`);
    const claim = (fd: number) => {
      // Still the directory we opened: not claimed while we waited, nor made anew for another container.
      const held = fs.fstatSync(fd);
      const current = fs.statSync(dir, { throwIfNoEntry: false });
      if (!current || current.ino !== held.ino || current.dev !== held.dev) return false;
      try {
        fs.unlinkSync(path.join(dir, STATE_FILE)); // gone from `list` and `state` at once
      } catch {
        /* never written */
      }
      fs.renameSync(dir, claimed);
      return true;
    };
    try {
      if (!withDirLock(dir, claim)) return false;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false; // removed before we looked
      throw err;
    }
    before();
    removeStateDir(claimed);
    return true;
  }

  remove(id: string): void {
    removeStateDir(this.dir(id));
  }
}

/**
 * A state directory holds a few files (state.json, exit.json, exec.fifo): unlink what is there and
 * rmdir, walking it only if more is there. Listed first, not unlinked by name: a missing file
 * would cost a thrown ENOENT each.
 */
function removeStateDir(dir: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  try {
    for (const name of names) fs.unlinkSync(path.join(dir, name));
    fs.rmdirSync(dir);
  } catch {
    fs.rmSync(dir, { recursive: true, force: true }); // a directory inside, or a file made meanwhile
  }
}

/** A write on libuv's thread pool: `visible` once the file is renamed into place, `durable` once its directory is fsync'd too. */
export interface BackgroundWrite {
  visible: Promise<void>;
  durable: Promise<void>;
}

/**
 * writeFileAtomic(file, content, true) with every step on libuv's thread pool (callback fs: the
 * promise API would load another module on the start path). Who removes the file next (a
 * foreground run) needs only `visible`: the directory's fsync guards against a power loss.
 */
export function writeFileAtomicAsync(file: string, content: string): BackgroundWrite {
  const call = <T>(start: (done: (err: NodeJS.ErrnoException | null, value?: T) => void) => void) =>
    new Promise<T>((resolve, reject) => start((err, value) => (err ? reject(err) : resolve(value as T))));
  const tmp = `${file}.${process.pid}.tmp`;
  const visible = (async () => {
    const fd = await call<number>((done) => fs.open(tmp, 'w', 0o600, done));
    try {
      await call((done) => fs.write(fd, content, done));
      await call((done) => fs.fsync(fd, done));
    } finally {
      await call((done) => fs.close(fd, done));
    }
    await call((done) => fs.rename(tmp, file, done));
  })();
  const durable = visible.then(async () => {
    const dirFd = await call<number>((done) => fs.open(path.dirname(file), 'r', done));
    try {
      await call((done) => fs.fsync(dirFd, done));
    } finally {
      await call((done) => fs.close(dirFd, done));
    }
  });
  visible.catch(() => undefined); // its failure reaches whoever awaits `durable`
  return { visible, durable };
}

/**
 * Write to a temp file and rename it over `file`: a reader or a crash at any point sees the old or
 * the new content, never a torn one. `durable` adds the fsyncs (file before the rename, directory
 * after) that make the new content survive a power loss: every state.json write asks for it (on the
 * usual tmpfs /run they cost nothing; on a disk ~1 ms each); pid files don't.
 */
export function writeFileAtomic(file: string, content: string, durable = false): void {
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeSync(fd, content);
    if (durable) fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  if (durable) fsyncDir(path.dirname(file));
}

/**
 * flock(2) on the container directory while `fn` runs (with the locked directory's fd): the kernel
 * drops it if we die. Without the addon (not built yet) there is no flock in Node; then the atomic
 * rename alone protects readers.
 */
export function withDirLock<T>(dir: string, fn: (fd: number) => T): T {
  let flock: ((fd: number, op: 'sh' | 'ex' | 'un', nonblock: boolean) => boolean) | undefined;
  try {
    flock = native().flock;
  } catch {
    flock = undefined;
  }
  const fd = fs.openSync(dir, 'r');
  try {
    flock?.(fd, 'ex', false);
    return fn(fd);
  } finally {
    fs.closeSync(fd); // closing the last fd releases the lock
  }
}

/** Field 22 (starttime, clock ticks since boot) of /proc/<pid>/stat; undefined if the pid is gone. */
export function processStartTime(pid: number): string | undefined {
  // A pid that is gone is the usual case at removal: asked first, it costs no thrown ENOENT
  // (Node builds an Error with its stack for each, ~0.05-0.25 ms).
  if (!pid || !fs.existsSync(`/proc/${pid}`)) return undefined;
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm (field 2) may contain spaces and parentheses: split after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (rest[0] === 'Z' || rest[0] === 'X') return undefined; // a zombie has already exited
  return rest[22 - 3];
}

/** Is `pid` still the process we started (not exited, not a reused pid)? */
export function isSameProcess(pid: number, startTime: string): boolean {
  const now = processStartTime(pid);
  return now !== undefined && now === startTime;
}

export interface StatusInputs {
  record: ContainerRecord;
  stateDir: string;
  /** The freezer says frozen (asked only when the process is alive). */
  isFrozen: () => boolean;
}

/** created / running / paused / stopped from what the system shows right now. */
export function deriveStatus({ record, stateDir, isFrozen }: StatusInputs): Exclude<Status, 'creating'> {
  if (fs.existsSync(path.join(stateDir, EXIT_FILE))) return 'stopped';
  if (!record.initPid || !isSameProcess(record.initPid, record.initStartTime)) return 'stopped';
  if (isFrozen()) return 'paused';
  if (fs.existsSync(path.join(stateDir, EXEC_FIFO))) return 'created';
  return 'running';
}

export function ociState(record: ContainerRecord, status: Exclude<Status, 'creating'>): OciState {
  const state: OciState = {
    ociVersion: OCI_VERSION,
    id: record.id,
    pid: status === 'stopped' ? 0 : record.initPid,
    status,
    bundle: record.bundle,
    rootfs: record.rootfs,
    created: record.created,
    owner: record.owner,
  };
  if (record.annotations && Object.keys(record.annotations).length) state.annotations = record.annotations;
  return state;
}
