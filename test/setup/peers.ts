// Peers are the other container tools the interop tests drive hull through (podman, dockerd, runc,
// skopeo, a registry). hull never needs them at run time. Rules (docs/testing.md):
//  - under CI=true a missing peer is an error: CI installs them all (.ci/run);
//  - on a developer machine the suite is skipped and its title says what is missing.
// Everything a peer creates (image stores, daemon state, sockets, mounts) lives in a temp directory
// the helper removes, so tests never touch the machine's own podman or docker.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { describe } from 'vitest';
import { removeTree, tempDir } from './rootfs';

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

/** `file` as found on PATH, or undefined. */
export function which(file: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    const p = path.join(dir || '.', file);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

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

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (never throws on a non-zero exit; callers assert on the result). */
export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number; cwd?: string } = {}): RunResult {
  const r: SpawnSyncReturns<string> = spawnSync(cmd, args, {
    encoding: 'utf8',
    env: opts.env ?? process.env,
    input: opts.input,
    cwd: opts.cwd,
    timeout: opts.timeoutMs ?? 60_000,
    killSignal: 'SIGKILL',
  });
  // Spawn failures and timeouts come back as r.error with a null status: keep them in stderr.
  if (r.error) return { status: r.status, stdout: r.stdout ?? '', stderr: `${r.stderr ?? ''}\n${cmd}: ${r.error.message}` };
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** A one-line description of a failed command for assertion messages. */
export function describeRun(cmd: string, args: string[], r: RunResult): string {
  return `${cmd} ${args.join(' ')} -> exit ${r.status}\nstdout: ${r.stdout.trim()}\nstderr: ${r.stderr.trim()}`;
}

/** Mount points under `dir` in this mount namespace, deepest first. */
function mountsUnder(dir: string): string[] {
  const prefix = dir.endsWith('/') ? dir : dir + '/';
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((mp): mp is string => !!mp && (mp === dir || mp.startsWith(prefix)))
    .map((mp) => mp.replace(/\\040/g, ' '))
    .sort((a, b) => b.length - a.length);
}

/** Lazily unmounts everything under `dir`, then removes it. */
export function unmountAndRemove(dir: string): void {
  for (const mp of mountsUnder(dir)) spawnSync('umount', ['-l', mp]);
  removeTree(dir);
}

/** Pids whose command line mentions `needle` (the daemons we started, found by their temp dir). */
function pidsMentioning(needle: string): number[] {
  const pids: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(needle)) pids.push(Number(e));
    } catch {
      /* exited */
    }
  }
  return pids;
}

/**
 * overlay on overlay does not work (a CI runner whose /tmp is a container's overlay root): fall
 * back to the slow but universal vfs driver there.
 */
function overlayWorksUnder(dir: string): boolean {
  const r = spawnSync('stat', ['-f', '-c', '%T', dir], { encoding: 'utf8' });
  return !/overlay/.test(r.stdout ?? '');
}

/**
 * SIGKILLs processes whose cgroup path names one of `ids` (64-hex container ids: podman and
 * docker put them in the cgroup path). Catches containers a broken runtime left running.
 */
