// Starting hull-helper from the addon instead of node:child_process (native/spawn.cc,
// docs/internals/helper.md "Spawning"): the raw spawn (errors, fd map, nothing else inherited,
// signal state, exit status) and HelperProcess on top of it (the sealed copy is what the helper
// runs, 'pipe' stdio, kill, exit codes).
import { describe, it, expect, afterEach } from 'vitest';
import * as fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import { helperPath, native, probePath } from '../../src/native';
import { HelperProcess } from '../../src/runtime/helper-process';
import type { PlanOp } from '../../src/runtime/plan';
import { caught } from '../setup/native-fds';

const n = native();
const started: number[] = [];

afterEach(() => {
  // Whatever a test left running is killed and reaped.
  for (const pidfd of started.splice(0)) {
    try {
      n.pidfdSendSignal(pidfd, 9);
    } catch {
      /* already exited */
    }
    waitExit(pidfd);
  }
});

/** spawn and remember the pidfd for cleanup. */
function spawn(argv: string[], fds: [number, number][], env: string[] = ['PATH=/usr/bin:/bin']) {
  const child = n.spawn({ path: argv[0], argv, env, fds });
  started.push(child.pidfd);
  return child;
}

/** Block until the child behind `pidfd` exits; reap it, close the pidfd. */
function waitExit(pidfd: number): { exitCode: number | null; signal: number } {
  for (;;) {
    const status = n.waitPidfd(pidfd);
    if (status) {
      fs.closeSync(pidfd);
      const i = started.indexOf(pidfd);
      if (i >= 0) started.splice(i, 1);
      return status;
    }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
  }
}

/** Everything readable from a blocking fd until EOF; closes it. */
function readAll(fd: number): string {
  const chunks: Buffer[] = [];
  const buffer = Buffer.alloc(65536);
  for (let got; (got = fs.readSync(fd, buffer, 0, buffer.length, null)) > 0; ) chunks.push(Buffer.from(buffer.subarray(0, got)));
  fs.closeSync(fd);
  return Buffer.concat(chunks).toString();
}

/**
 * fd number → what it points at, for a live process. Waits for its execve to finish first: the
 * vfork parent resumes once the new program's memory is in place, a moment before the kernel closes
 * the close-on-exec fds and renames the process (comm). The program is the static hull-probe: a
 * dynamic loader would briefly open libraries at the lowest free fd.
 */
function fdTable(pid: number): Record<string, string> {
  const ours = fs.readFileSync('/proc/self/comm', 'utf8');
  while (fs.readFileSync(`/proc/${pid}/comm`, 'utf8') === ours) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
  const table: Record<string, string> = {};
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) table[fd] = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
  return table;
}

