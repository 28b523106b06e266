// Detached containers and their monitor: `run -d --rm` removed by the monitor's exit command as
// soon as it exits (no further hull command needed), `start -a` of a `--rm` container, and races
// between the exit command, the lazy path and `rm -f`. Through bin/hull on the shared test image.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyLayer } from '../../src/image/apply';
import { loadArchive } from '../../src/image/archive';
import { ImageStore, type ApplyLayerFn } from '../../src/image/store';
import { HULL, runHull } from '../setup/hull-cli';
import { testImages } from '../setup/images';
import { mountsContaining, processesContaining, removeTree, tempDir } from '../setup/rootfs';

const IMAGE = 'localhost/hull-test:latest';
let root: string;
let tmp: string;

const hull = (args: string[], opts: { input?: string } = {}) => runHull(args, { HULL_ROOT: root }, { input: opts.input ?? '' });

const unique = (prefix: string) => `${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

/** `hull attach NAME` left running: write to its stdin, read what it printed so far, await its exit code. */
function attachLive(name: string) {
  const child = spawn(process.execPath, [HULL, 'attach', name], { env: { ...process.env, HULL_ROOT: root } });
  const live = { stdin: child.stdin, stdout: '', stderr: '', exit: new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1))) };
  child.stdout.on('data', (d) => (live.stdout += d));
  child.stderr.on('data', (d) => (live.stderr += d));
  return live;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `done` until it holds (true) or `ms` pass (false): a bound, not a timing assertion. */
async function eventually(done: () => boolean, ms = 20_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (done()) return true;
    await sleep(50);
  }
  return done();
}

/** Cgroup directories named after the container id, in every hierarchy. */
function cgroupsOf(id: string): string[] {
  const out = spawnSync('find', ['/sys/fs/cgroup', '-maxdepth', '4', '-type', 'd', '-name', `*${id}*`], { encoding: 'utf8' });
  return out.stdout.split('\n').filter(Boolean);
}

function containerDirs(): string[] {
  try {
    return fs.readdirSync(path.join(root, 'containers')).filter((n) => /^[a-f0-9]{64}$/.test(n));
  } catch {
    return [];
  }
}

/** Nothing of `id` is left: directory, runtime state, mounts, cgroups, processes. */
function goneEntirely(id: string): boolean {
  return !fs.existsSync(path.join(root, 'containers', id)) && !fs.existsSync(path.join(root, 'runtime', id)) &&
    mountsContaining(id).length === 0 && cgroupsOf(id).length === 0 && processesContaining(id).length === 0;
}

beforeAll(async () => {
  tmp = tempDir('hull-container-detached-');
  root = path.join(tmp, 'root');
  const images = await testImages();
  await loadArchive(new ImageStore(root, { applyLayer: applyLayer as ApplyLayerFn }), images.dockerArchive);
});

afterAll(async () => {
  if (!root) return;
  const ids = (await hull(['ps', '-a', '-q', '--no-trunc'])).stdout.split('\n').filter(Boolean);
  if (ids.length) await hull(['rm', '-f', '-v', ...ids]);
  // Exit commands still running (a test that failed half-way) must not outlive the root.
  await eventually(() => processesContaining(root).length === 0, 10_000);
  const leakedMounts = mountsContaining(root);
  const leakedProcs = processesContaining(root);
  removeTree(tmp);
  expect(leakedMounts).toEqual([]);
  expect(leakedProcs).toEqual([]);
});

describe('run -d --rm', () => {
  it('is removed by its monitor as soon as it exits, without another hull command', async () => {
    const run = await hull(['run', '-d', '--rm', IMAGE, 'sh', '-c', 'sleep 0.3']);
    expect(run.code).toBe(0);
    const id = run.stdout.trim();
    expect(id).toMatch(/^[a-f0-9]{64}$/);
    expect(fs.existsSync(path.join(root, 'containers', id))).toBe(true);
    // No hull command from here on: only the monitor's exit command can remove it.
    expect(await eventually(() => goneEntirely(id))).toBe(true);
    expect(fs.readdirSync(path.join(root, 'containers', '.names'))).toEqual([]);
  });

  it('takes its anonymous volumes with it', async () => {
    const run = await hull(['run', '-d', '--rm', '-v', '/data', IMAGE, 'sh', '-c', 'echo x > /data/f']);
    const id = run.stdout.trim();
    expect(run.code).toBe(0);
    expect(await eventually(() => goneEntirely(id))).toBe(true);
    expect((await hull(['volume', 'ls', '-q'])).stdout).toBe('');
  });

  it('wait still gives the exit code of a container its monitor removes', async () => {
    const run = await hull(['run', '-d', '--rm', IMAGE, 'sh', '-c', 'sleep 0.5; exit 4']);
    const id = run.stdout.trim();
    expect(await hull(['wait', id])).toMatchObject({ code: 0, stdout: '4\n' });
    expect(await eventually(() => goneEntirely(id))).toBe(true);
  });

  it('races between the exit command, the lazy path and rm -f leave nothing and no errors', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const run = await hull(['run', '-d', '--rm', IMAGE, 'sh', '-c', `sleep 0.${i + 2}`]);
      expect(run.code).toBe(0);
      ids.push(run.stdout.trim());
    }
    // While they exit: listings (lazy reaping) and rm -f of two of them, all at once.
    const racing = await Promise.all([
      hull(['ps', '-a']), hull(['ps', '-a']),
      sleep(300).then(() => hull(['rm', '-f', ids[1]])),
      sleep(400).then(() => hull(['rm', '-f', ids[3]])),
      sleep(350).then(() => hull(['ps', '-a', '-q'])),
    ]);
    for (const r of racing) expect(r.stderr.replace(/Error response from daemon: No such container: \S+\n/g, '')).toBe('');
    for (const id of ids) expect(await eventually(() => goneEntirely(id))).toBe(true);
    expect(containerDirs()).toEqual([]);
  });

  it('a detached container without --rm stays (exited) after its monitor ends', async () => {
    const name = unique('keep');
    expect((await hull(['run', '-d', '--name', name, IMAGE, 'true'])).code).toBe(0);
    expect(await hull(['wait', name])).toMatchObject({ code: 0, stdout: '0\n' });
    await sleep(300);
    expect((await hull(['ps', '-a', '--filter', `name=${name}`, '--format', '{{.Status}}'])).stdout).toMatch(/^Exited \(0\)/);
    expect((await hull(['rm', name])).code).toBe(0);
  });
});

describe('start -a of a --rm container', () => {
  it('removes it once it has exited, and passes its exit code', async () => {
    const name = unique('startrm');
    const created = await hull(['create', '--rm', '--name', name, IMAGE, 'sh', '-c', 'echo out; exit 6']);
    expect(created.code).toBe(0);
    const id = created.stdout.trim();
    const started = await hull(['start', '-a', name]);
    expect(started).toMatchObject({ code: 6, stdout: 'out\n' });
    expect(goneEntirely(id)).toBe(true);
    expect((await hull(['inspect', name])).code).not.toBe(0);
  });

  it('start (detached) of a created --rm container removes it when it exits', async () => {
    const created = await hull(['create', '--rm', IMAGE, 'sh', '-c', 'sleep 0.2']);
    const id = created.stdout.trim();
    expect((await hull(['start', id])).code).toBe(0);
    expect(await eventually(() => goneEntirely(id))).toBe(true);
  });
});

describe('attach to a detached -t container', () => {
  it('relays input and output through the monitor and exits with the container', async () => {
    const name = unique('att');
    const run = await hull(['run', '-d', '-t', '--name', name, IMAGE, 'sh', '-c', 'read x; echo got:$x; exit 3']);
    expect(run.code).toBe(0);
    const attached = await hull(['attach', name], { input: 'hello\n' });
    expect(attached.code).toBe(3);
    expect(attached.stdout).toContain('got:hello\r\n');
    // The monitor still logged what the terminal showed.
    expect((await hull(['logs', name])).stdout).toContain('got:hello');
    expect(await hull(['wait', name])).toMatchObject({ stdout: '3\n' });
    expect((await hull(['rm', name])).code).toBe(0);
  });

  it('detaches on ctrl-p ctrl-q and leaves the container running; start -a attaches again', async () => {
    const name = unique('attdetach');
    const script = 'while read x; do [ "$x" = stop ] && exit 9; echo "seen:$x"; done';
    expect((await hull(['run', '-d', '-t', '--name', name, IMAGE, 'sh', '-c', script])).code).toBe(0);
    // ctrl-p then something else is input (held back, then passed on); ctrl-p ctrl-q detaches.
    const first = attachLive(name);
    first.stdin.write('one\n\x10x\n');
    expect(await eventually(() => first.stdout.includes('seen:\x10x\r\n'))).toBe(true);
    first.stdin.write('\x10\x11');
    expect(await first.exit).toBe(1); // docker: "read escape sequence", 1
    expect(first.stderr).toMatch(/read escape sequence/);
    expect(first.stdout).toContain('seen:one\r\n');
    expect((await hull(['inspect', '-f', '{{.State.Running}}', name])).stdout).toBe('true\n');
    // Two clients at once both see the output; --no-stdin sends nothing.
    const watcher = hull(['attach', '--no-stdin', name]);
    await sleep(500);
    const second = await hull(['start', '-a', '-i', name], { input: 'two\nstop\n' });
    expect(second.code).toBe(9);
    expect(second.stdout).toContain('seen:two\r\n');
    const watched = await watcher;
    expect(watched.code).toBe(9);
    expect(watched.stdout).toContain('seen:two\r\n');
    expect((await hull(['logs', name])).stdout).toMatch(/seen:one[\s\S]*seen:\x10x[\s\S]*seen:two/);
    expect((await hull(['rm', name])).code).toBe(0);
  });

  it('passes the caller terminal size to the pty', async () => {
    const name = unique('attsize');
    expect((await hull(['run', '-d', '-t', '--name', name, IMAGE, 'sh', '-c', 'read x; stty size'])).code).toBe(0);
    const inner = `stty rows 33 cols 101; HULL_ROOT=${root} ${process.execPath} ${HULL} attach ${name}`;
    const r = spawnSync('script', ['-qec', inner, '/dev/null'], { encoding: 'utf8', input: 'x\n', timeout: 30_000 });
    expect(r.stdout).toContain('33 101');
    expect(await hull(['wait', name])).toMatchObject({ stdout: '0\n' });
    expect((await hull(['rm', name])).code).toBe(0);
  });

  it('refuses stopped containers', async () => {
    const stopped = unique('attstopped');
    expect((await hull(['run', '-d', '-t', '--name', stopped, IMAGE, 'true'])).code).toBe(0);
    await hull(['wait', stopped]);
    expect((await hull(['attach', stopped])).stderr).toMatch(/cannot attach to a stopped container/);
    expect((await hull(['rm', stopped])).code).toBe(0);
  });
});

describe('attach to a detached container without -t', () => {
  it('writes its stdout to ours and its stderr to ours and exits with the container', async () => {
    const name = unique('attpipe');
    // The sleep leaves the attach time to connect before the late lines (a wider bound than it needs).
    const script = 'echo out; echo err >&2; sleep 2; echo late; echo late-err >&2; exit 4';
    expect((await hull(['run', '-d', '--name', name, IMAGE, 'sh', '-c', script])).code).toBe(0);
    const attached = await hull(['attach', name]);
    expect(attached.code).toBe(4);
    expect(attached.stdout).toContain('late\n');
    expect(attached.stdout).not.toContain('late-err');
    expect(attached.stderr).toContain('late-err\n');
    // The log still has both streams, all of them.
    const logs = await hull(['logs', name]);
    expect(logs.stdout).toBe('out\nlate\n');
    expect(logs.stderr).toBe('err\nlate-err\n');
    expect((await hull(['rm', name])).code).toBe(0);
  });

  it('-d -i: forwards our input to the container stdin, which stays open after we leave', async () => {
    const name = unique('attstdin');
    const script = 'read x; echo got $x; read y; echo then $y';
    expect((await hull(['run', '-d', '-i', '--name', name, IMAGE, 'sh', '-c', script])).code).toBe(0);
    // Our stdin ends after "hi": the container's does not (docker: no StdinOnce for -d -i). Detach.
    const first = attachLive(name);
    first.stdin.write('hi\n');
    expect(await eventually(() => first.stdout.includes('got hi\n'))).toBe(true);
    first.stdin.write('\x10\x11');
    expect(await first.exit).toBe(1); // docker: "read escape sequence", 1
    expect(first.stderr).toMatch(/read escape sequence/);
    expect((await hull(['inspect', '-f', '{{.State.Running}}', name])).stdout).toBe('true\n');
    const second = await hull(['attach', name], { input: 'there\n' });
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('then there\n');
    expect((await hull(['rm', name])).code).toBe(0);
  });

  it('without -i the container reads nothing from us; --no-stdin watches', async () => {
    const name = unique('attnoin');
    expect((await hull(['run', '-d', '--name', name, IMAGE, 'sh', '-c', 'read x; echo "read:$?:$x"; sleep 2; echo done'])).code).toBe(0);
    const attached = await hull(['attach', '--no-stdin', name], { input: 'ignored\n' });
    expect(attached.code).toBe(0);
    expect(attached.stdout).toContain('done\n');
    expect((await hull(['logs', name])).stdout).toBe('read:1:\ndone\n');
    expect((await hull(['rm', name])).code).toBe(0);
  });
});