function killContainersByCgroup(ids: string[]): void {
  const wanted = ids.filter((id) => /^[0-9a-f]{64}$/.test(id));
  if (wanted.length === 0) return;
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const cg = fs.readFileSync(`/proc/${e}/cgroup`, 'utf8');
      if (wanted.some((id) => cg.includes(id))) process.kill(Number(e), 'SIGKILL');
    } catch {
      /* exited */
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// podman

export interface PodmanEnv {
  dir: string;
  /** Environment for podman: CONTAINERS_CONF and CONTAINERS_STORAGE_CONF point into `dir`. */
  env: NodeJS.ProcessEnv;
  /** `podman --runtime <runtime> ARGS...` in this environment. */
  podman(args: string[], opts?: { timeoutMs?: number; input?: string }): RunResult;
  /** Removes containers, images, mounts and the directory. */
  cleanup(): void;
}

/**
 * A private podman: its own image store, run root and tmp dir under a temp directory.
 * containers.conf: no default ulimits (podman's default nofile/nproc hard limits exceed what this
 * machine grants without CAP_SYS_RESOURCE), cgroupfs (no systemd here), file events (no journald),
 * and no network namespace setup (so tests never add bridges or firewall rules to the host).
 */
export function createPodmanEnv(opts: { runtime?: string } = {}): PodmanEnv {
  const runtime = opts.runtime ?? interopRuntime;
  const dir = tempDir('hull-podman-');
  for (const d of ['root', 'runroot', 'tmp']) fs.mkdirSync(path.join(dir, d));
  fs.writeFileSync(
    path.join(dir, 'containers.conf'),
    [
      '[containers]',
      'default_ulimits = []',
      'netns = "none"',
      '[engine]',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      `events_logfile_path = "${dir}/events.log"`,
      `tmp_dir = "${dir}/tmp"`,
      `volume_path = "${dir}/root/volumes"`,
      '',
    ].join('\n'),
  );
  fs.writeFileSync(
    path.join(dir, 'storage.conf'),
    ['[storage]', `driver = "${overlayWorksUnder(dir) ? 'overlay' : 'vfs'}"`, `graphroot = "${dir}/root"`, `runroot = "${dir}/runroot"`, ''].join('\n'),
  );
  const env = {
    ...process.env,
    CONTAINERS_CONF: path.join(dir, 'containers.conf'),
    CONTAINERS_STORAGE_CONF: path.join(dir, 'storage.conf'),
  };
  // 45 s per call: a runtime that hangs fails the call, leaving room for the debug rerun.
  const podman = (args: string[], o: { timeoutMs?: number; input?: string } = {}) =>
    run('podman', ['--runtime', runtime, ...args], { env, timeoutMs: 45_000, ...o });
  return {
    dir,
    env,
    podman,
    cleanup() {
      const ids = podman(['ps', '--all', '--quiet', '--no-trunc']).stdout.split('\n').filter(Boolean);
      podman(['rm', '--all', '--force', '--time', '0']);
      killContainersByCgroup(ids);
      podman(['rmi', '--all', '--force']);
      for (const pid of pidsMentioning(dir)) {
        try {
          process.kill(pid, 'SIGKILL'); // a stray conmon of ours
        } catch {
          /* gone */
        }
      }
      unmountAndRemove(dir);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// dockerd

export interface Dockerd {
  dir: string;
  socket: string;
  /** Environment for the docker CLI (DOCKER_HOST points at this daemon; private config dir). */
  env: NodeJS.ProcessEnv;
  docker(args: string[], opts?: { timeoutMs?: number; input?: string }): RunResult;
  /** dockerd's own log so far (for assertion messages). */
  log(): string;
}

interface DockerdInternal extends Dockerd {
  child: ChildProcess;
  createdDirs: string[];
}

/** GET `urlPath` over a unix socket; resolves with the status code (or 0 on connection error). */
function getOverUnix(socketPath: string, urlPath: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ socketPath, path: urlPath, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

/**
 * Starts a private dockerd (and the containerd it manages) with all state under a temp dir and
 * `hull` registered as an extra runtime. Networking stays off (no bridge, no iptables, no
 * forwarding changes) so the host's network is untouched. Stop it with stopDockerd().
 */
export async function startDockerd(opts: { runtimes?: Record<string, string> } = {}): Promise<Dockerd> {
  const runtimes = opts.runtimes ?? { hull: interopRuntime };
  const dir = tempDir('hull-dockerd-');
  const socket = path.join(dir, 'docker.sock');
  // containerd 1.6 keeps shim sockets in /run/containerd/s and dockerd makes /run/docker/plugins
  // whatever the exec root: remember which we create so stopDockerd removes only those.
  const createdDirs = ['/run/containerd/s', '/run/containerd', '/run/docker/plugins', '/run/docker'].filter(
    (d) => !fs.existsSync(d),
  );
  const ns = path.basename(dir).toLowerCase().replace(/[^a-z0-9]/g, '');
  const args = [
    '--data-root', path.join(dir, 'data'),
    '--exec-root', path.join(dir, 'exec'),
    '-H', `unix://${socket}`,
    '--pidfile', path.join(dir, 'docker.pid'),
    '--storage-driver', overlayWorksUnder(dir) ? 'overlay2' : 'vfs',
    '--bridge', 'none',
    '--iptables=false',
    '--ip6tables=false',
    '--ip-forward=false',
    '--ip-masq=false',
    '--containerd-namespace', ns,
    '--containerd-plugins-namespace', `${ns}-plugins`,
    ...Object.entries(runtimes).flatMap(([name, p]) => ['--add-runtime', `${name}=${p}`]),
  ];
  const logFd = fs.openSync(path.join(dir, 'dockerd.log'), 'a');
  const child = spawn('dockerd', args, { stdio: ['ignore', logFd, logFd] });
  fs.closeSync(logFd);
  fs.mkdirSync(path.join(dir, 'cli-config'));
  const env = { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: path.join(dir, 'cli-config') };
  const d: DockerdInternal = {
    dir,
    socket,
    env,
    child,
    createdDirs,
    docker: (a, o = {}) => run('docker', a, { env, timeoutMs: 45_000, ...o }),
    log: () => {
      try {
        return fs.readFileSync(path.join(dir, 'dockerd.log'), 'utf8');
      } catch {
        return '';
      }
    },
  };
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) break;
    if (fs.existsSync(socket) && (await getOverUnix(socket, '/_ping')) === 200) return d;
    await sleep(200);
  }
  const log = d.log();
  await stopDockerd(d);
  throw new Error(`dockerd did not come up (exit ${child.exitCode ?? child.signalCode ?? 'none'}); log tail:\n${log.slice(-3000)}`);
}

/** Stops dockerd and its containerd, kills leftovers, unmounts and removes all its state. */
export async function stopDockerd(d: Dockerd): Promise<void> {
  const { child, dir, createdDirs } = d as DockerdInternal;
  let ids: string[] = [];
  if (child.exitCode === null && child.signalCode === null) {
    ids = d.docker(['ps', '--all', '--quiet', '--no-trunc'], { timeoutMs: 10_000 }).stdout.split('\n').filter(Boolean);
    if (ids.length) d.docker(['rm', '--force', ...ids], { timeoutMs: 30_000 });
    child.kill('SIGTERM');
    if (!(await waitExit(child, 30_000))) {
      child.kill('SIGKILL');
      await waitExit(child, 5_000);
    }
  }
  killContainersByCgroup(ids);
  // containerd, shims or containers left behind mention our temp dir on their command line.
  for (let i = 0; i < 3; i++) {
    const pids = pidsMentioning(dir);
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await sleep(200);
  }
  unmountAndRemove(dir);
  for (const created of createdDirs) {
    try {
      fs.rmdirSync(created); // only if still empty
    } catch {
      /* in use or not empty: not ours alone */
    }
  }
}
