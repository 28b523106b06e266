#!/usr/bin/env node
// `npm run build:bundle` (part of prepare and build:ts): dist/cli/main.js and dist/oci/main.js,
// as tsc wrote them, bundled into one file each (dist/hull-cli.js, dist/hull-oci.js), plus a V8
// code cache per bundle (<bundle>.cache) that bin/load-bundle.js hands to vm.Script. Both cut
// what every `hull` / `hull-oci` command pays before doing anything: one file read instead of
// ~60 module lookups, and no parse/compile of the bundle.
//
// Two more start-up savings made here:
//  - Node builtins that cost milliseconds to load (child_process pulls in net and stream, crypto,
//    zlib) are bound lazily: the bundle's `require("node:crypto")` gets an object whose
//    properties load the real module on first use. commander loads child_process at its top
//    level only for executable subcommands, which hull has none of; `run` needs no zlib.
//  - tsc's `import * as fs from 'node:fs'` (`__importStar(require("node:fs"))`) copies every export
//    of fs, path and os into a new object of getters, in each of the ~60 modules; hull's code
//    never uses the `default` that copy adds, so the bundle takes the module itself.
//  - The cache is made after running representative commands (`hull run` of a missing image,
//    `hull ps`, `hull-oci state`…, and as root a real container's create/start/delete and run),
//    so V8 stores the functions they compiled too, not only the top level.
//
// A failure to make a cache is a warning, never a failed build: bin/ works without one.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

const repo = path.join(__dirname, '..');
const dist = path.join(repo, 'dist');

/** Builtins whose export is a plain object (so a stand-in object with getters can replace it). */
const LAZY_BUILTINS = ['child_process', 'crypto', 'zlib', 'net', 'worker_threads', 'stream', 'stream/promises'];

const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(build) {
    const filter = new RegExp(`^(node:)?(${LAZY_BUILTINS.join('|')})$`);
    build.onResolve({ filter }, (args) => {
      const name = args.path.replace(/^node:/, '');
      // The stand-in's own require of the real module stays a plain external require.
      if (args.namespace === 'lazy-builtin') return { path: `node:${name}`, external: true };
      return { path: name, namespace: 'lazy-builtin' };
    });
    build.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => {
      const names = Object.getOwnPropertyNames(require(args.path)).filter((k) => k !== '__esModule');
      return {
        loader: 'js',
        contents: [
          `// node:${args.path}, loaded on first use of any of its exports (scripts/build-bundle.js).`,
          `let real;`,
          `const load = () => real || (real = require("node:${args.path}"));`,
          `for (const name of ${JSON.stringify(names)}) {`,
          `  Object.defineProperty(exports, name, { enumerable: true, configurable: true, get: () => load()[name] });`,
          `}`,
        ].join('\n'),
      };
    });
  },
};

/** `__importStar(require("node:fs"))` → `require("node:fs")` in tsc's output (see the top). */
const plainNamespaceImports = {
  name: 'plain-namespace-imports',
  setup(build) {
    build.onLoad({ filter: /\.js$/ }, (args) => {
      if (!args.path.startsWith(dist + path.sep)) return undefined; // hull's own modules only
      return {
        loader: 'js',
        contents: fs.readFileSync(args.path, 'utf8').replace(/__importStar\(require\("(?:node:)?(fs|path|os)"\)\)/g, 'require("node:$1")'),
      };
    });
  },
};

async function bundle(entry, outfile) {
  const esbuild = require('esbuild');
  await esbuild.build({
    entryPoints: [path.join(dist, entry)],
    outfile: path.join(dist, outfile),
    bundle: true,
    platform: 'node',
    target: 'node20',
    logLevel: 'warning',
    plugins: [lazyBuiltins, plainNamespaceImports],
  });
  asciiOnly(path.join(dist, outfile));
}

