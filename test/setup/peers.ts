// Peers are the other container tools the interop tests drive hull through (podman, dockerd, runc,
// skopeo, a registry). hull never needs them at run time. Rules (docs/testing.md):
//  - under CI=true a missing peer is an error: CI installs them all (.ci/run);
//  - on a developer machine the suite is skipped and its title says what is missing.
// Everything a peer creates (image stores, daemon state, sockets, mounts) lives in a temp directory
// the helper removes, so tests never touch the machine's own podman or docker.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe } from 'vitest';
import * as benchPeers from '../../bench/peers';
import type { RunOptions } from '../../bench/peers';

/** Absolute path of the runtime under test. */
export const HULL_OCI = path.resolve(__dirname, '..', '..', 'bin', 'hull-oci');

/**
 * The OCI runtime the interop tests hand to podman/dockerd. Always bin/hull-oci, except that
 * HULL_INTEROP_RUNTIME=/usr/sbin/runc checks the harness itself against runc (debugging only).
 */
export const interopRuntime = process.env.HULL_INTEROP_RUNTIME || HULL_OCI;

/** Each peer and the executables it needs (apt packages in parentheses: see .ci/run). */
const PEERS = {
  podman: ['podman', 'conmon'], // podman
  docker: ['dockerd', 'docker', 'containerd', 'containerd-shim-runc-v2'], // docker.io
  runc: ['runc'], // runc
  skopeo: ['skopeo'], // skopeo
  umoci: ['umoci'], // umoci
  registry: ['docker-registry'], // docker-registry
  htpasswd: ['htpasswd'], // apache2-utils
} as const;
export type Peer = keyof typeof PEERS;

export const isCI = () => /^(1|true|yes)$/i.test(process.env.CI ?? '');

/** `file` as found on PATH, or undefined (bench/lib.js: one lookup for benches and tests). */
export const which: (file: string) => string | undefined = require('../../bench/lib').which;

/** The executables missing for `peers` (empty when all are installed). */
export function missingPeers(...peers: Peer[]): string[] {
  return peers.flatMap((p) => PEERS[p].filter((exe) => !which(exe)));
}

/**
 * True when every peer is installed. Missing under CI: throws (CI must never skip). Missing
 * locally: returns false and says what to install.
 */
export function requirePeer(...peers: Peer[]): boolean {
  const missing = missingPeers(...peers);
  if (missing.length === 0) return true;
  const msg = `missing peer executables: ${missing.join(', ')} (apt-get install runc podman docker.io docker-registry skopeo umoci apache2-utils)`;
  if (isCI()) throw new Error(`CI=true and ${msg}`);
  console.warn(`skipping: ${msg}`);
  return false;
}

/** `describe` that runs only with the peers installed; a skipped suite's title names what's missing. */
export function describeWithPeers(peers: Peer[], title: string, fn: () => void): void {
  if (requirePeer(...peers)) describe(title, fn);
  else describe.skip(`${title} [skipped: needs ${missingPeers(...peers).join(', ')}]`, fn);
}

export type RunResult = benchPeers.RunResult;

/** Runs a command to completion (never throws on a non-zero exit; callers assert on the result). */
export function run(cmd: string, args: string[], opts: RunOptions = {}): RunResult {
  return benchPeers.runCommand(cmd, args, { ...opts, env: opts.env ?? process.env });
}

/** A one-line description of a failed command for assertion messages. */
export function describeRun(cmd: string, args: string[], r: RunResult): string {
  return `${cmd} ${args.join(' ')} -> exit ${r.status}\nstdout: ${r.stdout.trim()}\nstderr: ${r.stderr.trim()}`;
}

/** Lazily unmounts everything under `dir`, then removes it. */
export const unmountAndRemove: (dir: string) => void = benchPeers.unmountAndRemove;

// The private podman and dockerd themselves live in bench/peers.js (shared with the benches); the
// tests run them with hull-oci as the runtime, the test process's environment and hull- prefixes.

export type PodmanEnv = Omit<benchPeers.PodmanEnv, 'check'>;

/**
 * A private podman: its own image store, run root and tmp dir under a temp directory, running
 * `opts.runtime` (default interopRuntime). See createPodmanEnv in bench/peers.js.
 */
export function createPodmanEnv(opts: { runtime?: string } = {}): PodmanEnv {
  return benchPeers.createPodmanEnv({ runtime: opts.runtime ?? interopRuntime, baseEnv: process.env, prefix: 'hull-podman-' });
}

export type Dockerd = Omit<benchPeers.Dockerd, 'check' | 'stop'>;

/**
 * Starts a private dockerd (and the containerd it manages) with all state under a temp dir and
 * `hull` registered as an extra runtime. Networking stays off (no bridge, no iptables, no
 * forwarding changes) so the host's network is untouched. Stop it with stopDockerd().
 */
export async function startDockerd(opts: { runtimes?: Record<string, string> } = {}): Promise<Dockerd> {
  return benchPeers.startDockerd({ runtimes: opts.runtimes ?? { hull: interopRuntime }, baseEnv: process.env, prefix: 'hull-dockerd-' });
}

/** Stops dockerd and its containerd, kills leftovers, unmounts and removes all its state. */
export async function stopDockerd(d: Dockerd): Promise<void> {
  await (d as benchPeers.Dockerd).stop();
}
