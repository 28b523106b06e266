// Layer apply bench: the uncompressed Debian minbase layer tar (~200 MB, from
// bench/fixtures/make-debian-image.sh) applied by hull's native applier (dist/image/apply.js
// applyLayer: sha256 of the stream + the openat2-confined native writer) against GNU `tar -x` as
// root (--numeric-owner, xattrs kept), each into a fresh directory on the same filesystem,
// interleaved. Before each run (untimed) dirty pages are written out, caches dropped and the tar
// read back in (see settle()). Reports ms; MB/s medians are printed alongside.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { repoRoot, timeOnce, tempDir, stats } = require('./lib');
const { debianCache } = require('./fixtures/images');

exports.description = 'apply the ~235 MB uncompressed Debian minbase layer: hull native applyLayer vs tar -x';

/**
 * Untimed, before every run: write out dirty pages, drop the page/dentry/inode caches, then read
 * the layer tar back in. On this VM a write-heavy run after earlier runs' (deleted) trees costs 3-8x
 * more kernel time than the same run after drop_caches (tar -x: 5-12 s vs 1.6 s), which would
 * measure the previous run's leftovers, not the subject. The tar itself is then hot for both.
 */
function settle(layer) {
  spawnSync('sync');
  try {
    fs.writeFileSync('/proc/sys/vm/drop_caches', '3');
  } catch {
    /* not allowed here: figures then include cache state */
  }
  const fd = fs.openSync(layer, 'r');
  const buf = Buffer.allocUnsafe(1 << 20);
  while (fs.readSync(fd, buf, 0, buf.length, null) > 0);
  fs.closeSync(fd);
}

exports.run = async function run({ runs, warmup, log }) {
  const applyJs = path.join(repoRoot, 'dist', 'image', 'apply.js');
  if (!fs.existsSync(applyJs)) throw new Error(`${applyJs} missing: npm run build first`);
  const { applyLayer } = require(applyJs);
  const cache = debianCache(log);
  const layer = path.join(cache, 'full.tar');
  const bytes = fs.statSync(layer).size;
  // Same filesystem as the hull store would be on by default (/var/lib), and as the tarball.
  const dir = tempDir('hull-bench-apply-');
  log(`layer ${layer}: ${(bytes / 1e6).toFixed(1)} MB uncompressed; target dirs under ${dir}`);

  const subjects = [
    {
      name: 'hull applyLayer',
      run: async (target) => {
        const t0 = process.hrtime.bigint();
        await applyLayer({ blob: layer, dir: target, overlay: true });
        return Number(process.hrtime.bigint() - t0) / 1e6;
      },
    },
    {
      name: 'tar -x',
      run: async (target) =>
        timeOnce('tar', ['-x', '-f', layer, '-C', target, '--numeric-owner', '--same-permissions', '--same-owner', '--xattrs', '--xattrs-include=*'], { timeout: 600_000 }),
    },
  ];
  const samples = Object.fromEntries(subjects.map((s) => [s.name, []]));
  const errors = {};
  try {
    for (let i = -warmup; i < runs; i++) {
      for (const s of subjects) {
        if (errors[s.name]) continue;
        const target = path.join(dir, `${s.name.replace(/\W+/g, '-')}-${i}`);
        fs.mkdirSync(target);
        settle(layer);
        try {
          const ms = await s.run(target);
          if (i >= 0) samples[s.name].push(ms);
          log(`${i < 0 ? 'warm-up' : `run ${i + 1}/${runs}`}: ${s.name} ${ms.toFixed(0)} ms = ${(bytes / 1e6 / (ms / 1000)).toFixed(0)} MB/s`);
        } catch (e) {
          errors[s.name] = e.message;
          log(`${s.name}: failed, dropped from the bench:\n${e.message}`);
        } finally {
          fs.rmSync(target, { recursive: true, force: true });
        }
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  for (const s of subjects) {
    if (!samples[s.name].length) continue;
    const st = stats(samples[s.name]);
    log(`${s.name}: median ${(bytes / 1e6 / (st.median / 1000)).toFixed(0)} MB/s (p90 time ${(bytes / 1e6 / (st.p90 / 1000)).toFixed(0)} MB/s)`);
  }
  return {
    subjects: subjects.map((s) => ({ name: s.name, samples: samples[s.name], error: errors[s.name] })),
    ratios: [['hull applyLayer', 'tar -x']],
  };
};