/**
 * esbuild escapes non-ASCII characters in strings but keeps comments as written: escape those
 * too (\uXXXX means the same character in a string, a regex or an identifier, and nothing in a
 * comment), so bin/load-bundle.js can decode the bundle as latin1, much faster than as UTF-8.
 */
function asciiOnly(file) {
  const text = fs.readFileSync(file, 'utf8');
  // eslint-disable-next-line no-control-regex
  const escaped = text.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (escaped !== text) fs.writeFileSync(file, escaped);
}

/**
 * What the cache is made from: commands that need no image and no network, but run through the
 * same code as the common ones (argument parsing, the manager, the runtime's state). As root with
 * the native build done (`npm install` builds it before the TypeScript), hull-oci's cache also
 * comes from a real container's lifecycle (`realBundle`): containerd's create/start/state/delete
 * and `run` compile the spawn path, the plan, the cgroup drivers and the helper's protocol, which
 * would otherwise be compiled lazily by every command.
 */
function cacheWorkloads(scratch, real) {
  const oci = [
    ['--root', scratch, 'state', 'hull-cache-warmup'],
    ['--root', scratch, 'list'],
    ['--root', scratch, 'delete', '--force', 'hull-cache-warmup'],
  ];
  if (real) {
    const id = `hull-cache-warmup-${process.pid}`;
    oci.push(
      ['--root', scratch, 'create', '--bundle', real, id],
      ['--root', scratch, 'state', id],
      ['--root', scratch, 'start', id],
      ['--root', scratch, 'delete', '--force', id],
      ['--root', scratch, 'run', '--bundle', real, id],
    );
  } else {
    oci.push(['--root', scratch, 'create', '--bundle', path.join(scratch, 'none'), 'hull-cache-warmup']);
  }
  return {
    'hull-cli.js': [
      ['--root', scratch, 'run', '--rm', '--pull', 'never', 'hull-cache-warmup/none:1', 'true'],
      ['--root', scratch, 'ps', '-a'],
      ['--root', scratch, 'rm', '-f', 'hull-cache-warmup'],
      ['--root', scratch, 'images'],
    ],
    'hull-oci.js': oci,
  };
}

/**
 * A bundle in `dir` whose container runs build/Release/hull-probe (static, so the rootfs needs
 * nothing else) and exits 0 at once, with hull's default spec (what `hull-oci spec` writes, close
 * to containerd's). Undefined when a real container can't run here: not root, or no native build.
 */
function realBundle(dir) {
  const probe = path.join(repo, 'build', 'Release', 'hull-probe');
  if (process.getuid?.() !== 0) return undefined;
  if (!['hull-probe', 'hull-helper', 'hull_native.node'].every((f) => fs.existsSync(path.join(repo, 'build', 'Release', f)))) return undefined;
  const rootfs = path.join(dir, 'rootfs');
  for (const d of ['proc', 'dev', 'sys', 'tmp']) fs.mkdirSync(path.join(rootfs, d), { recursive: true });
  fs.copyFileSync(probe, path.join(rootfs, 'hull-probe'));
  fs.chmodSync(path.join(rootfs, 'hull-probe'), 0o755);
  const spec = require(path.join(dist, 'runtime', 'spec.js')).defaultSpec();
  spec.process.terminal = false;
  spec.process.args = ['/hull-probe', 'exit', '0'];
  spec.root = { path: 'rootfs', readonly: true };
  spec.linux = { ...spec.linux, cgroupsPath: `/hull-cache-warmup-${process.pid}` };
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(spec));
  return dir;
}

/**
 * In a child process: load `bundle` uncached, run its workloads with output discarded, write the
 * cache. `real` (a bundle directory, or '') adds a real container's lifecycle, each command of
 * which must succeed: the child then fails with the command's stderr, and no cache is written.
 */
