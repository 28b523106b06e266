// Private podman and dockerd, in plain JS (the benches have no build step): the one implementation,
// used by the benches directly and by the tests through test/setup/peers.ts (which adds the vitest
// parts: skipping or failing on missing peers, hull-oci as the runtime). Everything either tool
// creates (image stores, daemon state, sockets, mounts) lives in a temp directory that
// cleanup()/stop() removes, so nothing touches the machine's own podman or docker, nor its network.
// By default (the benches) podman and docker run with their own default OCI runtime: there they
// are what hull is compared against, not harnesses for hull-oci. Types: bench/peers.d.ts.
'use strict';
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const { benchEnv, tempDir, which } = require('./lib');

/** Runs a command to completion; never throws on a non-zero exit. */
function run(cmd, args, { env, timeoutMs = 60_000, input, cwd } = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: env ?? benchEnv(), input, cwd, timeout: timeoutMs, killSignal: 'SIGKILL' });
  // Spawn failures and timeouts come back as r.error with a null status: keep them in stderr.
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

/**
 * SIGKILLs processes whose cgroup path names one of `ids` (64-hex container ids: podman and
 * docker put them in the cgroup path). Catches containers a broken runtime left running.
 */
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

/**
 * overlay on overlay does not work (a CI runner whose /tmp is a container's overlay root): fall
 * back to the slow but universal vfs driver there.
 */
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
 * no network namespace setup (so nothing adds bridges or firewall rules to the host).
 * Options: runtime (podman --runtime; default podman's own), baseEnv (default benchEnv()), prefix
 * (temp dir name). Returns { dir, env, podman(args), check(args), cleanup() }.
 */
function createPodmanEnv({ runtime, baseEnv, prefix = 'hull-bench-podman-' } = {}) {
  const dir = tempDir(prefix);
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
    ...(baseEnv ?? benchEnv()),
    CONTAINERS_CONF: path.join(dir, 'containers.conf'),
    CONTAINERS_STORAGE_CONF: path.join(dir, 'storage.conf'),
  };
  const pre = runtime ? ['--runtime', runtime] : [];
  // 45 s per call: a runtime that hangs fails the call, leaving room for a debug rerun.
  const podman = (args, o = {}) => run('podman', [...pre, ...args], { env, timeoutMs: 45_000, ...o });
  return {
    dir,
    env,
    podman,
    check: (args, o = {}) => check('podman', [...pre, ...args], { env, timeoutMs: 45_000, ...o }),
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
 * Options: runtimes ({ name: path } for --add-runtime; default none), baseEnv (default
 * benchEnv()), prefix (temp dir name). Returns { dir, socket, env, docker(args), check(args),
 * log(), stop() }.
 */
async function startDockerd({ runtimes = {}, baseEnv, prefix = 'hull-bench-dockerd-' } = {}) {
  const base = baseEnv ?? benchEnv();
  const dir = tempDir(prefix);
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
    ...Object.entries(runtimes).flatMap(([name, p]) => ['--add-runtime', `${name}=${p}`]),
  ];
  const logFd = fs.openSync(path.join(dir, 'dockerd.log'), 'a');
  const child = spawn('dockerd', args, { stdio: ['ignore', logFd, logFd], env: base });
  fs.closeSync(logFd);
  fs.mkdirSync(path.join(dir, 'cli-config'));
  const env = { ...base, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: path.join(dir, 'cli-config') };
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
