// Container records on disk:
//
//   <root>/containers/<id>/container.json   the record (atomic temp+fsync+rename, under the dir's flock)
//   <root>/containers/<id>/init/            docker's "init layer": mount points for /etc/hosts & co
//   <root>/containers/<id>/layer/{upper,work}  the writable overlay layer
//   <root>/containers/<id>/rootfs           where the merged root filesystem is mounted
//   <root>/containers/<id>/{hostname,hosts,resolv.conf}  bound over the container's /etc files
//   <root>/containers/<id>/<id>-json.log    the container's output
//   <root>/containers/.names/<name>         holds the id; its O_EXCL creation claims the name
//
// A container exists when its container.json does; a directory without one is a create that died
// half-way (cleaned by `rm -f` or `container prune`).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { withDirLock, writeFileAtomic } from '../runtime/state';
import { NoSuchContainerError, usageError } from './errors';
import type { ContainerRecord } from './types';

export const RECORD_FILE = 'container.json';
export const CREATING_FILE = '.creating';

export class ContainerStore {
  readonly dir: string;
  readonly namesDir: string;

  constructor(readonly root: string) {
    this.dir = path.join(root, 'containers');
    this.namesDir = path.join(this.dir, '.names');
  }

  ensureDirs(): void {
    fs.mkdirSync(this.namesDir, { recursive: true, mode: 0o700 });
  }

  containerDir(id: string): string {
    if (!/^[a-f0-9]{64}$/.test(id)) throw new Error(`invalid container id ${JSON.stringify(id)}`);
    return path.join(this.dir, id);
  }

  static newId(): string {
    return randomBytes(32).toString('hex');
  }

