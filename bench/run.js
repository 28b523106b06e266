#!/usr/bin/env node
// Bench runner: `node bench/run.js [NAME...] [--runs N] [--warmup N] [--json]`.
// Each bench is bench/<NAME>.js exporting { description, run({runs, warmup, log}) } that returns
// { subjects: [{name, samples: ms[], error?}], ratios: [[a, b]...], target? }; this file does the
// statistics and the output so every bench reports the same way.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { stats } = require('./lib');

// Shared modules, not benches.
const NOT_BENCHES = new Set(['run.js', 'lib.js', 'peers.js']);
const available = () =>
  fs.readdirSync(__dirname).filter((f) => f.endsWith('.js') && !NOT_BENCHES.has(f)).map((f) => f.slice(0, -3)).sort();

function usage() {
  const lines = available().map((n) => `  ${n.padEnd(10)} ${require(`./${n}`).description}`);
  return `usage: npm run bench -- [NAME...] [--runs N] [--warmup N] [--json]\n(default: oci)\n\nbenches:\n${lines.join('\n')}\n`;
}

function parseArgs(argv) {
  const opts = { names: [], runs: 30, warmup: 3, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = a.includes('=') ? a.split('=')[1] : argv[++i];
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw new Error(`${a}: expected a whole number, got ${v}`);
      return n;
    };
    if (a === '--json') opts.json = true;
    else if (a === '--runs' || a.startsWith('--runs=')) opts.runs = Math.max(1, value());
    else if (a === '--warmup' || a.startsWith('--warmup=')) opts.warmup = value();
    else if (a === '-h' || a === '--help') {
      process.stdout.write(usage());
      process.exit(0);
    } else if (a.startsWith('-')) throw new Error(`unknown option ${a}\n${usage()}`);
    else opts.names.push(a);
  }
  if (opts.names.length === 0) opts.names.push('oci');
  for (const n of opts.names) if (!available().includes(n)) throw new Error(`no bench "${n}"\n${usage()}`);
  return opts;
}

const fmt = (ms) => (Number.isFinite(ms) ? ms.toFixed(1) : '-');

function table(rows) {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? String(cell).padEnd(widths[c]) : String(cell).padStart(widths[c]))).join('  ')).join('\n');
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const log = (msg) => process.stderr.write(msg + '\n');
  const machine = {
    node: process.version,
    kernel: os.release(),
    cpus: os.cpus().length,
    cpu: os.cpus()[0]?.model,
    nodeExtraCaCerts: 'unset for every measured command',
  };
  const report = { machine, runs: opts.runs, warmup: opts.warmup, loadavgBefore: os.loadavg()[0], benches: [] };
  // Figures from a busy machine mislead: say so next to them.
  const busy = () => os.loadavg()[0] > os.cpus().length * 0.5;
  if (busy() && !opts.json) log(`warning: load average ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} cpus: figures will be noisy`);
  for (const name of opts.names) {
    const bench = require(`./${name}`);
    if (!opts.json) log(`${name}: ${bench.description} (${opts.runs} runs, ${opts.warmup} warm-up)`);
    const result = await bench.run({ runs: opts.runs, warmup: opts.warmup, log });
    const subjects = result.subjects.map((s) => ({ name: s.name, ...stats(s.samples), error: s.error }));
    const byName = Object.fromEntries(subjects.map((s) => [s.name, s]));
    const ratios = (result.ratios || [])
      .filter(([a, b]) => byName[a]?.n && byName[b]?.n)
      .map(([a, b]) => ({ of: a, to: b, median: byName[a].median / byName[b].median, p90: byName[a].p90 / byName[b].p90 }));
    let target;
    if (result.target && byName[result.target.subject]?.n && byName[result.target.baseline]?.n) {
      const ratio = byName[result.target.subject].median / byName[result.target.baseline].median;
      target = { ...result.target, ratio, met: ratio <= result.target.maxRatio };
    }
    report.benches.push({ name, subjects, ratios, target });

    if (opts.json) continue;
    const rows = [['subject', 'n', 'median ms', 'p90 ms', 'min ms', 'max ms']];
    for (const s of subjects) rows.push([s.name, s.n, fmt(s.median), fmt(s.p90), fmt(s.min), fmt(s.max)]);
    console.log(`\n${name}\n${table(rows)}`);
    if (ratios.length) {
      const rr = [['ratio', 'median', 'p90']];
      for (const r of ratios) rr.push([`${r.of} / ${r.to}`, r.median.toFixed(2) + 'x', r.p90.toFixed(2) + 'x']);
      console.log(`\n${table(rr)}`);
    }
    if (target) {
      console.log(`\ntarget: ${target.subject} median <= ${target.maxRatio}x ${target.baseline}: ${target.ratio.toFixed(2)}x ${target.met ? 'met' : 'NOT met'}`);
    }
    for (const s of subjects) if (s.error) console.log(`\n${s.name} failed: ${s.error.split('\n')[0]}`);
  }
  report.loadavgAfter = os.loadavg()[0];
  if (opts.json) console.log(JSON.stringify(report, null, 2));
  else if (busy()) console.log(`\nwarning: load average ${report.loadavgAfter.toFixed(1)} at the end: rerun on an idle machine for figures to quote`);
  // A bench whose subject failed is a failed bench run (the table still printed what worked).
  if (report.benches.some((b) => b.subjects.some((s) => s.error))) process.exitCode = 1;
}

main().catch((e) => {
  process.stderr.write(`bench: ${e.message}\n`);
  process.exit(2);
});
