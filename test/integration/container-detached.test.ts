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
import { testImages } from '../setup/images';
import { mountsContaining, processesContaining, removeTree, tempDir } from '../setup/rootfs';

const HULL = path.resolve(__dirname, '../../bin/hull');
const IMAGE = 'localhost/hull-test:latest';
let root: string;
let tmp: string;

function hull(args: string[], opts: { input?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [HULL, ...args], { env: { ...process.env, HULL_ROOT: root } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(opts.input ?? '');
  });
}

const unique = (prefix: string) => `${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
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
