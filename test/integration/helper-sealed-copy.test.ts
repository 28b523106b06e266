// The helper's self-copy (CVE-2019-5736, docs/internals/helper.md "Start-up cost"): started from a
// memfd sealed WRITE|SHRINK|GROW it runs from that copy as it is; started from anything less it makes
// and executes its own sealed copy. The container process reports which binary its monitor runs.
// Uses python3 for memfd_create (Node has none); skipped without it.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { helperPath } from '../../src/native';

const python = spawnSync('python3', ['-c', 'import os; os.memfd_create']).status === 0;

// Python: copy the helper into a memfd named "hull-helper-presealed" with the given seals, start
// it as /proc/<us>/fd/N with a no-namespace plan whose program prints its parent's (the monitor's)
// /proc/<pid>/exe, and print that output and the messages on fd 3.
const DRIVER = `
import fcntl, os, socket, subprocess, sys
seals = int(sys.argv[2], 0)
fd = os.memfd_create("hull-helper-presealed", os.MFD_ALLOW_SEALING)
with open(sys.argv[1], "rb") as f:
    os.write(fd, f.read())
fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)
ours, theirs = socket.socketpair()
plan = "mode\\trun\\ndetach\\t0\\ntrace\\t0\\nenv\\tPATH=/usr/bin:/bin\\narg\\t/bin/sh\\narg\\t-c\\narg\\treadlink /proc/$PPID/exe\\nexec\\nend\\n"
child = subprocess.Popen([f"/proc/{os.getpid()}/fd/{fd}"], pass_fds=(fd,), stdin=subprocess.DEVNULL,
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

function runFromMemfd(seals: string): string[] {
  const r = spawnSync('python3', ['-c', DRIVER, helperPath, seals], { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) throw new Error(`driver: ${r.status} ${r.stderr}`);
  return r.stdout.trim().split('\n');
}

describe.skipIf(!python || process.getuid?.() !== 0)('helper started from a sealed memfd', () => {
  it('runs from a copy sealed WRITE|SHRINK|GROW|SEAL as it is', () => {
    const [exe, messages] = runFromMemfd('0xf'); // F_SEAL_SEAL|SHRINK|GROW|WRITE
    expect(exe).toMatch(/^\/memfd:hull-helper-presealed/);
    expect(messages).toMatch(/exit\t0\t0/);
  });

  it('makes its own sealed copy when the given one is only write-sealed (it could still be truncated)', () => {
    const [exe, messages] = runFromMemfd('0x8'); // F_SEAL_WRITE
    expect(exe).toMatch(/^\/memfd:hull-helper \(deleted\)/);
    expect(messages).toMatch(/exit\t0\t0/);
  });

  it('makes its own sealed copy from an unsealed memfd', () => {
    const [exe] = runFromMemfd('0');
    expect(exe).toMatch(/^\/memfd:hull-helper \(deleted\)/);
  });
});
