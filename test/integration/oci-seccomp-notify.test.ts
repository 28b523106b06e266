// Seccomp user notification (runtime-spec linux.seccomp.listenerPath, SCMP_ACT_NOTIFY) through
// hull-oci: the container process loads its filter with a new listener, the monitor connects to
// listenerPath and sends the container process state + the notify fd, and a tiny agent (C, built
// here: it needs the SECCOMP_IOCTL_NOTIF_* ioctls and must answer while hull-oci blocks the test)
// answers the container's mkdir with EPERM or lets it continue.
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeBundle, HULL_OCI, type Bundle } from '../setup/bundle';
import { ociHarness } from '../setup/oci-harness';
import type { Seccomp } from '../../src/runtime/spec';

// Listens on argv[1]; `eperm` / `continue`: accept argv[3] connections (each: one message with the
// state and fds, then the runtime must close it), print them, answer notifications until every
// notify fd hangs up (no task uses its filter any more). `refuse`: bind without listen (connect gets
// ECONNREFUSED) and wait to be killed.
const AGENT_SOURCE = String.raw`
#define _GNU_SOURCE
#include <errno.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char** argv) {
  int eperm = strcmp(argv[2], "eperm") == 0;
  int expected = argc > 3 ? atoi(argv[3]) : 1;
  alarm(60);  /* never outlive a broken test */
  int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  strncpy(addr.sun_path, argv[1], sizeof addr.sun_path - 1);
  if (bind(listener, (struct sockaddr*)&addr, sizeof addr) < 0) return perror("bind"), 1;
  if (strcmp(argv[2], "refuse") == 0) {
    printf("listening\n");
    fflush(stdout);
    pause();
  }
  listen(listener, 4);
  printf("listening\n");
  fflush(stdout);
  int notify[8], count = 0, open = 0;
  while (count < expected || open > 0) {
    struct pollfd fds[9] = {{count < expected ? listener : -1, POLLIN, 0}};
    for (int i = 0; i < count; i++) fds[1 + i] = (struct pollfd){notify[i], POLLIN, 0};
    if (poll(fds, 1 + count, -1) < 0) continue;
    if (fds[0].revents) {
      int c = accept(listener, NULL, NULL);
      char buffer[65536], control[CMSG_SPACE(4 * sizeof(int))];
      struct iovec io = {buffer, sizeof buffer - 1};
      struct msghdr m = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
      ssize_t n = recvmsg(c, &m, MSG_CMSG_CLOEXEC);
      int received = 0, fd = -1;
      for (struct cmsghdr* h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h)) {
        if (h->cmsg_type != SCM_RIGHTS) continue;
        received = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        memcpy(&fd, CMSG_DATA(h), sizeof fd);
      }
      buffer[n > 0 ? n : 0] = 0;
      char more;
      ssize_t after = read(c, &more, 1);  /* 0: the runtime closed the connection */
      close(c);
      printf("state %s\nfds %d\nclosed %s\n", buffer, received, after == 0 ? "yes" : "no");
      fflush(stdout);
      notify[count++] = fd;
      open++;
    }
    for (int i = 0; i < count; i++) {
      if (notify[i] < 0 || !fds[1 + i].revents) continue;
      if (fds[1 + i].revents & POLLIN) {
        struct seccomp_notif req;
        memset(&req, 0, sizeof req);
        if (ioctl(notify[i], SECCOMP_IOCTL_NOTIF_RECV, &req) == 0) {
          struct seccomp_notif_resp resp;
          memset(&resp, 0, sizeof resp);
          resp.id = req.id;
          if (eperm) resp.error = -EPERM;
          else resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
          int rc = ioctl(notify[i], SECCOMP_IOCTL_NOTIF_SEND, &resp);
          printf("notify %d %s\n", req.data.nr, rc == 0 ? "answered" : strerror(errno));
          fflush(stdout);
        }
      } else {
        close(notify[i]);  /* POLLHUP: nobody uses the filter any more */
        notify[i] = -1;
        open--;
      }
    }
  }
  printf("done\n");
  return 0;
}
`;

const h = ociHarness('notify', { log: true });
const { root, work, oci, newId } = h;
const SYS_MKDIR = 83;
const SYS_MKDIRAT = 258;
let agentBinary: string;
const agents: ChildProcess[] = [];
let agentCount = 0;

