// `--userns remap`: root in the container is an unprivileged id range on the host, taken from
// /etc/subuid and /etc/subgid (the entry of user "hull", else "root"; $HULL_SUBUID_FILE and
// $HULL_SUBGID_FILE name other files, for tests). Image layers reach the container through
// idmapped mounts (src/container/idmap.ts); only where the kernel or filesystem has none are they
// used through copies whose owners are shifted into the range (docker's userns-remap does that
// always): made once per range and layer, shared by every remapped container. A copy of a store
// layer (<root>/layers/<chain>/diff) sits beside it as <root>/layers/<chain>/userns-<uid>.<gid>, so
// whatever removes the layer (rmi, image/system prune) removes its copies; any other directory is
// copied under <root>/userns/<uid>.<gid>/, and pruneShiftedLayers drops those once it is gone.
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { usageError } from './errors';

export interface IdRange {
  start: number;
  count: number;
}

export interface RemapRanges {
  uid: IdRange;
  gid: IdRange;
  user: string;
}

/** How many ids a remapped container gets (0–65535 inside). */
export const REMAP_SIZE = 65536;
export const REMAP_USERS = ['hull', 'root'];

/** The first `name:start:count` line for one of `names` (in that order of preference). */
export function subordinateRange(text: string, names: string[]): IdRange | undefined {
  const entries = text.split('\n').map((l) => l.trim().split(':')).filter((f) => f.length === 3 && /^\d+$/.test(f[1]) && /^\d+$/.test(f[2]));
  for (const name of names) {
    const e = entries.find((f) => f[0] === name && Number(f[2]) >= REMAP_SIZE);
    if (e) return { start: Number(e[1]), count: REMAP_SIZE };
  }
  return undefined;
}

function readOrEmpty(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** The ranges for `--userns remap`; a usage error (exit 125) when /etc/subuid or /etc/subgid has none. */
export function remapRanges(
  subuid = readOrEmpty(process.env.HULL_SUBUID_FILE || '/etc/subuid'),
  subgid = readOrEmpty(process.env.HULL_SUBGID_FILE || '/etc/subgid'),
): RemapRanges {
  for (const user of REMAP_USERS) {
    const uid = subordinateRange(subuid, [user]);
    const gid = subordinateRange(subgid, [user]);
    if (uid && gid) return { uid, gid, user };
  }
  throw usageError(`--userns remap: no subordinate ids of at least ${REMAP_SIZE} for user ${REMAP_USERS.join(' or ')} in /etc/subuid and /etc/subgid`);
}

/** `--userns host|remap` (empty = host). */
export function parseUsernsMode(text: string | undefined): 'host' | 'remap' {
  if (text === undefined || text === '' || text === 'host') return 'host';
  if (text === 'remap') return 'remap';
  throw usageError(`invalid --userns "${text}": use host or remap`);
}

/** lchown every entry of `dir` (itself included) from host ids to ids shifted into the ranges. */
export function shiftOwners(dir: string, r: RemapRanges): void {
  const shift = (p: string) => {
    const st = fs.lstatSync(p);
    const uid = st.uid < r.uid.count ? r.uid.start + st.uid : st.uid;
    const gid = st.gid < r.gid.count ? r.gid.start + st.gid : st.gid;
    if (uid !== st.uid || gid !== st.gid) {
      fs.lchownSync(p, uid, gid);
      // chown clears set-id bits on regular files: put them back.
      if (st.isFile() && st.mode & 0o6000) fs.chmodSync(p, st.mode & 0o7777);
    }
    if (st.isDirectory()) for (const e of fs.readdirSync(p)) shift(path.join(p, e));
  };
  shift(dir);
}

function shiftedDir(stateRoot: string): string {
  return path.join(path.resolve(stateRoot), 'userns');
}

const STORE_COPY = /^userns-\d+\.\d+$/;

/** The layer of the image store that `lowerDir` is the diff of, or undefined. */
function storeLayerOf(stateRoot: string, lowerDir: string): string | undefined {
  const abs = path.resolve(lowerDir);
  const layer = path.dirname(abs);
  return path.basename(abs) === 'diff' && path.dirname(layer) === path.join(path.resolve(stateRoot), 'layers') ? layer : undefined;
}

/** True for a directory made by shiftedLayer. */
export function isShiftedLayer(stateRoot: string, dir: string): boolean {
  const abs = path.resolve(dir);
  if (abs.startsWith(shiftedDir(stateRoot) + path.sep)) return true;
  return STORE_COPY.test(path.basename(abs)) && path.dirname(path.dirname(abs)) === path.join(path.resolve(stateRoot), 'layers');
}

/** A shifted copy of one image layer directory, made once per range (atomic rename into place). */
export function shiftedLayer(stateRoot: string, lowerDir: string, r: RemapRanges): string {
  const storeLayer = storeLayerOf(stateRoot, lowerDir);
  const base = storeLayer ?? path.join(shiftedDir(stateRoot), `${r.uid.start}.${r.gid.start}`);
  const key = crypto.createHash('sha256').update(path.resolve(lowerDir)).digest('hex').slice(0, 32);
  const target = storeLayer ? path.join(storeLayer, `userns-${r.uid.start}.${r.gid.start}`) : path.join(base, key);
  if (fs.existsSync(target)) return target;
  if (!storeLayer) {
    fs.mkdirSync(base, { recursive: true, mode: 0o711 });
    // Which directory it copies, so pruneShiftedLayers can drop it once that is removed.
    fs.writeFileSync(`${target}.source`, path.resolve(lowerDir));
  }
  const tmp = `${target}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  try {
    const cp = spawnSync('cp', ['-a', '--reflink=auto', '--', lowerDir, tmp], { encoding: 'utf8' });
    if (cp.status !== 0) throw new Error(`--userns remap: copy ${lowerDir}: ${cp.stderr.trim()}`);
    shiftOwners(tmp, r);
    try {
      fs.renameSync(tmp, target);
    } catch (err) {
      // Another create made it first: use theirs.
      if (!fs.existsSync(target)) throw err;
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return target;
}

/**
 * Removes copies under <root>/userns/ whose source directory no longer exists, except those
 * `inUse` (layers some container record still names). Returns how many were removed.
 */
export function pruneShiftedLayers(stateRoot: string, inUse: Set<string> = new Set()): number {
  let removed = 0;
  const root = shiftedDir(stateRoot);
  let ranges: string[];
  try {
    ranges = fs.readdirSync(root);
  } catch {
    return 0;
  }
  for (const range of ranges) {
    const base = path.join(root, range);
    let names: string[];
    try {
      names = fs.readdirSync(base);
    } catch {
      continue;
    }
    for (const name of names) {
      if (!name.endsWith('.source')) continue;
      const copy = path.join(base, name.slice(0, -'.source'.length));
      let source: string;
      try {
        source = fs.readFileSync(path.join(base, name), 'utf8');
      } catch {
        continue;
      }
      if (fs.existsSync(source) || inUse.has(copy)) continue;
      fs.rmSync(copy, { recursive: true, force: true });
      fs.rmSync(path.join(base, name), { force: true });
      removed++;
    }
  }
  return removed;
}