async function makeCacheChild(bundleName, scratch, real) {
  const file = path.join(dist, bundleName);
  const { runCached } = require('../bin/load-bundle');
  const loaded = runCached(file, undefined);
  if (!loaded) throw new Error(`cannot compile ${file}`);
  const realExit = process.exit;
  const realStderr = process.stderr.write.bind(process.stderr);
  let said = '';
  process.stdout.write = () => true;
  process.stderr.write = (chunk) => ((said += chunk), true);
  for (const argv of cacheWorkloads(scratch, real || undefined)[bundleName]) {
    said = '';
    // main() either settles its promise (hull-oci) or calls process.exit (hull): wait for either.
    const code = await new Promise((resolve) => {
      process.exit = (c) => resolve(c ?? process.exitCode);
      Promise.resolve(loaded.exports.main(argv)).then(() => resolve(process.exitCode), () => resolve(1));
    });
    process.exitCode = 0;
    if (real && argv.includes(real) && code) {
      realStderr(`hull-oci ${argv.slice(2).join(' ')}: exit ${code}: ${said.trim()}\n`);
      realExit(1);
    }
  }
  process.exit = realExit;
  const data = loaded.script.createCachedData();
  const tmp = `${file}.cache.${process.pid}.tmp`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, `${file}.cache`);
  realExit(0);
}

/** Runs the cache child; the reason it made no cache, or undefined. */
function runCacheChild(bundleName, scratch, real = '') {
  const r = spawnSync(process.execPath, [__filename, '--make-cache', bundleName, scratch, real], { encoding: 'utf8', timeout: 60_000 });
  if (r.status === 0 && fs.existsSync(path.join(dist, `${bundleName}.cache`))) return undefined;
  return (r.stderr || r.error?.message || `exit ${r.status}`).trim();
}

/**
 * What a real container's workloads left behind that they should have removed: its cgroup (in
 * each v1 hierarchy, or the v2 root) and state. The cgroups are removed here if empty.
 */
function leftovers(stateRoot) {
  const left = [];
  const cgroupName = `hull-cache-warmup-${process.pid}`;
  const hierarchies = ['/sys/fs/cgroup', ...fs.readdirSync('/sys/fs/cgroup').map((d) => path.join('/sys/fs/cgroup', d))];
  for (const dir of hierarchies.map((h) => path.join(h, cgroupName)).filter((d) => fs.existsSync(d))) {
    left.push(dir);
    try {
      fs.rmdirSync(dir);
    } catch {
      /* still has processes: reported */
    }
  }
  for (const entry of fs.existsSync(stateRoot) ? fs.readdirSync(stateRoot) : []) left.push(path.join(stateRoot, entry));
  return left;
}

function makeCache(bundleName) {
  const cache = path.join(dist, `${bundleName}.cache`);
  fs.rmSync(cache, { force: true }); // a stale cache would only be rejected
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'hull-cache-'));
  try {
    const stateRoot = path.join(scratch, 'state');
    const real = bundleName === 'hull-oci.js' ? realBundle(path.join(scratch, 'bundle')) : undefined;
    let why = real && runCacheChild(bundleName, stateRoot, real);
    if (real) {
      const left = leftovers(stateRoot);
      if (left.length) process.stderr.write(`build-bundle: the cache's container left ${left.join(', ')} behind\n`);
      if (why) process.stderr.write(`build-bundle: the code cache for ${bundleName} comes from commands without a container: ${why}\n`);
    }
    if (!real || why) why = runCacheChild(bundleName, stateRoot);
    if (why) process.stderr.write(`build-bundle: no code cache for ${bundleName} (bin/ works without it): ${why}\n`);
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

async function main() {
  if (process.argv[2] === '--make-cache') return makeCacheChild(process.argv[3], process.argv[4], process.argv[5]);
  await bundle('cli/main.js', 'hull-cli.js');
  await bundle('oci/main.js', 'hull-oci.js');
  makeCache('hull-cli.js');
  makeCache('hull-oci.js');
}

main().catch((err) => {
  process.stderr.write(`build-bundle: ${err.stack ?? err}\n`);
  process.exit(1);
});