interface Agent {
  process: ChildProcess;
  socket: string;
  /** Everything it printed so far. */
  output(): string;
  /** Waits for it to exit (every notify fd hung up) and returns its output. */
  finished(): Promise<string>;
}

async function startAgent(mode: 'eperm' | 'continue' | 'refuse', connections = 1): Promise<Agent> {
  const socket = path.join(work, `agent-${++agentCount}-${mode}.sock`);
  const child = spawn(agentBinary, [socket, mode, String(connections)], { stdio: ['ignore', 'pipe', 'inherit'] });
  agents.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  for (let i = 0; i < 500 && !out.includes('listening\n'); i++) await new Promise((r) => setTimeout(r, 10));
  expect(out).toContain('listening\n');
  return { process: child, socket, output: () => out, finished: async () => (await exited, out) };
}

interface Delivery {
  state: Record<string, unknown> & { state: Record<string, unknown> };
  fds: number;
  closed: string;
}

function deliveries(output: string): Delivery[] {
  const lines = output.split('\n');
  const out: Delivery[] = [];
  lines.forEach((line, i) => {
    if (!line.startsWith('state ')) return;
    out.push({ state: JSON.parse(line.slice(6)), fds: Number(lines[i + 1].split(' ')[1]), closed: lines[i + 2].split(' ')[1] });
  });
  return out;
}

/** Syscall numbers the agent was asked about. */
function notified(output: string): number[] {
  return output.split('\n').filter((l) => l.startsWith('notify ')).map((l) => Number(l.split(' ')[1]));
}

function notifyProfile(agent: { socket: string }, extra: Partial<Seccomp> = {}): Seccomp {
  return {
    defaultAction: 'SCMP_ACT_ALLOW',
    listenerPath: agent.socket,
    listenerMetadata: 'agent-metadata "quoted" <x>',
    syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_NOTIFY' }],
    ...extra,
  };
}

function bundle(args: string[], seccomp: Seccomp, edit?: (b: Bundle) => void): Bundle {
  const b = makeBundle({
    args,
    edit: (s) => {
      s.linux!.seccomp = seccomp;
      s.annotations = { 'org.example.key': 'value' };
    },
  });
  edit?.(b);
  b.save();
  return h.track(b);
}

/** Host pids holding a seccomp notify fd. */
function notifyFdHolders(): number[] {
  const holders: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target = '';
      try {
        target = fs.readlinkSync(`/proc/${entry}/fd/${fd}`);
      } catch {
        continue;
      }
      if (target.includes('seccomp notify')) {
        holders.push(Number(entry));
        break;
      }
    }
  }
  return holders;
}

async function waitFor(check: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 20));
  expect(check()).toBe(true);
}

beforeAll(() => {
  agentBinary = path.join(work, 'seccomp-agent');
  fs.writeFileSync(path.join(work, 'seccomp-agent.c'), AGENT_SOURCE);
  execFileSync('gcc', ['-O1', '-o', agentBinary, path.join(work, 'seccomp-agent.c')], { stdio: 'pipe' });
});

afterEach(() => {
  h.afterEachTest();
  for (const a of agents.splice(0)) {
    if (a.exitCode === null && a.signalCode === null) a.kill('SIGKILL');
  }
});

afterAll(() => h.afterAllTests());

