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
//    level only for executable subcommands, which hull has none of; `run` needs no zlib. os (~0.5
//    ms to load) serves hull-oci only for signal and errno numbers, which a plain run never needs.
//  - tsc's `import * as fs from 'node:fs'` (`__importStar(require("node:fs"))`) copies every export
//    of fs, path, os (and the lazy builtins below) into a new object of getters, in each of the
//    ~60 modules; hull's code never uses the `default` that copy adds, so the bundle takes the
//    module itself.
//  - The cache is made after running representative commands (`hull run` of a missing image,
//    `hull ps`, `hull-oci state`…, and as root a real container's create/start/delete and run),
//    so V8 stores the functions they compiled too, not only the top level. hull-oci's
//    containerd verbs, `run` and `list` get a cache each, from that verb alone (VERB_CACHES in
//    bin/hull-oci): V8 deserializes a whole cache before running anything, and `state` needs
//    half of the cache for every verb.
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
const LAZY_BUILTINS = ['child_process', 'crypto', 'zlib', 'net', 'worker_threads', 'stream', 'stream/promises', 'os'];

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
    // A proxy over the export names known at build time, not a getter per export: making the
    // stand-in then costs the same for crypto's ~70 exports as for one (a getter each was ~0.3 ms
    // of every hull-oci start for os and crypto). Listing names, describing them and tsc's or
    // esbuild's `__esModule` check don't load the module: interop helpers that copy a namespace
    // (`import * as`, tar's bundled code) get lazy getters.
    build.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => {
      const names = Object.getOwnPropertyNames(require(args.path)).filter((k) => k !== '__esModule' && k !== 'default');
      return {
        loader: 'js',
        contents: [
          `// node:${args.path}, loaded on first use of any of its exports (scripts/build-bundle.js).`,
          `let real;`,
          `const load = () => real || (real = require("node:${args.path}"));`,
          `const names = ${JSON.stringify(names)};`,
          `module.exports = new Proxy({}, {`,
          `  get: (_, name) => (name === '__esModule' ? undefined : load()[name]),`,
          `  has: (_, name) => names.includes(name),`,
          `  ownKeys: () => names,`,
          `  getOwnPropertyDescriptor: (_, name) =>`,
          `    names.includes(name) ? { configurable: true, enumerable: true, get: () => load()[name] } : undefined,`,
          `});`,
        ].join('\n'),
      };
    });
  },
};

/** `__importStar(require("node:fs"))` of the plain builtins and the lazy ones. */
const STAR_IMPORT_OF_BUILTIN = new RegExp(`__importStar\\(require\\("(?:node:)?(fs|path|os|${LAZY_BUILTINS.join('|')})"\\)\\)`, 'g');

/**
 * tsc's interop helpers that a module defines (and runs, at its first require) for nothing once
 * its `__importStar` calls are gone: each module has its own copy. Removed only when no use is
 * left.
 */
const TSC_STAR_HELPERS = [
  /^var __createBinding = \(this && this\.__createBinding\)[\s\S]*?^\}\)\);\n/m,
  /^var __setModuleDefault = \(this && this\.__setModuleDefault\)[\s\S]*?^\}\);\n/m,
  /^var __importStar = \(this && this\.__importStar\)[\s\S]*?^\}\)\(\);\n/m,
];

function withoutUnusedStarHelpers(text) {
  const stripped = TSC_STAR_HELPERS.reduce((t, helper) => t.replace(helper, ''), text);
  return /__createBinding|__setModuleDefault|__importStar/.test(stripped) ? text : stripped;
}

/**
 * `__importStar(require("node:fs"))` → `require("node:fs")` in tsc's output (see the top), and
 * then the helpers that no longer serve.
 */
const plainNamespaceImports = {
  name: 'plain-namespace-imports',
  setup(build) {
    build.onLoad({ filter: /\.js$/ }, (args) => {
      if (!args.path.startsWith(dist + path.sep)) return undefined; // hull's own modules only
      const text = fs.readFileSync(args.path, 'utf8').replace(STAR_IMPORT_OF_BUILTIN, 'require("node:$1")');
      return { loader: 'js', contents: withoutUnusedStarHelpers(text) };
    });
  },
};

