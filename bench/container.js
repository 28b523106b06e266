// Container bench (issue 4): `hull run --rm IMAGE true` against `podman run --rm --network none`
// and `docker run --rm --network none` of the same image, interleaved in one process (with a bare
// `node -e 0`, the floor every run of the Node CLI pays); then the
// resident memory of a detached container's monitor (hull's hull-helper) against podman's conmon
// (and docker's containerd-shim, for reference).
//
// The image is built once per bench run: a busybox-static rootfs imported into a private hull root,
// saved with `hull save` and loaded into a private podman store and a private dockerd (bench/peers.js).
// podman and docker use their own default OCI runtime. Everything lives in temp dirs removed at the end.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { repoRoot, benchEnv, timeOnce, tempDir } = require('./lib');
const peers = require('./peers');

exports.description = 'hull run --rm IMAGE true vs podman/docker run --rm --network none; monitor RSS vs conmon';

const IMAGE = 'bench/busybox:1';
const HULL = path.join(repoRoot, 'bin', 'hull');
const MONITOR_TARGET_KIB = 1024;
const MEMORY_SAMPLES = 3;

function busyboxPath() {
  for (const p of ['/bin/busybox', '/usr/bin/busybox']) if (fs.existsSync(p)) return p;
  throw new Error('busybox not found: apt-get install busybox-static');
}

/** A rootfs tar with static busybox as sh, true and sleep. */
function makeRootfsTar(dir) {
  const rootfs = path.join(dir, 'rootfs');
  for (const d of ['bin', 'proc', 'sys', 'dev', 'tmp', 'etc']) fs.mkdirSync(path.join(rootfs, d), { recursive: true });
  fs.copyFileSync(busyboxPath(), path.join(rootfs, 'bin/busybox'));
  fs.chmodSync(path.join(rootfs, 'bin/busybox'), 0o755);
  for (const a of ['sh', 'true', 'sleep']) fs.symlinkSync('busybox', path.join(rootfs, 'bin', a));
  const tar = path.join(dir, 'rootfs.tar');
  peers.check('tar', ['-C', rootfs, '--numeric-owner', '--owner=0', '--group=0', '-cf', tar, '.']);
  return tar;
}

/** VmRSS, RssAnon, RssFile, RssShmem (status) and Pss (smaps_rollup) of `pid`, in KiB. */
function memoryOf(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (text, name) => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) : NaN;
  };
  let pss = NaN;
  try {
    pss = field(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'), 'Pss');
  } catch {
    /* no smaps_rollup on this kernel */
  }
  let exe = '';
  try {
    exe = fs.readlinkSync(`/proc/${pid}/exe`);
  } catch {
    /* gone */
  }
  return {
    pid,
    exe,
    comm: fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim(),
    rss: field(status, 'VmRSS'),
    anon: field(status, 'RssAnon'),
    file: field(status, 'RssFile'),
    shmem: field(status, 'RssShmem'),
    pss,
  };
}

const ppidOf = (pid) => Number(/^PPid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * What is being measured: hashes of dist/ (the CLI) and of the helper binary. Figures are only
 * comparable when both are the same at the start and the end (other work rebuilding them during
 * the run changes the subject). The commit is printed for reference (the working tree may differ).
 */
function buildFingerprint() {
  const crypto = require('node:crypto');
  const hashOf = (files) => {
    const h = crypto.createHash('sha256');
    for (const f of files) h.update(f).update(fs.readFileSync(f));
    return h.digest('hex').slice(0, 12);
  };
  const walk = (d) => fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : [path.join(d, e.name)]));
  let dist = 'missing';
  let helper = 'missing';
  try {
    dist = hashOf(walk(path.join(repoRoot, 'dist')).filter((f) => f.endsWith('.js')).sort());
    helper = hashOf([path.join(repoRoot, 'build', 'Release', 'hull-helper')]);
  } catch {
    /* reported as missing */
  }
  return `dist ${dist}, hull-helper ${helper}`;
}

