// bin/hull driven as a CLI from integration tests: each test file keeps a private state root (a
// temp dir with the shared test image loaded) and removes it, checking nothing leaked, at the end.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { expect } from 'vitest';
import { applyLayer } from '../../src/image/apply';
import { loadArchive } from '../../src/image/archive';
import { ImageStore, type ApplyLayerFn } from '../../src/image/store';
import { testImages, type TestImages } from './images';
import { mountsContaining, processesContaining, removeTree } from './rootfs';

/** Absolute path of the CLI under test. */
export const HULL = path.resolve(__dirname, '../../bin/hull');

export interface HullResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * `bin/hull ARGS...` with `env` on top of this process's environment (HULL_ROOT, ...). With
 * `input`, stdin is a pipe that gets it and then EOF; without, /dev/null.
 */
export function runHull(args: string[], env: NodeJS.ProcessEnv, opts: { input?: string } = {}): Promise<HullResult> {
  return new Promise((resolve) => {
    const stdin = opts.input === undefined ? 'ignore' : 'pipe';
    const child = spawn(process.execPath, [HULL, ...args], { env: { ...process.env, ...env }, stdio: [stdin, 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin?.end(opts.input);
  });
}

/** Loads the shared test image (docker archive) into the image store at `root`. */
export async function loadTestImage(root: string): Promise<TestImages> {
  const images = await testImages();
  await loadArchive(new ImageStore(root, { applyLayer: applyLayer as ApplyLayerFn }), images.dockerArchive);
  return images;
}

/** Force-removes every container (and with `volumes`, every volume) of the hull that `hull` runs. */
export async function removeAllContainers(hull: (args: string[]) => Promise<HullResult>, opts: { volumes?: boolean } = {}): Promise<void> {
  const ids = (await hull(['ps', '-a', '-q', '--no-trunc'])).stdout.split('\n').filter(Boolean);
  if (ids.length) await hull(['rm', '-f', '-v', ...ids]);
  if (opts.volumes) {
    for (const v of (await hull(['volume', 'ls', '-q'])).stdout.split('\n').filter(Boolean)) await hull(['volume', 'rm', '-f', v]);
  }
}

/**
 * The end of a file's private state root: removes its containers (and volumes), then `tmp`, and
 * expects no mounts or processes were left mentioning `root`.
 */
export async function cleanupHullRoot(
  hull: (args: string[]) => Promise<HullResult>,
  root: string,
  tmp: string,
  opts: { volumes?: boolean } = {},
): Promise<void> {
  await removeAllContainers(hull, opts);
  const leakedMounts = mountsContaining(root);
  const leakedProcs = processesContaining(root);
  removeTree(tmp);
  expect(leakedMounts).toEqual([]);
  expect(leakedProcs).toEqual([]);
}