  /** Atomically take `name` for `id`; the loser of a race gets docker's "already in use" error. */
  claimName(name: string, id: string): void {
    try {
      fs.writeFileSync(path.join(this.namesDir, name), id, { flag: 'wx', mode: 0o600 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !fs.existsSync(this.namesDir)) {
        this.ensureDirs(); // a new root (create makes it first; rename may not have)
        return this.claimName(name, id);
      }
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = this.nameOwner(name);
      if (owner && !fs.existsSync(path.join(this.dir, owner))) {
        // The owner's directory is gone (a crash between claim and cleanup): the name is free.
        fs.rmSync(path.join(this.namesDir, name), { force: true });
        return this.claimName(name, id);
      }
      throw usageError(
        `Conflict. The container name "/${name}" is already in use by container "${owner ?? '?'}". You have to remove (or rename) that container to be able to reuse that name.`,
      );
    }
  }

  releaseName(name: string, id: string): void {
    if (this.nameOwner(name) === id) fs.rmSync(path.join(this.namesDir, name), { force: true });
  }

  nameOwner(name: string): string | undefined {
    try {
      return fs.readFileSync(path.join(this.namesDir, name), 'utf8').trim() || undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * A directory without a record whose creating process is gone: a create killed half-way.
   * (`.creating` holds the pid of the process making it; it is removed once the record exists.)
   */
  isAbandoned(id: string): boolean {
    const dir = path.join(this.dir, id);
    if (fs.existsSync(path.join(dir, RECORD_FILE))) return false;
    let pid = 0;
    try {
      pid = Number(fs.readFileSync(path.join(dir, CREATING_FILE), 'utf8'));
    } catch {
      pid = 0;
    }
    if (!pid) {
      // Just made, marker not written yet: give it a moment before calling it abandoned.
      try {
        return Date.now() - fs.statSync(dir).mtimeMs > 10_000;
      } catch {
        return false;
      }
    }
    try {
      process.kill(pid, 0);
      return false;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ESRCH';
    }
  }

  /** Names whose owner is `id` (for cleaning up an abandoned create). */
  namesOf(id: string): string[] {
    try {
      return fs.readdirSync(this.namesDir).filter((n) => this.nameOwner(n) === id);
    } catch {
      return [];
    }
  }

  /** Ids with a directory (complete or not). */
  listDirs(): string[] {
    try {
      return fs.readdirSync(this.dir).filter((n) => /^[a-f0-9]{64}$/.test(n));
    } catch {
      return [];
    }
  }

  list(): ContainerRecord[] {
    const out: ContainerRecord[] = [];
    for (const id of this.listDirs()) {
      const rec = this.tryRead(id);
      if (rec) out.push(rec);
    }
    return out;
  }

  tryRead(id: string): ContainerRecord | undefined {
    try {
      return JSON.parse(fs.readFileSync(path.join(this.dir, id, RECORD_FILE), 'utf8')) as ContainerRecord;
    } catch {
      return undefined;
    }
  }

  read(id: string): ContainerRecord {
    const rec = this.tryRead(id);
    if (!rec) throw new NoSuchContainerError(id);
    return rec;
  }

  /**
   * Atomic and durable: temp file, fsync, rename, fsync of the directory (REFERENCE: state writes).
   * Even a `--rm` record is made durable: ~1 ms a write here, and a record that survives a power
   * loss is what lets `ps -a` and `rm -f` tell the truth afterwards.
   */
  write(rec: ContainerRecord): void {
    writeFileAtomic(path.join(this.containerDir(rec.Id), RECORD_FILE), JSON.stringify(rec, null, 1), true);
  }

  /** Read-modify-write under the container directory's flock. */
  update(id: string, fn: (rec: ContainerRecord) => void): ContainerRecord {
    const dir = this.containerDir(id);
    return withDirLock(dir, () => {
      const rec = this.read(id);
      fn(rec);
      this.write(rec);
      return rec;
    });
  }

  /** Docker's lookup order: full id, exact name, unique id prefix. */
  resolve(nameOrId: string, exitCode = 1): string {
    const key = nameOrId.replace(/^\//, '');
    if (!key) throw new NoSuchContainerError(nameOrId, exitCode);
    // A full id (what the CLI passes itself) needs no listing of every container.
    if (/^[a-f0-9]{64}$/.test(key) && fs.existsSync(path.join(this.dir, key, RECORD_FILE))) return key;
    const ids = this.listDirs().filter((id) => fs.existsSync(path.join(this.dir, id, RECORD_FILE)));
    if (ids.includes(key)) return key;
    const owner = this.nameOwner(key);
    if (owner && ids.includes(owner)) return owner;
    if (/^[a-f0-9]+$/.test(key)) {
      const matches = ids.filter((id) => id.startsWith(key));
      if (matches.length > 1) throw usageError(`multiple IDs found with provided prefix: ${key}`);
      if (matches.length === 1) return matches[0];
    }
    throw new NoSuchContainerError(nameOrId, exitCode);
  }
}

const ADJECTIVES = ['admiring', 'bold', 'brave', 'calm', 'clever', 'eager', 'festive', 'gentle', 'happy', 'jolly',
  'keen', 'lucid', 'nifty', 'quirky', 'serene', 'sharp', 'stoic', 'tender', 'vibrant', 'zealous'];
const SURNAMES = ['babbage', 'curie', 'darwin', 'euler', 'fermat', 'gauss', 'hopper', 'kepler', 'lovelace', 'noether',
  'pascal', 'ritchie', 'shannon', 'thompson', 'turing', 'volta', 'wozniak', 'yalow', 'zuse', 'hamilton'];

/** docker-style generated names ("jolly_turing"), with a number when the plain one is taken. */
export function generateName(taken: (name: string) => boolean): string {
  for (let attempt = 0; ; attempt++) {
    const r = randomBytes(6);
    const a = ADJECTIVES[r.readUInt16LE(0) % ADJECTIVES.length];
    const s = SURNAMES[r.readUInt16LE(2) % SURNAMES.length];
    const name = attempt < 5 ? `${a}_${s}` : `${a}_${s}${r.readUInt16LE(4) % 1000}`;
    if (!taken(name)) return name;
  }
}

/**
 * Random bytes from the kernel (getrandom's pool, through /dev/urandom). Not node:crypto: loading
 * that module costs a `hull run` ~5 ms, for 32 bytes.
 */
function randomBytes(n: number): Buffer {
  const buf = Buffer.alloc(n);
  const fd = fs.openSync('/dev/urandom', 'r');
  try {
    let got = 0;
    while (got < n) got += fs.readSync(fd, buf, got, n - got, null);
  } finally {
    fs.closeSync(fd);
  }
  return buf;
}
