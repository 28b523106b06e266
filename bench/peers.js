// Private podman and dockerd for benches, in plain JS (the benches have no build step). The same
// set-up as test/setup/peers.ts, minus vitest: everything either tool creates (image stores,
// daemon state, sockets, mounts) lives in a temp directory that cleanup()/stop() removes, so a
// bench never touches the machine's own podman or docker, nor its network.
// Unlike the tests, the benches run podman and docker with their own default OCI runtime: they
// are what hull is compared against, not harnesses for hull-oci.
'use strict';
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const { benchEnv, tempDir, which } = require('./lib');

/** Runs a command to completion; never throws on a non-zero exit. */
function run(cmd, args, { env, timeoutMs = 60_000, input } = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: env ?? benchEnv(), input, timeout: timeoutMs, killSignal: 'SIGKILL' });
  if (r.error) return { status: r.status, stdout: r.stdout ?? '', stderr: `${r.stderr ?? ''}\n${cmd}: ${r.error.message}` };
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** Like run(), but throws with the output when the command fails. */
function check(cmd, args, opts) {
  const r = run(cmd, args, opts);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}\n${(r.stderr || r.stdout).trim().slice(-2000)}`);
  return r.stdout;
}

/** Mount points under `dir` in this mount namespace, deepest first. */
function mountsUnder(dir) {
  const prefix = dir.endsWith('/') ? dir : dir + '/';
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((mp) => !!mp && (mp === dir || mp.startsWith(prefix)))
    .map((mp) => mp.replace(/\\040/g, ' '))
    .sort((a, b) => b.length - a.length);
}

/** Lazily unmounts everything under `dir`, then removes it. */
function unmountAndRemove(dir) {
  for (const mp of mountsUnder(dir)) spawnSync('umount', ['-l', mp]);
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Pids whose command line mentions `needle` (the daemons we started, found by their temp dir). */
function pidsMentioning(needle) {
  const pids = [];
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

function killPids(pids) {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

/** SIGKILLs processes whose cgroup path names one of `ids` (64-hex container ids). */
function killContainersByCgroup(ids) {
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

/** overlay on overlay does not work: use vfs when the temp dir is itself on overlay. */
function overlayWorksUnder(dir) {
  const r = spawnSync('stat', ['-f', '-c', '%T', dir], { encoding: 'utf8' });
  return !/overlay/.test(r.stdout ?? '');
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function waitExit(child, ms) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/** The executables of each peer that are not on PATH. */
const missing = {
  podman: () => ['podman', 'conmon'].filter((x) => !which(x)),
  docker: () => ['dockerd', 'docker', 'containerd', 'containerd-shim-runc-v2'].filter((x) => !which(x)),
};

// ---------------------------------------------------------------------------------------------
// podman

/**
 * A private podman: its own image store, run root and tmp dir under a temp directory.
 * containers.conf: no default ulimits (podman's default nofile/nproc hard limits exceed what a
 * machine without CAP_SYS_RESOURCE grants), cgroupfs (no systemd), file events (no journald),
 * no network namespace setup. Returns { dir, env, args(...), podman(args), cleanup() }; args()
 * gives the argv to time (the environment is `env`).
 */
function createPodmanEnv() {
  const dir = tempDir('hull-bench-podman-');
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
    ...benchEnv(),
    CONTAINERS_CONF: path.join(dir, 'containers.conf'),
    CONTAINERS_STORAGE_CONF: path.join(dir, 'storage.conf'),
  };
  const podman = (args, o = {}) => run('podman', args, { env, timeoutMs: 45_000, ...o });
  return {
    dir,
    env,
    podman,
    check: (args, o = {}) => check('podman', args, { env, timeoutMs: 45_000, ...o }),
    cleanup() {
      const ids = podman(['ps', '--all', '--quiet', '--no-trunc']).stdout.split('\n').filter(Boolean);
      podman(['rm', '--all', '--force', '--time', '0']);
      killContainersByCgroup(ids);
      podman(['rmi', '--all', '--force']);
      killPids(pidsMentioning(dir)); // a stray conmon of ours
      unmountAndRemove(dir);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// dockerd

/** GET `urlPath` over a unix socket; resolves with the status code (or 0 on connection error). */
function getOverUnix(socketPath, urlPath) {
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
 * Starts a private dockerd (and the containerd it manages) with all state under a temp dir.
 * Networking stays off (no bridge, no iptables, no forwarding changes). Stop it with stop().
 * Returns { dir, socket, env, docker(args), check(args), log(), stop() }.
 */
async function startDockerd() {
  const dir = tempDir('hull-bench-dockerd-');
  const socket = path.join(dir, 'docker.sock');
  // containerd 1.6 keeps shim sockets in /run/containerd/s and dockerd makes /run/docker/plugins
  // whatever the exec root: remember which we create so stop() removes only those.
  const createdDirs = ['/run/containerd/s', '/run/containerd', '/run/docker/plugins', '/run/docker'].filter((d) => !fs.existsSync(d));
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
  ];
  const logFd = fs.openSync(path.join(dir, 'dockerd.log'), 'a');
  const child = spawn('dockerd', args, { stdio: ['ignore', logFd, logFd], env: benchEnv() });
  fs.closeSync(logFd);
  fs.mkdirSync(path.join(dir, 'cli-config'));
  const env = { ...benchEnv(), DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: path.join(dir, 'cli-config') };
  const docker = (a, o = {}) => run('docker', a, { env, timeoutMs: 45_000, ...o });
  const log = () => {
    try {
      return fs.readFileSync(path.join(dir, 'dockerd.log'), 'utf8');
    } catch {
      return '';
    }
  };
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    let ids = [];
    if (child.exitCode === null && child.signalCode === null) {
      ids = docker(['ps', '--all', '--quiet', '--no-trunc'], { timeoutMs: 10_000 }).stdout.split('\n').filter(Boolean);
      if (ids.length) docker(['rm', '--force', ...ids], { timeoutMs: 30_000 });
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
      killPids(pids);
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
  };
  const d = { dir, socket, env, docker, check: (a, o = {}) => check('docker', a, { env, timeoutMs: 45_000, ...o }), log, stop };
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) break;
    if (fs.existsSync(socket) && (await getOverUnix(socket, '/_ping')) === 200) return d;
    await sleep(200);
  }
  const tail = log().slice(-3000);
  await stop();
  throw new Error(`dockerd did not come up (exit ${child.exitCode ?? child.signalCode ?? 'none'}); log tail:\n${tail}`);
}

module.exports = { runCommand: run, check, missing, createPodmanEnv, startDockerd, unmountAndRemove, pidsMentioning };

// bench/run.js lists every bench/*.js as a bench: say what this file is if someone runs it.
module.exports.description = '(not a bench: private podman/dockerd helpers for the container bench)';
module.exports.run = async () => {
  throw new Error('bench/peers.js is a helper module, not a bench: try `npm run bench -- container`');
};
