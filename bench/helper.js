// Helper bench: build/Release/hull-helper spawned directly from Node with a fixed plan (busybox
// rootfs, /bin/true, run mode, new pid/mount/uts/ipc/net namespaces, runc's default mounts,
// masked and read-only paths, read-only root, caps, no_new_privs, Docker's default seccomp
// profile), timed from spawn to the helper's `exit` message: the helper's part of every container
// (its execve, the container's execve, exit reported). No hull-oci, no Node start.
// Needs dist/ (npm run build:ts) for the plan compiler and build/Release (npm run build:native);
// runs as root. HULL_BENCH_HELPER=<path> benches another helper binary (A/B comparisons);
// HULL_BENCH_STATE_DIR=<dir> puts the state dir (exit.json) there instead of under /run.
// Each helper is started as hull starts it (src/runtime/helper-process.ts): from the addon's
// sealedHelper fd, a read-only view of the file, so it skips its own memfd copy and second execve
// (~1 MB copied, 1.5-2.5 ms here). HULL_BENCH_EXEC=path execs it by path instead, copy included
// (what this bench measured before).
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { repoRoot, tempDir, makeBundle } = require('./lib');

exports.description =
  'hull-helper alone: spawn → container /bin/true → `exit` message (fixed plan, seccomp on, ' +
  (process.env.HULL_BENCH_EXEC === 'path' ? 'exec by path: its own memfd copy)' : 'started from the sealed fd as hull does)');

/** The plan text for `bundle`, compiled by hull's own plan compiler from dist/. */
function planFor(bundle, stateDir, id) {
  const dist = path.join(repoRoot, 'dist', 'runtime');
  if (!fs.existsSync(path.join(dist, 'plan.js'))) throw new Error(`${dist}/plan.js missing: run npm run build:ts first`);
  const { compilePlan, serializePlan } = require(path.join(dist, 'plan.js'));
  const { defaultSeccompProfile } = require(path.join(dist, 'seccomp-default.js'));
  const spec = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8'));
  spec.root.path = path.join(bundle, spec.root.path);
  spec.linux.seccomp = defaultSeccompProfile(spec.process.capabilities?.bounding ?? []);
  delete spec.linux.cgroupsPath;
  delete spec.linux.resources;
  // No /sys/fs/cgroup: without a cgroup version compilePlan mounts cgroup2, which on a cgroup v1
  // host costs 5-30 ms in the kernel (hull binds the v1 hierarchies there instead, and sandboxes
  // have none): that would measure the host, not the helper.
  spec.mounts = spec.mounts.filter((m) => m.destination !== '/sys/fs/cgroup');
  const ops = compilePlan(spec, { mode: 'run', id, bundle, stateDir, detach: false, trace: false, cgroupDirs: [] });
  return serializePlan(ops);
}

/**
 * What to exec for `helper`: /proc/<us>/fd/<n> of the addon's sealedHelper fd, as hull does, or
 * the path itself with HULL_BENCH_EXEC=path.
 */
function executableFor(helper) {
  if (process.env.HULL_BENCH_EXEC === 'path') return helper;
  const dist = path.join(repoRoot, 'dist', 'native.js');
  if (!fs.existsSync(dist)) throw new Error(`${dist} missing: run npm run build:ts first`);
  const { native } = require(dist);
  return `/proc/${process.pid}/fd/${native().sealedHelper(path.resolve(helper))}`;
}

/** One helper run: resolves with ms from spawn to the `exit` line. */
function runOnce(helper, plan) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(helper, [], { stdio: ['ignore', 'ignore', 'pipe', 'pipe'], env: {} });
    let text = '';
    let stderr = '';
    let done = false;
    child.stderr.on('data', (d) => (stderr += d));
    const control = child.stdio[3];
    control.on('data', (d) => {
      text += d;
      if (done) return;
      const exit = text.split('\n').find((l) => l.startsWith('exit\t') || l.startsWith('error\t'));
      if (!exit) return;
      done = true;
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (exit.startsWith('error') || exit !== 'exit\t0\t0') reject(new Error(`helper: ${exit}\n${stderr}`));
      child.on('close', () => resolve(ms));
    });
    control.on('error', () => {});
    child.on('error', reject);
    child.on('close', (code) => {
      if (!done) reject(new Error(`helper exited ${code} without an exit message\n${text}\n${stderr}`));
    });
    control.write(plan);
  });
}

exports.planFor = planFor;
exports.runOnce = runOnce;
exports.executableFor = executableFor;

exports.run = async function run({ runs, warmup, log }) {
  const dir = tempDir('hull-bench-helper-');
  const bundle = makeBundle(path.join(dir, 'bundle'), ['/bin/true']);
  const stateBase = process.env.HULL_BENCH_STATE_DIR || fs.mkdtempSync('/run/hull-bench-helper-');
  const helpers = [['hull-helper', executableFor(path.join(repoRoot, 'build', 'Release', 'hull-helper'))]];
  if (process.env.HULL_BENCH_HELPER) helpers.push(['other helper', executableFor(process.env.HULL_BENCH_HELPER)]);
  const samples = Object.fromEntries(helpers.map(([name]) => [name, []]));
  const errors = {};
  try {
    for (let i = -warmup; i < runs; i++) {
      // Alternate which helper goes first: each run leaves kernel work behind (the old network
      // namespace is torn down asynchronously), which would otherwise always land on the same one.
      for (const [name, helper] of i % 2 ? [...helpers].reverse() : helpers) {
        if (errors[name]) continue;
        const stateDir = fs.mkdtempSync(path.join(stateBase, 's-'));
        try {
          const ms = await runOnce(helper, planFor(bundle, stateDir, `bench-${i}`));
          if (i >= 0) samples[name].push(ms);
        } catch (e) {
          errors[name] = e.message;
          log(`${name}: failed, dropped from the bench:\n${e.message}`);
        }
        fs.rmSync(stateDir, { recursive: true, force: true });
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    if (!process.env.HULL_BENCH_STATE_DIR) fs.rmSync(stateBase, { recursive: true, force: true });
  }
  return {
    subjects: helpers.map(([name]) => ({ name, samples: samples[name], error: errors[name] })),
    ratios: helpers.length > 1 ? [['hull-helper', 'other helper']] : [],
  };
};
