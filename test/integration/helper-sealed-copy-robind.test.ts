// The helper run from a read-only bind instead of a memfd copy (CVE-2019-5736,
// docs/internals/helper.md "The protected binary"): the addon execs the helper file itself through
// a detached read-only bind of its directory. The helper's program (our stand-in for a container
// process, as root: the worst case) tries to write the monitor's binary every way it can reach it.
// A bind of the *file* alone is a mount root that the root of any user namespace may make writable
// again: the helper copies itself then. Uses python3 (ctypes) for open_tree/mount_setattr/unshare;
// skipped without it.
import { describe, it, expect } from 'vitest';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import { helperPath } from '../../src/native';

const python = spawnSync('python3', ['-c', 'import ctypes, os; os.O_PATH']).status === 0;

// Python: a detached read-only bind (open_tree + mount_setattr RDONLY) of the helper's directory
// ('dir') or of the helper file ('file'), the helper exec'd through it as /proc/<us>/fd/N with a
// no-namespace plan whose program runs ATTACK against its parent, the monitor. Prints the
// program's output, then the messages on fd 3.
const DRIVER = `
import ctypes, os, socket, subprocess, sys
libc = ctypes.CDLL(None, use_errno=True)
class MountAttr(ctypes.Structure):
    _fields_ = [("set", ctypes.c_uint64), ("clr", ctypes.c_uint64), ("prop", ctypes.c_uint64), ("userns", ctypes.c_uint64)]
def check(r, what):
    if r < 0:
        raise OSError(ctypes.get_errno(), what)
    return r
helper, mode, attack = sys.argv[1], sys.argv[2], sys.argv[3]
source = os.path.dirname(helper) if mode == "dir" else helper
tree = check(libc.syscall(428, -100, source.encode(), 1 | 0o2000000), "open_tree")  # OPEN_TREE_CLONE|CLOEXEC
attr = MountAttr(0x1 | 0x2 | 0x4, 0, 0, 0)  # RDONLY|NOSUID|NODEV
check(libc.syscall(442, tree, b"", 0x1000, ctypes.byref(attr), ctypes.sizeof(attr)), "mount_setattr")
exe = os.open(os.path.basename(helper), os.O_PATH | os.O_CLOEXEC, dir_fd=tree) if mode == "dir" else tree
ours, theirs = socket.socketpair()
plan = "mode\\trun\\ndetach\\t0\\ntrace\\t0\\nenv\\tPATH=/usr/bin:/bin\\narg\\t/usr/bin/python3\\narg\\t-c\\narg\\t" + attack.replace("\\n", ";") + "\\nexec\\nend\\n"
child = subprocess.Popen([f"/proc/{os.getpid()}/fd/{exe}"], pass_fds=(3,), stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, env={}, preexec_fn=lambda: os.dup2(theirs.fileno(), 3))
theirs.close()
ours.sendall(plan.encode())
messages = b""
while True:
    data = ours.recv(4096)
    if not data:
        break
    messages += data
out = child.stdout.read().decode()
child.wait()
print(out.strip())
print(messages.decode().replace("\\n", " ").strip())
`;

// The monitor's binary, attacked by its program (as root): readlink of /proc/<monitor>/exe, then
// each attempt's errno: open(O_WRONLY|O_TRUNC) through /proc/<monitor>/exe (O_TRUNC: the mount is
// checked before the file is found busy, so EROFS even while a helper runs the file; a plain
// O_WRONLY gets ETXTBSY until no helper runs it, as in the CVE's attack, and EROFS after); through an O_PATH fd of it
// reopened; mount_setattr clearing MOUNT_ATTR_RDONLY on that fd, and the reopen after it; the same
// two as root of a new user namespace (CAP_SYS_ADMIN over its own mount namespace; uid still 0).
// One statement a line: the driver joins them with ';' into python3 -c.
const ATTACK = [
  'import ctypes, errno, os',
  'libc = ctypes.CDLL(None, use_errno=True)',
  'exe = "/proc/%d/exe" % os.getppid()',
  'out = [os.readlink(exe)]',
  'attempt = lambda f: (lambda r: "OK" if r >= 0 else errno.errorcode[ctypes.get_errno()])(f())',
  'reopen = lambda p: attempt(lambda: libc.open(p.encode(), os.O_WRONLY | os.O_TRUNC))',
  'fd = os.open(exe, os.O_PATH)',
  'attr = (ctypes.c_uint64 * 4)(0, 1, 0, 0)',
  'clear = lambda: attempt(lambda: libc.syscall(442, fd, b"", 0x1000, ctypes.byref(attr), 32))',
  'out += [reopen(exe), reopen("/proc/self/fd/%d" % fd), clear(), reopen("/proc/self/fd/%d" % fd)]',
  'out += [attempt(lambda: libc.unshare(0x10000000 | 0x20000)), clear(), reopen("/proc/self/fd/%d" % fd)]',
  'print("|".join(out))',
].join('\n');

function attack(mode: 'dir' | 'file'): { exe: string; results: string[]; messages: string } {
  const r = spawnSync('python3', ['-c', DRIVER, helperPath, mode, ATTACK], { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) throw new Error(`driver: ${r.status} ${r.stderr}`);
  const [out, messages] = r.stdout.trim().split('\n');
  const [exe, ...results] = out.split('|');
  return { exe, results, messages };
}

const sha256 = (file: string) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

describe.skipIf(!python || process.getuid?.() !== 0)('helper started from a read-only bind', () => {
  it('runs from a read-only bind of its directory as it is, and nobody can write it through its exe', () => {
    const before = sha256(helperPath);
    const { exe, results, messages } = attack('dir');
    expect(exe).toBe('/hull-helper'); // the file itself, in the detached mount: no memfd copy
    expect(results).toEqual([
      'EROFS', // open("/proc/<monitor>/exe", O_WRONLY|O_TRUNC)
      'EROFS', // an O_PATH fd of it, reopened through /proc/self/fd
      'EINVAL', // mount_setattr(fd, MOUNT_ATTR_RDONLY cleared): the exe is no mount root
      'EROFS',
      'OK', // unshare(CLONE_NEWUSER|CLONE_NEWNS): root of its own user namespace
      'EINVAL',
      'EROFS',
    ]);
    expect(messages).toMatch(/exit\t0\t0/);
    expect(sha256(helperPath)).toBe(before);
  });

  it('makes its own sealed copy when its exe is a read-only bind of the file alone (a mount root)', () => {
    const { exe, results, messages } = attack('file');
    expect(exe).toMatch(/^\/memfd:hull-helper( \(deleted\))?$/);
    expect(results[0]).toMatch(/^E(PERM|TXTBSY|ACCES)$/); // the sealed copy, not the bind
    expect(results[2]).toBe('EINVAL'); // and its memfd has no mount of ours to setattr
    expect(messages).toMatch(/exit\t0\t0/);
  });
});
