// Sandbox bench: from one warm Node process, runSandbox() of /bin/true with no network, against
// spawning `runc run` per sandbox from a prepared bundle, from the same process. Two phases:
//   1. latency: one at a time, the two subjects interleaved (the samples run.js reports);
//   2. throughput: `--concurrency` sandboxes in flight for each subject in turn (logged).
// Needs dist/ (npm run build:ts) and build/Release (npm run build:native); runs as root.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { repoRoot, which, tempDir, makeBundle, benchEnv } = require('./lib');

exports.description = 'runSandbox() of /bin/true (no network) from one process vs spawning `runc run` per sandbox';

function quantile(sorted, q) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * q + 0.5))];
}

/** Run `fn` `total` times with `concurrency` in flight; sandboxes per second, p50 and p99 latency. */
async function throughput(fn, total, concurrency) {
  const latencies = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        const s = performance.now();
        await fn(i);
        latencies.push(performance.now() - s);
      }
    }),
  );
  const wall = performance.now() - t0;
  latencies.sort((a, b) => a - b);
  return { rate: (total * 1000) / wall, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99) };
}

exports.run = async function run({ runs, warmup, log }) {
  // Measured commands never pay for a CA bundle (see bench/lib.js); the sandbox helper gets an
  // empty environment anyway, runc gets benchEnv().
  delete process.env.NODE_EXTRA_CA_CERTS;
  // HULL_BENCH_DIST: another build's dist/ (a copy of an older tree) for A/B runs in one time window.
  const distSandbox = path.join(process.env.HULL_BENCH_DIST || path.join(repoRoot, 'dist'), 'sandbox', 'index.js');
  if (!fs.existsSync(distSandbox)) throw new Error(`${distSandbox} missing: run npm run build:ts first`);
  const { runSandbox } = require(distSandbox);

  const dir = tempDir('hull-bench-sandbox-');
  const bundle = makeBundle(path.join(dir, 'bundle'), ['/bin/true']);
  const rootfs = path.join(bundle, 'rootfs');
  const runcPath = which('runc');
  const stateRoot = path.join(dir, 'runc-state');
  const env = benchEnv();
  let runcId = 0;

  const hull = async () => {
    const r = await runSandbox({ rootfs, argv: ['/bin/true'] });
    if (r.exitCode !== 0) throw new Error(`runSandbox: ${r.reason} ${r.exitCode} ${r.error?.message ?? r.stderr}`);
  };
  const runc = () =>
    new Promise((resolve, reject) => {
      const id = `bench-sbx-${process.pid}-${runcId++}`;
      const child = spawn(runcPath, ['--root', stateRoot, 'run', '--bundle', bundle, id], { stdio: ['ignore', 'ignore', 'pipe'], env });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`runc run ${id}: exit ${code}\n${stderr.trim()}`))));
    });

  const subjects = [{ name: 'hull runSandbox', fn: hull }];
  if (runcPath) subjects.push({ name: 'runc run', fn: runc });
  else log('runc not installed: measuring hull alone');
  const samples = Object.fromEntries(subjects.map((s) => [s.name, []]));
  const errors = {};
  const concurrency = Math.max(2, os.availableParallelism?.() ?? os.cpus().length);
  try {
    for (let i = -warmup; i < runs; i++) {
      for (const s of subjects) {
        if (errors[s.name]) continue;
        const t0 = performance.now();
        try {
          await s.fn();
          if (i >= 0) samples[s.name].push(performance.now() - t0);
        } catch (e) {
          errors[s.name] = e.message;
          log(`${s.name}: failed, dropped from the bench:\n${e.message}`);
        }
      }
    }
    const rows = [];
    for (const s of subjects) {
      if (errors[s.name]) continue;
      const seq = [...samples[s.name]].sort((a, b) => a - b);
      const mean = seq.reduce((a, b) => a + b, 0) / (seq.length || 1);
      const par = await throughput(s.fn, runs, concurrency);
      rows.push({ name: s.name, seqRate: 1000 / mean, p50: quantile(seq, 0.5), p99: quantile(seq, 0.99), par });
    }
    const fmt = (n) => (Number.isFinite(n) ? n.toFixed(1) : '-');
    log('');
    log(`sandboxes per second and latency (ms), one warm process, ${runs} runs each`);
    log(`subject            one-at-a-time: rate/s  p50    p99   | ${concurrency} in flight: rate/s  p50    p99`);
    for (const r of rows) {
      log(`${r.name.padEnd(18)} ${fmt(r.seqRate).padStart(21)} ${fmt(r.p50).padStart(6)} ${fmt(r.p99).padStart(6)}   | ${fmt(r.par.rate).padStart(20)} ${fmt(r.par.p50).padStart(6)} ${fmt(r.par.p99).padStart(6)}`);
    }
    if (rows.length === 2) {
      log(`rate ratio hull / runc: one at a time ${(rows[0].seqRate / rows[1].seqRate).toFixed(2)}x, ${concurrency} in flight ${(rows[0].par.rate / rows[1].par.rate).toFixed(2)}x (target >= 5x)`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return {
    subjects: subjects.map((s) => ({ name: s.name, samples: samples[s.name], error: errors[s.name] })),
    ratios: [['hull runSandbox', 'runc run']],
    // Latency ratio ≤ 0.2 is the same as ≥ 5× the rate when run one at a time.
    target: { subject: 'hull runSandbox', baseline: 'runc run', maxRatio: 0.2 },
  };
};
