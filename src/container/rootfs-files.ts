// Reading and writing inside a container's root filesystem from the host. Every path is resolved
// with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) (native.openInRoot), so an image symlink
// such as /etc/passwd -> /../../host/etc/shadow stays inside the rootfs.
import * as fs from 'node:fs';
import { native } from '../native';
import { usageError } from './errors';

/** Runs `fn` with an O_PATH directory fd of the rootfs. */
export function withRootFd<T>(rootfs: string, fn: (rootFd: number) => T): T {
  const fd = fs.openSync(rootfs, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    return fn(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** A file's content inside the rootfs, or undefined when it does not exist. */
export function readFileInRoot(rootfs: string, relPath: string): string | undefined {
  return withRootFd(rootfs, (rootFd) => {
    let fd: number;
    try {
      fd = native().openInRoot(rootFd, relPath, fs.constants.O_RDONLY, 0);
    } catch {
      return undefined;
    }
    try {
      return fs.readFileSync(fd, 'utf8');
    } finally {
      fs.closeSync(fd);
    }
  });
}

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home: string;
}

/**
 * docker's `-u`: "", name, uid, name:group, uid:gid (numeric ids need no passwd entry). The
 * supplementary groups are the user's groups from /etc/group, as docker does.
 */
export function resolveUser(rootfs: string, spec: string): ResolvedUser {
  const passwd = parseColonFile(readFileInRoot(rootfs, 'etc/passwd'));
  const group = parseColonFile(readFileInRoot(rootfs, 'etc/group'));
  // No -u and no USER in the image means uid 0, looked up by number: an image without an
  // /etc/passwd (a static binary, a scratch image) must still run, as it does under docker.
  const [userPart, groupPart] = (spec || '0').split(':', 2);
  let uid: number;
  let gid: number;
  let name: string | undefined;
  let home = '/';
  const byName = passwd.find((f) => f[0] === userPart);
  const byUid = /^\d+$/.test(userPart) ? passwd.find((f) => f[2] === userPart) : undefined;
  const entry = byName ?? byUid;
  if (entry) {
    uid = Number(entry[2]);
    gid = Number(entry[3]);
    name = entry[0];
    home = entry[5] || '/';
  } else if (/^\d+$/.test(userPart)) {
    uid = Number(userPart);
    gid = 0;
  } else {
    throw usageError(`unable to find user ${userPart}: no matching entries in passwd file`);
  }
  if (groupPart !== undefined) {
    const g = group.find((f) => f[0] === groupPart);
    if (g) gid = Number(g[2]);
    else if (/^\d+$/.test(groupPart)) gid = Number(groupPart);
    else throw usageError(`unable to find group ${groupPart}: no matching entries in group file`);
  }
  if (uid > 0xfffffffe || gid > 0xfffffffe) throw usageError(`invalid user "${spec}": id out of range`);
  const additionalGids = name
    ? [...new Set(group.filter((f) => (f[3] ?? '').split(',').includes(name!)).map((f) => Number(f[2])))].filter((g) => g !== gid)
    : [];
  return { uid, gid, additionalGids, home };
}

function parseColonFile(text: string | undefined): string[][] {
  if (!text) return [];
  return text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.split(':'));
}
