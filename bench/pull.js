// Image pull bench: a cold pull of a ~200 MB Debian bookworm minbase image (three gzip layers) from
// a private docker-registry on 127.0.0.1, by `bin/hull pull`, `podman pull` and `docker pull`
// (a private dockerd), interleaved in one process. Cold: hull and podman get a fresh empty store
// per run; docker's image is removed (rmi + prune) between runs. Target: hull median <= 0.8x podman.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const http = require('node:http');
const { spawn, spawnSync } = require('node:child_process');
const { repoRoot, which, timeOnce, tempDir, benchEnv } = require('./lib');
const { unmountAndRemove, pidsMentioning } = require('./peers');
const { debianCache, debianOciArchive, startRegistry, sleep } = require('./fixtures/images');

exports.description = 'cold pull of a ~235 MB Debian minbase (3 layers, 82 MB gzip) from a local registry: hull vs podman vs docker';

const HULL = path.join(repoRoot, 'bin', 'hull');
const PULL_TIMEOUT = 600_000;

function must(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { env: benchEnv(), encoding: 'utf8', timeout: PULL_TIMEOUT, ...opts });
  if (r.error || r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.error ? r.error.message : `exit ${r.status}`}\n${(r.stderr || '').trim().slice(-2000)}`);
  return r.stdout;
}

function unixPing(socketPath) {
  return new Promise((resolve) => {
    const req = http.get({ socketPath, path: '/_ping', timeout: 2000 }, (res) => { res.resume(); resolve(res.statusCode); });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

/** A private dockerd (state in a temp dir, no networking changes), as test/setup/peers.ts does. */
async function startDockerd(registryHost) {
  const dir = tempDir('hull-bench-dockerd-');
  const socket = path.join(dir, 'docker.sock');
  const createdDirs = ['/run/containerd/s', '/run/containerd', '/run/docker/plugins', '/run/docker'].filter((d) => !fs.existsSync(d));
  const ns = path.basename(dir).toLowerCase().replace(/[^a-z0-9]/g, '');
  const args = ['--data-root', path.join(dir, 'data'), '--exec-root', path.join(dir, 'exec'), '-H', `unix://${socket}`,
    '--pidfile', path.join(dir, 'docker.pid'), '--storage-driver', 'overlay2', '--bridge', 'none', '--iptables=false',
    '--ip6tables=false', '--ip-forward=false', '--ip-masq=false', '--containerd-namespace', ns,
    '--containerd-plugins-namespace', `${ns}-plugins`, '--insecure-registry', registryHost];
  const logFd = fs.openSync(path.join(dir, 'dockerd.log'), 'a');
  const child = spawn('dockerd', args, { stdio: ['ignore', logFd, logFd], env: benchEnv() });
  fs.closeSync(logFd);
  fs.mkdirSync(path.join(dir, 'cli-config'));
  const env = { ...benchEnv(), DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: path.join(dir, 'cli-config') };
  const d = {
    dir, env,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => {
          const t = setTimeout(() => { child.kill('SIGKILL'); r(); }, 30_000);
          child.once('exit', () => { clearTimeout(t); r(); });
        });
      }
      for (let i = 0; i < 3; i++) {
        const pids = pidsMentioning(dir);
        if (!pids.length) break;
        for (const p of pids) try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
        await sleep(200);
      }
      unmountAndRemove(dir);
      for (const c of createdDirs) try { fs.rmdirSync(c); } catch { /* not empty: not ours alone */ }
    },
  };
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && child.exitCode === null) {
    if (fs.existsSync(socket) && (await unixPing(socket)) === 200) return d;
    await sleep(200);
  }
  const log = fs.readFileSync(path.join(dir, 'dockerd.log'), 'utf8');
  await d.stop();
  throw new Error(`dockerd did not come up:\n${log.slice(-2000)}`);
}

/** containers.conf/storage.conf for a private podman whose store lives under `dir`. */
function podmanEnv(dir) {
  fs.writeFileSync(path.join(dir, 'containers.conf'), ['[containers]', 'netns = "none"', '[engine]', 'cgroup_manager = "cgroupfs"',
    'events_logger = "file"', `events_logfile_path = "${dir}/events.log"`, `tmp_dir = "${dir}/tmp"`, ''].join('\n'));
  fs.writeFileSync(path.join(dir, 'storage.conf'), ['[storage]', 'driver = "overlay"', `graphroot = "${dir}/root"`, `runroot = "${dir}/runroot"`, ''].join('\n'));
  fs.mkdirSync(path.join(dir, 'tmp'), { recursive: true });
  return { ...benchEnv(), CONTAINERS_CONF: path.join(dir, 'containers.conf'), CONTAINERS_STORAGE_CONF: path.join(dir, 'storage.conf'), TMPDIR: path.join(dir, 'tmp') };
}