function statusField(pid: number | 'self', field: string): string {
  return /^(\S+):\s+(\S+)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${field}:`))!)![2];
}

describe('native spawn', () => {
  it('reports a missing program as execve ENOENT with its path, and leaves no child behind', () => {
    const err = caught(() => n.spawn({ path: '/nonexistent/hull-helper', argv: ['x'], env: [], fds: [] }));
    expect(err).toMatchObject({ code: 'ENOENT', errno: 2, syscall: 'execve', path: '/nonexistent/hull-helper' });
    expect(err.message).toBe('execve /nonexistent/hull-helper: ENOENT (No such file or directory)');
  });

  it('reports a file that is not executable as EACCES', () => {
    const dir = fs.mkdtempSync('/tmp/hull-spawn-test-');
    try {
      fs.writeFileSync(`${dir}/plain`, '#!/bin/sh\n', { mode: 0o644 });
      const err = caught(() => n.spawn({ path: `${dir}/plain`, argv: ['x'], env: [], fds: [] }));
      expect(err).toMatchObject({ code: 'EACCES', syscall: 'execve', path: `${dir}/plain` });
    } finally {
      fs.rmSync(dir, { recursive: true });
    }
  });

  it('gives the child exactly the mapped fds, even when a source is another entry’s target', () => {
    const [r, w] = n.pipe();
    const devNull = fs.openSync('/dev/null', 'r');
    // child 0 ← /dev/null, child 1 ← the pipe, child <w> ← our fd 2 (w is a source AND a target).
    const child = spawn([probePath, 'sleep', '60'], [[0, devNull], [1, w], [w, 2]]);
    try {
      const table = fdTable(child.pid);
      expect(Object.keys(table).sort()).toEqual(['0', '1', String(w)].sort());
      expect(table['0']).toBe('/dev/null');
      expect(table['1']).toBe(fs.readlinkSync(`/proc/self/fd/${w}`)); // pipe:[inode]
      expect(table[String(w)]).toBe(fs.readlinkSync('/proc/self/fd/2'));
    } finally {
      fs.closeSync(devNull);
      fs.closeSync(r);
      fs.closeSync(w);
    }
  });

  it('passes none of our other fds, close-on-exec or not (the sealed copy included)', () => {
    const sealed = n.sealedHelper(helperPath);
    const child = spawn([probePath, 'sleep', '60'], [[0, 0], [1, 1], [2, 2]]);
    expect(Object.keys(fdTable(child.pid)).sort()).toEqual(['0', '1', '2']);
    expect(fs.readlinkSync(`/proc/self/fd/${sealed}`)).toMatch(/^\/(memfd:)?hull-helper/); // ro bind or memfd
  });

  it('resets what Node changed: SIGPIPE not ignored, no signal blocked', () => {
    expect(BigInt(`0x${statusField('self', 'SigIgn')}`) & (1n << 12n)).toBe(1n << 12n); // Node ignores SIGPIPE (13)
    const [r, w] = n.pipe();
    const child = spawn(['/bin/cat', '/proc/self/status'], [[1, w]]);
    fs.closeSync(w);
    const status = readAll(r);
    expect(waitExit(child.pidfd)).toEqual({ exitCode: 0, signal: 0 });
    expect(status).toMatch(/^SigIgn:\s+0000000000000000$/m);
    expect(status).toMatch(/^SigBlk:\s+0000000000000000$/m);
  });

  it('passes argv and env as given', () => {
    const [r, w] = n.pipe();
    const child = spawn(['/bin/sh', '-c', 'echo "$0|$1|$HULL_X|$HOME"', 'a b'], [[1, w]], ['HULL_X=1', 'PATH=/usr/bin:/bin']);
    fs.closeSync(w);
    expect(readAll(r)).toBe('a b||1|\n'); // with -c, $0 is the next argument; no HOME: nothing but the env given
    waitExit(child.pidfd);
  });

  it('reports exit codes and signals through the pidfd', () => {
    const exits = spawn(['/bin/sh', '-c', 'exit 3'], []);
    expect(waitExit(exits.pidfd)).toEqual({ exitCode: 3, signal: 0 });
    const killed = spawn(['/bin/sleep', '60'], []);
    expect(n.waitPidfd(killed.pidfd)).toBeNull();
    n.pidfdSendSignal(killed.pidfd, 15);
    expect(waitExit(killed.pidfd)).toEqual({ exitCode: null, signal: 15 });
  });

  it('opens one protected helper per process and path: the file itself, through a read-only bind', () => {
    const fd = n.sealedHelper(helperPath);
    expect(n.sealedHelper(helperPath)).toBe(fd);
    // Not a copy: the helper's own inode (its page cache is shared by every monitor)...
    expect(fs.fstatSync(fd).ino).toBe(fs.statSync(helperPath).ino);
    // ...that cannot be opened for writing through the fd (reopened O_PATH): a read-only mount.
    // O_TRUNC: checked before the inode is found busy (ETXTBSY while any helper runs it).
    const writing = fs.constants.O_WRONLY | fs.constants.O_TRUNC;
    expect(caught(() => fs.openSync(`/proc/self/fd/${fd}`, writing))).toMatchObject({ code: 'EROFS' });
    expect(caught(() => n.sealedHelper('/nonexistent/helper'))).toMatchObject({ code: 'ENOENT', syscall: 'open' });
  });

  it('makes a sealed memfd copy instead when told to (HULL_HELPER_MEMFD=1, the fallback)', () => {
    const script = `
      const fs = require('fs');
      const n = require(${JSON.stringify(require.resolve('../../build/Release/hull_native.node'))});
      const fd = n.sealedHelper(${JSON.stringify(helperPath)});
      let write = 'written';
      try { fs.writeSync(fd, 'x', 0); } catch (e) { write = e.code; }
      console.log(fs.readlinkSync('/proc/self/fd/' + fd), write);`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { HULL_HELPER_MEMFD: '1' } });
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^\/memfd:hull-helper \(deleted\) EPERM\n$/); // F_SEAL_WRITE
  });

  it('watches an fd from the event loop until closed', async () => {
    const [r, w] = n.pipe();
    const got = await new Promise<number>((resolve) => {
      const watch = n.watchFd(r, (status, events) => {
        watch.close();
        resolve(events);
      });
      watch.start(1);
      fs.writeSync(w, 'x');
    });
    expect(got & 1).toBe(1);
    fs.closeSync(r);
    fs.closeSync(w);
  });

  it('a watched fd that becomes ready while Node shuts down calls nobody (no crash at exit)', () => {
    // Node-API finalizes wrapped objects before its last event-loop turn at exit: a pidfd that turns
    // readable then (a child killed in an exit hook) must not reach a deleted watch.
    const script = `
      const n = require(${JSON.stringify(require.resolve('../../build/Release/hull_native.node'))});
      for (let i = 0; i < 8; i++) {
        const { pid, pidfd } = n.spawn({ path: ${JSON.stringify(probePath)}, argv: ['hull-probe', 'sleep', '100'], env: [], fds: [] });
        const watch = n.watchFd(pidfd, () => {});
        watch.start(1);
        watch.unref();
        process.on('exit', () => process.kill(pid, 'SIGKILL'));
      }`;
    for (let run = 0; run < 5; run++) {
      const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: {} });
      expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    }
  });
});

// The helper runs `sh -c script` without namespaces (the monitor's own view), so the script can
// look at its parent, the monitor.
function plainPlan(script: string): PlanOp[] {
  return [['mode', 'run'], ['detach', '0'], ['env', 'PATH=/usr/bin:/bin'], ['arg', '/bin/sh'], ['arg', '-c'], ['arg', script], ['exec']];
}

function collect(stream: NodeJS.ReadableStream | null): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    stream!.on('data', (d: Buffer) => (text += d));
    stream!.on('end', () => resolve(text));
  });
}

describe('HelperProcess over the native spawn', () => {
  it('runs the helper from this process’s protected fd, which it does not copy again', async () => {
    const helper = new HelperProcess(plainPlan('stat -L -c %i /proc/$PPID/exe; grep ^SigIgn /proc/self/status'), {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const out = collect(helper.child.stdout);
    expect(await helper.exited).toEqual({ exitCode: 0, signal: 0 });
    const [inode, ignored] = (await out).trim().split('\n');
    expect(Number(inode)).toBe(fs.fstatSync(n.sealedHelper(helperPath)).ino);
    // Node's ignored SIGPIPE reaches neither the monitor's program nor the container's (the
    // monitor ignores SIGPIPE itself, on purpose, and resets it for the container process).
    expect(ignored).toMatch(/^SigIgn:\s+0{16}$/);
  });

  it('carries stdin, stdout and stderr through pipes', async () => {
    const helper = new HelperProcess(plainPlan('tr a-z A-Z; echo err >&2; exit 4'), { stdio: ['pipe', 'pipe', 'pipe'] });
    const [out, err] = [collect(helper.child.stdout), collect(helper.child.stderr)];
    helper.child.stdin!.end('x'.repeat(200_000) + 'abc\n'); // more than a pipe holds: waits for room
    await helper.ready;
    expect(await helper.exited).toEqual({ exitCode: 4, signal: 0 });
    expect(await out).toBe('X'.repeat(200_000) + 'ABC\n');
    expect(await err).toBe('err\n');
    expect(helper.child.exitCode).toBe(4);
  });

  it('settles `exited` for a helper killed with pipes nobody read, and leaves none of its fds open', async () => {
    n.sealedHelper(helperPath); // made once per process: not counted
    const before = fs.readdirSync('/proc/self/fd').sort();
    const helper = new HelperProcess(null, { stdio: ['pipe', 'pipe', 'pipe'], env: {} }); // a warm sandbox helper
    helper.kill();
    await expect(helper.exited).resolves.toEqual({ exitCode: 137, signal: 9 });
    expect(fs.readdirSync('/proc/self/fd').sort()).toEqual(before);
  });

  it('gives the helper only stdio and fd 3 (preserved fds at 4…)', async () => {
    const preserved = fs.openSync('/dev/null', 'r');
    try {
      const helper = new HelperProcess(null, { stdio: ['ignore', 'ignore', 'ignore'], preservedFds: [preserved] });
      const table = fdTable(helper.monitorPid);
      expect(Object.keys(table).sort()).toEqual(['0', '1', '2', '3', '4']);
      expect(table['3']).toMatch(/^socket:/);
      helper.kill();
      await expect(helper.exited).resolves.toEqual({ exitCode: 137, signal: 9 });
      expect(helper.child.signalCode).toBe('SIGKILL');
      await helper.helperGone();
    } finally {
      fs.closeSync(preserved);
    }
  });

  it('reports a helper that dies before its plan as a failure of `ready`', async () => {
    const helper = new HelperProcess(null, { stdio: ['ignore', 'ignore', 'ignore'] });
    helper.child.stdio[3]!.destroy(); // EOF on fd 3 before any plan: the helper exits with an error
    await expect(helper.ready).rejects.toThrow(/before the container was ready/);
    await helper.helperGone();
    expect(helper.child.exitCode).toBe(125);
  });

  it('release() keeps nothing of ours open for the helper, and it is still reaped', async () => {
    const before = fs.readdirSync('/proc/self/fd').sort();
    const helper = new HelperProcess(null, { stdio: ['ignore', 'ignore', 'ignore'] });
    const pid = helper.monitorPid;
    helper.release(); // EOF on fd 3: this helper exits
    expect(fs.readdirSync('/proc/self/fd').sort()).toEqual(before);
    // Reaped by the SIGCHLD listener: /proc/<pid> goes away (a zombie would stay).
    for (let i = 0; i < 2000 && fs.existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 5));
    expect(fs.existsSync(`/proc/${pid}`)).toBe(false);
  });
});