describe('hull-oci seccomp notify (listenerPath)', () => {
  it('features lists SCMP_ACT_NOTIFY', () => {
    const r = oci('features');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).linux.seccomp.actions).toContain('SCMP_ACT_NOTIFY');
  });

  it('the agent answers mkdir with EPERM; it got the container process state and the fd', async () => {
    const agent = await startAgent('eperm');
    const b = bundle(['/bin/sh', '-c', 'mkdir /tmp/x; echo rc=$?; if test -d /tmp/x; then echo made; else echo absent; fi'], notifyProfile(agent));
    const id = newId('notify-eperm');
    const pidFile = path.join(work, `${id}.pid`);
    const r = oci('run', '--bundle', b.dir, '--pid-file', pidFile, id);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('Operation not permitted');
    expect(r.stdout).toBe('rc=1\nabsent\n');
    const out = await agent.finished();
    expect(notified(out).length).toBeGreaterThan(0);
    expect(notified(out).every((nr) => nr === SYS_MKDIR || nr === SYS_MKDIRAT)).toBe(true);

    const [d] = deliveries(out);
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    expect(d.fds).toBe(1);
    expect(d.closed).toBe('yes'); // one message per connection, then closed
    expect(d.state).toEqual({
      ociVersion: '1.2.0',
      fds: ['seccompFd'],
      pid,
      metadata: 'agent-metadata "quoted" <x>',
      state: {
        ociVersion: '1.2.0',
        id,
        status: 'creating',
        pid,
        bundle: b.dir,
        annotations: { 'org.example.key': 'value' },
      },
    });
    expect(deliveries(out)).toHaveLength(1);
    h.expectNoLeaks(id, b);
  });

  it('SECCOMP_USER_NOTIF_FLAG_CONTINUE lets mkdir happen, also the helper\'s own mkdir (no NNP, missing cwd)', async () => {
    const agent = await startAgent('continue');
    // Without noNewPrivileges the filter is loaded before `user` and `cwd`: the helper's own mkdir
    // of the missing working directory already goes to the agent, which has the fd by then.
    const b = bundle(['/bin/sh', '-c', 'mkdir /tmp/x && test -d /tmp/x && echo made && pwd'], notifyProfile(agent, { listenerMetadata: undefined }), (bb) => {
      bb.spec.process!.noNewPrivileges = false;
      bb.spec.process!.cwd = '/work/here';
    });
    const id = newId('notify-continue');
    const r = oci('run', '--bundle', b.dir, id);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('made\n/work/here\n');
    const out = await agent.finished();
    expect(notified(out).length).toBeGreaterThanOrEqual(3); // /work, /work/here, /tmp/x
    const [d] = deliveries(out);
    expect(d.state).not.toHaveProperty('metadata'); // no listenerMetadata: left out, as runc
    expect(fs.existsSync(path.join(b.rootfs, 'tmp/x'))).toBe(true);
    h.expectNoLeaks(id, b);
  });

  it('create delivers before it returns; afterwards only the agent holds the notify fd', async () => {
    const agent = await startAgent('eperm', 2);
    const b = bundle(['/bin/sh', '-c', 'mkdir /tmp/x 2>/tmp/err; exec sleep 1000'], notifyProfile(agent));
    const id = newId('notify-create');
    const pidFile = path.join(work, `${id}.pid`);
    const created = oci('create', '--bundle', b.dir, '--pid-file', pidFile, id);
    expect(created.code, created.stderr).toBe(0);
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    // When create returns the agent holds the notify fd already (and nobody else does).
    expect(notifyFdHolders()).toEqual([agent.process.pid]);
    await waitFor(() => deliveries(agent.output()).length === 1); // its output reaches us later
    expect(deliveries(agent.output())[0].state.pid).toBe(pid);

    const started = oci('start', id);
    expect(started.code, started.stderr).toBe(0);
    await waitFor(() => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('sleep'));
    expect(fs.readFileSync(path.join(b.rootfs, 'tmp/err'), 'utf8')).toContain('Operation not permitted');
    // The program's fds: stdio only (no notify fd, no channel or listener socket).
    const fds = fs.readdirSync(`/proc/${pid}/fd`).map((fd) => fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
    expect(fds).toHaveLength(3);
    expect(fds.filter((t) => t.includes('seccomp') || t.startsWith('socket:'))).toEqual([]);
    expect(notifyFdHolders()).toEqual([agent.process.pid]);

    // exec: the new process loads the filter again and the agent gets a second listener, with
    // status running, the init's pid in the state and the exec'd process as the outer pid.
    const exec = oci('exec', id, '/bin/sh', '-c', 'mkdir /tmp/y; echo rc=$?');
    expect(exec.code, exec.stderr).toBe(0);
    expect(exec.stdout).toBe('rc=1\n');
    await waitFor(() => deliveries(agent.output()).length === 2);
    const second = deliveries(agent.output())[1];
    expect(second.fds).toBe(1);
    expect(second.state.state).toMatchObject({ id, status: 'running', pid, bundle: b.dir });
    expect(second.state.pid).not.toBe(pid);

    const killed = oci('kill', id, 'KILL');
    expect(killed.code, killed.stderr).toBe(0);
    await agent.finished(); // both notify fds hung up: nobody else held a copy
    expect(oci('delete', '--force', id).code).toBe(0);
    expect(notifyFdHolders()).toEqual([]);
    h.expectNoLeaks(id, b);
  });

  it('a foreground run: the monitor that stays does not keep a copy of the notify fd', async () => {
    const agent = await startAgent('eperm');
    const b = bundle(['/bin/sh', '-c', 'mkdir /tmp/x; exec sleep 1000'], notifyProfile(agent));
    const id = newId('notify-monitor');
    // Foreground `run` keeps its monitor (only detached ones hand the container to the subreaper).
    const run = spawn(process.execPath, [HULL_OCI, '--root', root, 'run', '--bundle', b.dir, id], { stdio: 'ignore' });
    const ended = new Promise<number | null>((resolve) => run.on('exit', (code) => resolve(code)));
    await waitFor(() => notified(agent.output()).length > 0);
    await waitFor(() => deliveries(agent.output()).length === 1);
    const pid = deliveries(agent.output())[0].state.pid as number;
    const monitor = Number(/PPid:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
    expect(fs.readFileSync(`/proc/${monitor}/cmdline`, 'utf8')).toContain('hull-helper'); // still there
    expect(notifyFdHolders()).toEqual([agent.process.pid]);
    expect(oci('kill', id, 'KILL').code).toBe(0);
    expect(await ended).toBe(137);
    await agent.finished();
    expect(notifyFdHolders()).toEqual([]);
    h.expectNoLeaks(id, b);
  });

  it('create fails with connect/path/errno when nothing is at listenerPath', () => {
    const missing = path.join(work, 'no-such-agent.sock');
    const b = bundle(['/bin/true'], notifyProfile({ socket: missing }));
    const id = newId('notify-missing');
    const r = oci('create', '--bundle', b.dir, id);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`connect ${missing}`);
    expect(r.stderr).toMatch(/no such file or directory/i);
    expect(notifyFdHolders()).toEqual([]);
    h.expectNoLeaks(id, b);
  });

  it('create fails when the listener refuses the connection', async () => {
    const agent = await startAgent('refuse');
    const b = bundle(['/bin/true'], notifyProfile(agent));
    const id = newId('notify-refused');
    const r = oci('create', '--bundle', b.dir, id);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`connect ${agent.socket}`);
    expect(r.stderr).toMatch(/connection refused/i);
    expect(notifyFdHolders()).toEqual([]);
    h.expectNoLeaks(id, b);
  });

  it('refuses profiles that could never hand over the fd, as runc', () => {
    const socket = path.join(work, 'unused.sock');
    const cases: [Seccomp, string][] = [
      [{ ...notifyProfile({ socket }), defaultAction: 'SCMP_ACT_NOTIFY' }, 'SCMP_ACT_NOTIFY cannot be used as default action'],
      [notifyProfile({ socket }, { syscalls: [{ names: ['write'], action: 'SCMP_ACT_NOTIFY' }] }), 'SCMP_ACT_NOTIFY cannot be used for the write syscall'],
      [notifyProfile({ socket }, { syscalls: [{ names: ['sendmsg'], action: 'SCMP_ACT_NOTIFY' }] }), 'SCMP_ACT_NOTIFY cannot be used for the sendmsg syscall'],
      [notifyProfile({ socket }, { listenerPath: undefined, listenerMetadata: undefined }), 'SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath'],
      [{ defaultAction: 'SCMP_ACT_ALLOW', listenerMetadata: 'x' }, 'linux.seccomp.listenerMetadata: needs listenerPath'],
    ];
    for (const [profile, message] of cases) {
      const b = bundle(['/bin/true'], profile);
      const id = newId('notify-refuse');
      const r = oci('create', '--bundle', b.dir, id);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(message);
      h.expectNoLeaks(id, b);
    }
  });

  it('a listenerPath without notify rules is ignored', () => {
    const b = bundle(['/bin/sh', '-c', 'mkdir /tmp/x && echo made'], notifyProfile({ socket: path.join(work, 'absent.sock') }, { syscalls: [] }));
    const id = newId('notify-unused');
    const r = oci('run', '--bundle', b.dir, id);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('made\n');
    h.expectNoLeaks(id, b);
  });
});
