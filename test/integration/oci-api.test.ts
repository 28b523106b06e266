// The typed runtime API in-process: console socket, exec, and 100 create/start/kill/delete cycles
// leaving mounts, cgroups, processes and our own fds as they were.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tty from 'node:tty';
import { Runtime, ContainerError } from '../../src/runtime';
import { native } from '../../src/native';
import { makeBundle, uniqueId, cgroupDirsContaining, type Bundle, type BundleOptions } from '../setup/bundle';
import { mountsContaining, processesContaining, tempDir, removeTree } from '../setup/rootfs';

const root = `/run/hull-oci-test-api-${process.pid}`;
let work: string;
const warnings: string[] = [];
const rt = new Runtime({ root, onWarning: (m) => warnings.push(m) });
const bundles: Bundle[] = [];

function bundle(args: string[], edit?: BundleOptions['edit']): Bundle {
  const b = makeBundle({ args, edit });
  bundles.push(b);
  return b;
}

function openFds(): string[] {
  return fs.readdirSync('/proc/self/fd').sort();
}

async function waitStopped(id: string): Promise<void> {
  for (let i = 0; i < 1000 && rt.state(id).status !== 'stopped'; i++) await new Promise((r) => setTimeout(r, 5));
  expect(rt.state(id).status).toBe('stopped');
}

beforeAll(() => {
  work = tempDir('hull-oci-api-');
});
afterAll(async () => {
  for (const id of rt.list().map((c) => c.id)) await rt.delete(id, { force: true });
  for (const b of bundles) b.cleanup();
  removeTree(work);
  fs.rmSync(root, { recursive: true, force: true });
});

describe('runtime API', () => {
  it('sends the pty master over --console-socket', async () => {
    const b = bundle(['/bin/sh', '-c', 'echo tty=$(tty); sleep 1000'], (s) => (s.process!.terminal = true));
    const id = uniqueId('console');
    const socketPath = path.join(work, 'console.sock');
    const received = native().receiveFdOnce(socketPath, 30_000);
    await rt.create({ id, bundle: b.dir, consoleSocket: socketPath, stdio: ['ignore', 'ignore', 'ignore'] });
    const { data, fds } = await received;
    expect(fds.length).toBe(1);
    expect(data.toString()).toMatch(/^\/dev\/pts\/\d+/);
    await rt.start(id);
    const stream = new tty.ReadStream(fds[0]);
    let output = '';
    await new Promise<void>((resolve) => {
      stream.on('data', (chunk) => {
        output += chunk.toString();
        if (output.includes('\n')) resolve();
      });
    });
    stream.destroy();
    expect(output).toMatch(/tty=\/dev\/pts\/\d+/);
    await rt.delete(id, { force: true });
    expect(mountsContaining(id)).toEqual([]);
  });

  it('detached with a terminal: refused without a holder for the master, fine with a log file', async () => {
    const b = bundle(['/bin/sh', '-c', 'tty; echo done'], (s) => (s.process!.terminal = true));
    const refused = uniqueId('dtty-refused');
    await expect(rt.run({ id: refused, bundle: b.dir, detach: true, stdio: ['ignore', 'ignore', 'ignore'] })).rejects.toThrow(/cannot allocate tty/);
    expect(rt.list().some((c) => c.id === refused)).toBe(false);
    const id = uniqueId('dtty');
    const log = path.join(work, `${id}.log`);
    expect(await rt.run({ id, bundle: b.dir, detach: true, stdio: ['ignore', 'ignore', 'ignore'], logFile: { path: log, maxSize: 0, maxFiles: 1 } })).toBe(0);
    await waitStopped(id);
    for (let i = 0; i < 1000 && !rt.store.readExit(id); i++) await new Promise((r) => setTimeout(r, 5));
    expect(rt.store.readExit(id)).toMatchObject({ exitCode: 0, signal: 0, oomKilled: false });
    const entries = fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(entries.every((e) => e.stream === 'stdout')).toBe(true); // a terminal has one stream
    expect(entries.map((e) => e.log).join('')).toMatch(/^\/dev\/pts\/\d+\r\ndone\r\n$/);
    await rt.delete(id);
  });

  it('exec returns the exit code; kill by name; state errors', async () => {
    const b = bundle(['/bin/hull-probe', 'sleep', '1000']);
    const id = uniqueId('apiexec');
    await rt.run({ id, bundle: b.dir, detach: true, stdio: ['ignore', 'ignore', 'ignore'] });
    const out = path.join(work, 'exec.out');
    const fd = fs.openSync(out, 'w');
    const code = await rt.exec(id, { args: ['/bin/hull-probe', 'hostname'], cwd: '/', user: { uid: 0, gid: 0 }, env: ['PATH=/bin'] }, { stdio: ['ignore', fd, fd] });
    fs.closeSync(fd);
    expect(code).toBe(0);
    expect(fs.readFileSync(out, 'utf8')).toBe('hull-test\n');
    await rt.kill(id, 'SIGKILL');
    await waitStopped(id);
    await expect(rt.kill(id, 'TERM')).rejects.toThrow('container not running');
    await rt.delete(id);
    expect(() => rt.state(id)).toThrow(`container "${id}" does not exist`);
    expect(() => rt.state(id)).toThrow(ContainerError);
  });

  it('20 parallel creates of one id: exactly one wins', async () => {
    const b = bundle(['/bin/true']);
    const id = uniqueId('race');
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () => rt.create({ id, bundle: b.dir, stdio: ['ignore', 'ignore', 'ignore'] })),
    );
    expect(results.filter((r) => r.status === 'fulfilled').length).toBe(1);
    for (const r of results) if (r.status === 'rejected') expect(String(r.reason)).toContain('container with id exists');
    await rt.delete(id, { force: true });
    expect(cgroupDirsContaining(id)).toEqual([]);
  });

  it('100 create/start/kill/delete cycles leak nothing', async () => {
    const b = bundle(['/bin/hull-probe', 'sleep', '1000']);
    const prefix = uniqueId('cycle');
    const fdsBefore = openFds();
    for (let i = 0; i < 100; i++) {
      const id = `${prefix}-${i}`;
      await rt.create({ id, bundle: b.dir, stdio: ['ignore', 'ignore', 'ignore'] });
      await rt.start(id);
      await rt.kill(id, 'KILL');
      await rt.delete(id, { force: true });
    }
    // (other engineers' tests mount concurrently, so compare only mounts that could be ours)
    expect(mountsContaining(b.dir)).toEqual([]);
    expect(mountsContaining(prefix)).toEqual([]);
    expect(cgroupDirsContaining(prefix)).toEqual([]);
    expect(processesContaining(b.dir)).toEqual([]);
    expect(openFds()).toEqual(fdsBefore);
    expect(fs.readdirSync(root).filter((d) => d.startsWith(prefix))).toEqual([]);
  });
});
