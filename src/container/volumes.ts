// Local volumes: <root>/volumes/<name>/_data holds the data, <root>/volumes/<name>/volume.json the
// metadata. Creation and removal happen under <root>/volumes/.lock, and removal checks that no
// container record mounts the volume, so a volume in use is never removed.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { withFileLock, writeFileAtomic } from '../image/fsutil';
import { ContainerCliError, NoSuchVolumeError } from './errors';
import { validateVolumeName } from './options';
import type { ContainerRecord } from './types';

export interface VolumeRecord {
  Name: string;
  Driver: 'local';
  Mountpoint: string;
  CreatedAt: string;
  Labels: Record<string, string>;
  Scope: 'local';
  Options: Record<string, string> | null;
  /** Made for an image VOLUME or `-v /path`; `rm -v` and `volume prune` remove it. */
  Anonymous?: boolean;
  /** Image content has been copied in (done once, on first use). */
  Populated?: boolean;
}

export class VolumeStore {
  readonly dir: string;
  private readonly lockFile: string;

  constructor(
    root: string,
    /** Container records, for in-use checks. */
    private readonly containers: () => ContainerRecord[],
  ) {
    this.dir = path.join(root, 'volumes');
    this.lockFile = path.join(this.dir, '.lock');
  }

  private volumeDir(name: string): string {
    return path.join(this.dir, validateVolumeName(name));
  }

  withLock<T>(fn: () => Promise<T> | T): Promise<T> {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    return withFileLock(this.lockFile, fn);
  }

  get(name: string): VolumeRecord | undefined {
    try {
      return JSON.parse(fs.readFileSync(path.join(this.volumeDir(name), 'volume.json'), 'utf8')) as VolumeRecord;
    } catch {
      return undefined;
    }
  }

  inspect(name: string): VolumeRecord {
    const v = this.get(name);
    if (!v) throw new NoSuchVolumeError(name);
    return v;
  }

  list(): VolumeRecord[] {
    let names: string[] = [];
    try {
      names = fs.readdirSync(this.dir).filter((n) => !n.startsWith('.'));
    } catch {
      return [];
    }
    return names.map((n) => this.get(n)).filter((v): v is VolumeRecord => v !== undefined).sort((a, b) => a.Name.localeCompare(b.Name));
  }

  /** Create (or return the existing) volume; call under withLock when racing with removal matters. */
  createUnlocked(name: string | undefined, opts: { labels?: Record<string, string>; anonymous?: boolean } = {}): { volume: VolumeRecord; created: boolean } {
    const volName = name ?? crypto.randomBytes(32).toString('hex');
    const existing = this.get(volName);
    if (existing) return { volume: existing, created: false };
    const dir = this.volumeDir(volName);
    fs.mkdirSync(path.join(dir, '_data'), { recursive: true, mode: 0o755 });
    fs.chmodSync(dir, 0o701);
    const volume: VolumeRecord = {
      Name: volName,
      Driver: 'local',
      Mountpoint: path.join(dir, '_data'),
      CreatedAt: new Date().toISOString(),
      Labels: opts.labels ?? {},
      Scope: 'local',
      Options: null,
      ...(opts.anonymous ? { Anonymous: true } : {}),
    };
    writeFileAtomic(path.join(dir, 'volume.json'), JSON.stringify(volume, null, 1), 0o600);
    return { volume, created: true };
  }

  create(name?: string, opts: { labels?: Record<string, string> } = {}): Promise<VolumeRecord> {
    return this.withLock(() => this.createUnlocked(name, opts).volume);
  }

  markPopulated(name: string): void {
    const v = this.get(name);
    if (!v || v.Populated) return;
    v.Populated = true;
    writeFileAtomic(path.join(this.volumeDir(name), 'volume.json'), JSON.stringify(v, null, 1), 0o600);
  }

  /** Container ids whose mounts use the volume. */
  users(name: string): string[] {
    return this.containers()
      .filter((c) => c.Mounts.some((m) => m.Type === 'volume' && m.Name === name))
      .map((c) => c.Id);
  }

  removeUnlocked(name: string, opts: { force?: boolean } = {}): void {
    if (!this.get(name)) {
      if (opts.force) return;
      throw new NoSuchVolumeError(name);
    }
    const users = this.users(name);
    if (users.length) {
      throw new ContainerCliError(`remove ${name}: volume is in use - [${users.join(', ')}]`, 1);
    }
    const dir = this.volumeDir(name);
    // Rename first so a half-removed volume is never mistaken for a live one.
    const doomed = path.join(this.dir, `.removing-${name}-${process.pid}`);
    fs.renameSync(dir, doomed);
    fs.rmSync(doomed, { recursive: true, force: true });
  }

  remove(name: string, opts: { force?: boolean } = {}): Promise<void> {
    return this.withLock(() => this.removeUnlocked(name, opts));
  }

  /** Unused volumes go: anonymous ones by default, every unused one with `all`. */
  prune(opts: { all?: boolean } = {}): Promise<string[]> {
    return this.withLock(() => {
      const removed: string[] = [];
      for (const v of this.list()) {
        if (!opts.all && !v.Anonymous) continue;
        if (this.users(v.Name).length) continue;
        this.removeUnlocked(v.Name);
        removed.push(v.Name);
      }
      return removed;
    });
  }
}