/** Removes the code caches made for an older dist/<bundle>. */
function removeCaches(bundleName) {
  for (const f of fs.readdirSync(dist)) {
    if (f.startsWith(`${bundleName}.`) && f.endsWith('.cache')) fs.rmSync(path.join(dist, f), { force: true });
  }
}

async function bundle(entry, outfile) {
  const esbuild = require('esbuild');
  // Before the bundle changes: V8 checks a cache against the source's length only, so a cache
  // left from an older bundle (should making the new ones fail) could be taken for the new one.
  removeCaches(outfile);
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
 *
 * A workload is an argv run in the cache's process, or `{ separate: argv }`, run by bin/hull-oci
 * in a process of its own (to set up or clean up a container without adding its code to the
 * cache). Commands on the real container (`id`) must succeed.
 */
function cacheWorkloads(scratch, real, id) {
  const oci = [
    ['--root', scratch, 'state', 'hull-cache-warmup'],
    ['--root', scratch, 'list'],
    ['--root', scratch, 'delete', '--force', 'hull-cache-warmup'],
  ];
  if (real) {
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

/** The workloads for one verb's cache (VERB_CACHES): that verb alone, on a real container. */
function verbWorkloads(scratch, real, id, verb) {
  const oci = (...args) => ['--root', scratch, ...args];
  const create = { separate: oci('create', '--bundle', real, id) };
  const remove = { separate: oci('delete', '--force', id) };
  return {
    create: [oci('create', '--bundle', real, id), remove],
    start: [create, oci('start', id), remove],
    state: [create, oci('state', id), remove],
    kill: [create, oci('kill', id, 'KILL'), remove],
    delete: [create, { separate: oci('start', id) }, oci('delete', '--force', id)],
    run: [oci('run', '--bundle', real, id)],
    list: [create, oci('list'), remove],
    // As containerd's shim execs: a process file, detached, with a pid file.
    exec: [
      { separate: oci('create', '--bundle', path.join(real, 'long'), id) },
      { separate: oci('start', id) },
      oci('exec', '--process', path.join(real, 'exec-process.json'), '--detach', '--pid-file', path.join(real, 'exec.pid'), id),
      remove,
    ],
  }[verb];
}

/**
 * A bundle in `dir` whose container runs build/Release/hull-probe (static, so the rootfs needs
 * nothing else) and exits 0 at once, with hull's default spec (what `hull-oci spec` writes, close
 * to containerd's); `dir`/long, the same container running for 30 s (to exec in), and
 * `dir`/exec-process.json, the process exec runs. Undefined when a real container can't run
 * here: not root, or no native build.
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
  fs.writeFileSync(path.join(dir, 'exec-process.json'), JSON.stringify(spec.process));
  fs.mkdirSync(path.join(dir, 'long'));
  const long = { ...spec, root: { path: rootfs, readonly: true }, process: { ...spec.process, args: ['/hull-probe', 'sleep', '30'] } };
  fs.writeFileSync(path.join(dir, 'long', 'config.json'), JSON.stringify(long));
  return dir;
}

/**
 * bin/hull-oci ARGV in a process of its own; its stderr if it fails. Its stderr goes to a file:
 * the container it creates keeps its stdio open, so reading a pipe to its end would wait for that.
 */
function separately(argv) {
  const errFile = path.join(os.tmpdir(), `hull-cache-${process.pid}.err`);
  const err = fs.openSync(errFile, 'w+');
  try {
    const r = spawnSync(process.execPath, [path.join(repo, 'bin', 'hull-oci.js'), ...argv], { stdio: ['ignore', 'ignore', err], timeout: 30_000 });
    return r.status === 0 ? undefined : (fs.readFileSync(errFile, 'utf8') || r.error?.message || `exit ${r.status}`).trim();
  } finally {
    fs.closeSync(err);
    fs.rmSync(errFile, { force: true });
  }
}

/**
 * In a child process: load `bundle` uncached, run its workloads with output discarded, write the
 * cache (<bundle>.cache, or <bundle>.<verb>.cache for one verb's). `real` (a bundle directory, or
 * '') adds a real container, every command on which must succeed: else the child removes the
 * container and fails with the command's stderr, and writes no cache.
 */
async function makeCacheChild(bundleName, scratch, real, verb) {
  const file = path.join(dist, bundleName);
  const { runCached } = require('../bin/load-bundle');
  const loaded = runCached(file, undefined);
  if (!loaded) throw new Error(`cannot compile ${file}`);
  const id = `hull-cache-warmup-${process.pid}`;
  const realExit = process.exit;
  const realStderr = process.stderr.write.bind(process.stderr);
  const fail = (argv, why) => {
    separately(['--root', scratch, 'delete', '--force', id]);
    realStderr(`hull-oci ${argv.slice(2).join(' ')}: ${why}\n`);
    realExit(1);
  };
  let said = '';
  process.stdout.write = () => true;
  process.stderr.write = (chunk) => ((said += chunk), true);
  const workloads = verb ? verbWorkloads(scratch, real, id, verb) : cacheWorkloads(scratch, real || undefined, id)[bundleName];
  for (const argv of workloads) {
    if (argv.separate) {
      const why = separately(argv.separate);
      if (why) fail(argv.separate, why);
      continue;
    }
    said = '';
    // main() either settles its promise (hull-oci) or calls process.exit (hull): wait for either.
    const code = await new Promise((resolve) => {
      process.exit = (c) => resolve(c ?? process.exitCode);
      Promise.resolve(loaded.exports.main(argv)).then(() => resolve(process.exitCode), () => resolve(1));
    });
    process.exitCode = 0;
    if (argv.includes(id) && code) fail(argv, `exit ${code}: ${said.trim()}`);
  }
  process.exit = realExit;
  const data = loaded.script.createCachedData();
  const cache = verb ? `${file}.${verb}.cache` : `${file}.cache`;
  const tmp = `${cache}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, cache);
  realExit(0);
}

/** Runs the cache child; the reason it made no cache, or undefined. */
function runCacheChild(bundleName, scratch, real = '', verb = '') {
  const r = spawnSync(process.execPath, [__filename, '--make-cache', bundleName, scratch, real, verb], { encoding: 'utf8', timeout: 60_000 });
  if (r.status === 0 && fs.existsSync(path.join(dist, verb ? `${bundleName}.${verb}.cache` : `${bundleName}.cache`))) return undefined;
  return (r.stderr || r.error?.message || `exit ${r.status}`).trim();
}

/**
 * What the real containers left behind that they should have removed: their cgroup (in each v1
 * hierarchy, or the v2 root) and state. The cgroups are removed here if empty.
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
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'hull-cache-'));
  try {
    const stateRoot = path.join(scratch, 'state');
    const real = bundleName === 'hull-oci.js' ? realBundle(path.join(scratch, 'bundle')) : undefined;
    let why = real && runCacheChild(bundleName, stateRoot, real);
    if (real && !why) {
      for (const verb of require('../bin/load-bundle').VERB_CACHES) {
        const whyVerb = runCacheChild(bundleName, stateRoot, real, verb);
        if (whyVerb) process.stderr.write(`build-bundle: no code cache of its own for hull-oci ${verb} (it uses ${bundleName}.cache): ${whyVerb}\n`);
      }
    }
    if (real) {
      const left = leftovers(stateRoot);
      if (left.length) process.stderr.write(`build-bundle: the cache's containers left ${left.join(', ')} behind\n`);
      if (why) process.stderr.write(`build-bundle: the code cache for ${bundleName} comes from commands without a container: ${why}\n`);
    }
    if (!real || why) why = runCacheChild(bundleName, stateRoot);
    if (why) process.stderr.write(`build-bundle: no code cache for ${bundleName} (bin/ works without it): ${why}\n`);
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

async function main() {
  if (process.argv[2] === '--make-cache') return makeCacheChild(process.argv[3], process.argv[4], process.argv[5], process.argv[6]);
  require('./pin-bin').pinBin(); // the commands follow bin/*.js (see there)
  await bundle('cli/main.js', 'hull-cli.js');
  await bundle('oci/main.js', 'hull-oci.js');
  makeCache('hull-cli.js');
  makeCache('hull-oci.js');
}

main().catch((err) => {
  process.stderr.write(`build-bundle: ${err.stack ?? err}\n`);
  process.exit(1);
});