exports.run = async function run({ runs, warmup, log }) {
  const cache = debianCache(log);
  const srcRef = 'localhost/hull-bench/debian:minbase';
  const archive = debianOciArchive(cache, srcRef, log);
  const dir = tempDir('hull-bench-pull-');
  const cleanups = [];
  const subjects = [];
  const samples = {};
  const errors = {};
  try {
    const registry = await startRegistry();
    cleanups.push(() => registry.stop());
    const ref = `${registry.host}/debian:minbase`;
    // Push once with hull (load the archive into a private store, tag, push).
    const seed = path.join(dir, 'seed');
    must(HULL, ['--root', seed, 'load', '-i', archive]);
    must(HULL, ['--root', seed, 'tag', srcRef, ref]);
    must(HULL, ['--root', seed, 'push', '-q', ref]);
    fs.rmSync(seed, { recursive: true, force: true });
    const blobBytes = fs.statSync(archive).size;
    log(`image ${ref}: 3 gzip layers, archive ${(blobBytes / 1e6).toFixed(0)} MB; unpacked ${(fs.statSync(path.join(cache, 'full.tar')).size / 1e6).toFixed(0)} MB`);

    subjects.push({
      name: 'hull pull',
      run: (i) => timeOnce(HULL, ['--root', path.join(dir, `hull-${i}`), 'pull', '-q', ref], { timeout: PULL_TIMEOUT }),
      verify: (i) => must(HULL, ['--root', path.join(dir, `hull-${i}`), 'images', '-q', ref]),
      cleanup: (i) => fs.rmSync(path.join(dir, `hull-${i}`), { recursive: true, force: true }),
    });
    if (which('podman')) {
      subjects.push({
        name: 'podman pull',
        run: (i) => {
          const p = path.join(dir, `podman-${i}`);
          fs.mkdirSync(p);
          return timeOnce('podman', ['--root', `${p}/root`, '--runroot', `${p}/runroot`, '--storage-driver', 'overlay', 'pull', '-q', '--tls-verify=false', ref],
            { env: podmanEnv(p), timeout: PULL_TIMEOUT });
        },
        verify: (i) => {
          const p = path.join(dir, `podman-${i}`);
          return must('podman', ['--root', `${p}/root`, '--runroot', `${p}/runroot`, '--storage-driver', 'overlay', 'images', '-q', ref], { env: podmanEnv(p) });
        },
        cleanup: (i) => {
          const p = path.join(dir, `podman-${i}`);
          if (!fs.existsSync(p)) return;
          spawnSync('podman', ['--root', `${p}/root`, '--runroot', `${p}/runroot`, '--storage-driver', 'overlay', 'rmi', '--all', '--force'], { env: podmanEnv(p), stdio: 'ignore' });
          unmountAndRemove(p);
        },
      });
    }
    if (which('dockerd') && which('docker')) {
      try {
        const d = await startDockerd(registry.host);
        cleanups.unshift(() => d.stop());
        subjects.push({
          name: 'docker pull',
          run: () => timeOnce('docker', ['pull', '-q', ref], { env: d.env, timeout: PULL_TIMEOUT }),
          verify: () => must('docker', ['images', '-q', ref], { env: d.env }),
          cleanup: () => {
            spawnSync('docker', ['rmi', '-f', ref], { env: d.env, stdio: 'ignore' });
            spawnSync('docker', ['image', 'prune', '-a', '-f'], { env: d.env, stdio: 'ignore' });
            const left = spawnSync('docker', ['images', '-aq'], { env: d.env, encoding: 'utf8' }).stdout.trim();
            if (left) throw new Error(`docker still has images after rmi: ${left}`);
          },
        });
      } catch (e) {
        errors['docker pull'] = e.message;
        log(`docker pull: no private dockerd: ${e.message.split('\n')[0]}`);
      }
    }
    for (const s of subjects) samples[s.name] = [];

    // Interleaved; page cache is dropped before each pull so the registry's blobs are read cold
    // for everyone alike, and dirty pages of the last pull are written out untimed.
    for (let i = -warmup; i < runs; i++) {
      for (const s of subjects) {
        if (errors[s.name]) continue;
        spawnSync('sync');
        try { fs.writeFileSync('/proc/sys/vm/drop_caches', '3'); } catch { /* not allowed here */ }
        try {
          const ms = s.run(i);
          // Untimed: the image is really there (a pull that exits 0 without it must not count).
          if (!s.verify(i).trim()) throw new Error(`${s.name} exited 0 but the image is not listed`);
          if (i >= 0) samples[s.name].push(ms);
          log(`${i < 0 ? 'warm-up' : `run ${i + 1}/${runs}`}: ${s.name} ${(ms / 1000).toFixed(2)} s`);
        } catch (e) {
          errors[s.name] = e.message;
          log(`${s.name}: failed, dropped from the bench:\n${e.message}`);
        } finally {
          try { s.cleanup(i); } catch (e) { errors[s.name] = e.message; log(`${s.name}: ${e.message}`); }
        }
      }
    }
  } finally {
    for (const c of cleanups) await c();
    unmountAndRemove(dir);
  }

  const names = ['hull pull', 'podman pull', 'docker pull'];
  return {
    subjects: names.filter((n) => samples[n] || errors[n]).map((n) => ({ name: n, samples: samples[n] || [], error: errors[n] })),
    ratios: [['hull pull', 'podman pull'], ['hull pull', 'docker pull'], ['podman pull', 'docker pull']],
    target: { subject: 'hull pull', baseline: 'podman pull', maxRatio: 0.8 },
  };
};
