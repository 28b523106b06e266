// OCI runtime bench: `run` of /bin/true from a prepared bundle, hull-oci against runc (and crun if
// installed) in the same process, with a bare `node -e 0` as the floor every Node program pays.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { repoRoot, which, timeOnce, tempDir, makeBundle, benchEnv } = require('./lib');

exports.description = 'bin/hull-oci run vs runc run of /bin/true from a prepared bundle, and node -e 0';

exports.run = async function run({ runs, warmup, log }) {
  const dir = tempDir('hull-bench-oci-');
  const bundle = makeBundle(path.join(dir, 'bundle'), ['/bin/true']);
  const hullOci = path.join(repoRoot, 'bin', 'hull-oci');

  // Each subject: how to run iteration i, and how to clean up after it (not timed).
  const subjects = [{ name: 'node -e 0', cmd: process.execPath, args: () => ['-e', '0'] }];
  // HULL_BENCH_BASELINE=<another checkout>/bin/hull-oci adds that build, interleaved: the machine's
  // speed drifts more within minutes than one change moves the figure.
  const baseline = process.env.HULL_BENCH_BASELINE;
  const runtimes = [['hull-oci', hullOci], ['hull-oci baseline', baseline], ['runc', which('runc')], ['crun', which('crun')]];
  for (const [name, exe] of runtimes) {
    if (!exe) continue;
    const slug = name.replace(/\W+/g, '-'); // 'hull-oci baseline' -> a valid container id part
    const root = path.join(dir, `state-${slug}`);
    subjects.push({
      name: `${name} run`,
      cmd: exe,
      args: (i) => ['--root', root, 'run', '--bundle', bundle, `bench-${process.pid}-${slug}-${i}`],
      // `run` deletes the container when it exits; this only matters if a run failed half-way.
      cleanup: (i) => spawnSync(exe, ['--root', root, 'delete', '--force', `bench-${process.pid}-${slug}-${i}`], { env: benchEnv(), stdio: 'ignore' }),
    });
  }

  const samples = Object.fromEntries(subjects.map((s) => [s.name, []]));
  const errors = {};
  try {
    // Interleave the subjects so drift (thermal, page cache, other load) hits them all alike.
    for (let i = -warmup; i < runs; i++) {
      for (const s of subjects) {
        if (errors[s.name]) continue;
        try {
          const ms = timeOnce(s.cmd, s.args(i));
          if (i >= 0) samples[s.name].push(ms);
        } catch (e) {
          errors[s.name] = e.message;
          log(`${s.name}: failed, dropped from the bench:\n${e.message}`);
        } finally {
          if (s.cleanup) s.cleanup(i);
        }
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }

  return {
    subjects: subjects.map((s) => ({ name: s.name, samples: samples[s.name], error: errors[s.name] })),
    ratios: [
      ['hull-oci run', 'hull-oci baseline run'],
      ['hull-oci run', 'runc run'],
      ['hull-oci run', 'crun run'],
      ['hull-oci run', 'node -e 0'],
      ['runc run', 'node -e 0'],
    ],
    target: { subject: 'hull-oci run', baseline: 'node -e 0', maxRatio: 1.3 },
  };
};