exports.run = async function run({ runs, warmup, log }) {
  if (!fs.existsSync(path.join(repoRoot, 'dist', 'cli')) || !fs.existsSync(path.join(repoRoot, 'build', 'Release', 'hull-helper'))) {
    throw new Error('bin/hull needs dist/ and build/Release/: run `npm install` (or `npm run build`) first');
  }
  const loadavg = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');
  log(`load average (1/5/15 min) at the start: ${loadavg()} on ${os.cpus().length} cpus`);
  const built = buildFingerprint();
  const commit = peers.runCommand('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD']).stdout.trim();
  log(`hull: commit ${commit}, ${built} (sha256 prefixes)`);
  // bin/hull loads dist/hull-cli.js with this V8 code cache when present (scripts/build-bundle.js).
  const cache = path.join(repoRoot, 'dist', 'hull-cli.js.cache');
  log(`hull: ${fs.existsSync(cache) ? `code cache ${fs.statSync(cache).size} bytes` : 'NO code cache (run npm run build:bundle)'}`);
  const dir = tempDir('hull-bench-container-');
  const hullRoot = path.join(dir, 'hull-root');
  const hull = (args, opts) => peers.check(HULL, ['--root', hullRoot, ...args], opts);
  const subjects = [];
  const errors = {};
  let podman;
  let dockerd;
  const memory = [];
  try {
    // One image for everyone.
    const tar = makeRootfsTar(dir);
    hull(['import', '--change', 'CMD ["sh"]', tar, IMAGE]);
    const imgTar = path.join(dir, 'img.tar');
    hull(['save', '-o', imgTar, IMAGE]);
    subjects.push({ name: 'node -e 0', cmd: process.execPath, args: ['-e', '0'] }); // the floor of any Node CLI
    subjects.push({ name: 'hull run', cmd: HULL, args: ['--root', hullRoot, 'run', '--rm', IMAGE, 'true'] });

    const podmanMissing = peers.missing.podman();
    if (podmanMissing.length) errors['podman run'] = `not installed: ${podmanMissing.join(', ')}`;
    else {
      podman = peers.createPodmanEnv();
      podman.check(['load', '-i', imgTar]);
      const rt = podman.podman(['info', '--format', '{{.Host.OCIRuntime.Name}} {{.Host.OCIRuntime.Version}}']).stdout.split('\n')[0];
      log(`podman ${podman.podman(['--version']).stdout.trim().replace(/^podman version /, '')}, OCI runtime ${rt}`);
      subjects.push({ name: 'podman run', cmd: 'podman', args: ['run', '--rm', '--network', 'none', IMAGE, 'true'], env: podman.env });
    }

    const dockerMissing = peers.missing.docker();
    if (dockerMissing.length) errors['docker run'] = `not installed: ${dockerMissing.join(', ')}`;
    else {
      try {
        dockerd = await peers.startDockerd();
        dockerd.check(['load', '-i', imgTar]);
        const v = dockerd.docker(['version', '--format', '{{.Server.Version}} (cli {{.Client.Version}})']).stdout.trim();
        log(`dockerd ${v}, default runtime ${dockerd.docker(['info', '--format', '{{.DefaultRuntime}}']).stdout.trim()}`);
        subjects.push({ name: 'docker run', cmd: 'docker', args: ['run', '--rm', '--network', 'none', IMAGE, 'true'], env: dockerd.env });
      } catch (e) {
        errors['docker run'] = e.message;
      }
    }

    // Start-up: interleaved so drift (other load, page cache) hits every subject alike.
    const samples = Object.fromEntries(subjects.map((s) => [s.name, []]));
    for (let i = -warmup; i < runs; i++) {
      for (const s of subjects) {
        if (errors[s.name]) continue;
        try {
          const ms = timeOnce(s.cmd, s.args, s.env ? { env: s.env } : {});
          if (i >= 0) samples[s.name].push(ms);
        } catch (e) {
          errors[s.name] = e.message;
          log(`${s.name}: failed, dropped from the bench:\n${e.message}`);
        }
      }
    }
    for (const s of subjects) s.samples = samples[s.name];

    // Monitor memory: a detached `sleep 60` each, read once it has settled, then removed.
    const detached = {
      'hull monitor (hull-helper)': () => {
        const id = hull(['run', '-d', IMAGE, 'sleep', '60']).trim();
        const state = JSON.parse(fs.readFileSync(path.join(hullRoot, 'runtime', id, 'state.json'), 'utf8'));
        if (ppidOf(state.initPid) !== state.monitorPid) throw new Error(`hull: monitor ${state.monitorPid} is not the parent of init ${state.initPid}`);
        return { pid: state.monitorPid, remove: () => hull(['rm', '-f', id]) };
      },
      'podman conmon': podman && !errors['podman run'] && (() => {
        const id = podman.check(['run', '-d', '--network', 'none', IMAGE, 'sleep', '60']).trim();
        const pid = Number(podman.check(['inspect', '--format', '{{.State.ConmonPid}}', id]).trim());
        return { pid, remove: () => podman.check(['rm', '-f', '-t', '0', id]) };
      }),
      'docker containerd-shim': dockerd && !errors['docker run'] && (() => {
        const id = dockerd.check(['run', '-d', '--network', 'none', IMAGE, 'sleep', '60']).trim();
        const init = Number(dockerd.check(['inspect', '--format', '{{.State.Pid}}', id]).trim());
        return { pid: ppidOf(init), remove: () => dockerd.check(['rm', '-f', id]) };
      }),
    };
    // All of them running at once, so Pss splits pages the monitors share (libraries, a shared
    // executable) between them: that is each container's own cost.
    const running = [];
    try {
      for (let k = 0; k < MEMORY_SAMPLES; k++) {
        for (const [name, start] of Object.entries(detached)) {
          if (!start) continue;
          try {
            running.push({ name, ...start() });
          } catch (e) {
            log(`${name}: memory not measured: ${e.message.split('\n')[0]}`);
            detached[name] = undefined;
          }
        }
      }
      await sleep(1000);
      for (const c of running) {
        try {
          memory.push({ name: c.name, ...memoryOf(c.pid) });
        } catch (e) {
          log(`${c.name}: reading /proc/${c.pid}: ${e.message}`);
        }
      }
    } finally {
      for (const c of running) {
        try {
          c.remove();
        } catch (e) {
          log(`${c.name}: removing the detached container: ${e.message.split('\n')[0]}`);
        }
      }
    }
  } finally {
    if (podman) podman.cleanup();
    if (dockerd) await dockerd.stop();
    // hull's containers are all --rm or removed above; rm -f anything a failed step left.
    const left = peers.runCommand(HULL, ['--root', hullRoot, 'ps', '-aq', '--no-trunc']).stdout.split('\n').filter(Boolean);
    if (left.length) peers.runCommand(HULL, ['--root', hullRoot, 'rm', '-f', ...left]);
    peers.unmountAndRemove(dir);
  }

  log(`load average (1/5/15 min) at the end: ${loadavg()}`);
  const builtAfter = buildFingerprint();
  if (builtAfter !== built) log(`warning: hull changed during the run (now ${builtAfter}): rerun for figures to quote`);
  if (memory.length) {
    const byName = {};
    for (const m of memory) (byName[m.name] ??= []).push(m);
    const rows = [['monitor', 'n', 'VmRSS KiB', 'Pss KiB', 'anon', 'file', 'shmem', 'exe']];
    const median = (xs) => {
      const s = [...xs].sort((a, b) => a - b);
      return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    };
    for (const [name, ms] of Object.entries(byName)) {
      const med = (f) => median(ms.map((m) => m[f]));
      rows.push([name, ms.length, med('rss'), med('pss'), med('anon'), med('file'), med('shmem'), ms[0].exe]);
    }
    const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)));
    log(`\nmonitor memory: ${MEMORY_SAMPLES} detached \`sleep 60\` containers per tool, all running at once, read 1 s after the last start (median per monitor)`);
    log(rows.map((r) => r.map((x, c) => (c === 0 || c === 7 ? String(x).padEnd(widths[c]) : String(x).padStart(widths[c]))).join('  ')).join('\n'));
    const h = byName['hull monitor (hull-helper)'];
    if (h) {
      const rss = median(h.map((m) => m.rss));
      log(`target: hull monitor VmRSS <= ${MONITOR_TARGET_KIB} KiB: ${rss} KiB ${rss <= MONITOR_TARGET_KIB ? 'met' : 'NOT met'}`);
    }
    const c = byName['podman conmon'];
    if (h && c) log(`hull monitor / conmon: VmRSS ${(median(h.map((m) => m.rss)) / median(c.map((m) => m.rss))).toFixed(2)}x, Pss ${(median(h.map((m) => m.pss)) / median(c.map((m) => m.pss))).toFixed(2)}x`);
  }

  const names = ['node -e 0', 'hull run', 'podman run', 'docker run'];
  return {
    subjects: names
      .filter((n) => subjects.some((s) => s.name === n) || errors[n])
      .map((n) => ({ name: n, samples: subjects.find((s) => s.name === n)?.samples ?? [], error: errors[n] })),
    ratios: [['hull run', 'podman run'], ['hull run', 'docker run'], ['podman run', 'docker run'], ['hull run', 'node -e 0']],
    target: { subject: 'hull run', baseline: 'podman run', maxRatio: 0.6 },
    memory,
  };
};
