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
//    `hull ps`, `hull-oci state`…), so V8 stores the functions they compiled too, not only the
//    top level.
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
 * What the cache is made from: commands that need no root, no image and no network, but run
 * through the same code as the common ones (argument parsing, the manager, the runtime's state).
 */
function cacheWorkloads(scratch) {
  return {
    'hull-cli.js': [
      ['--root', scratch, 'run', '--rm', '--pull', 'never', 'hull-cache-warmup/none:1', 'true'],
      ['--root', scratch, 'ps', '-a'],
      ['--root', scratch, 'rm', '-f', 'hull-cache-warmup'],
      ['--root', scratch, 'images'],
    ],
    'hull-oci.js': [
      ['--root', scratch, 'state', 'hull-cache-warmup'],
      ['--root', scratch, 'list'],
      ['--root', scratch, 'delete', '--force', 'hull-cache-warmup'],
      ['--root', scratch, 'create', '--bundle', path.join(scratch, 'none'), 'hull-cache-warmup'],
    ],
  };
}

/** In a child process: load `bundle` uncached, run its workloads with output discarded, write the cache. */
async function makeCacheChild(bundleName, scratch) {
  const file = path.join(dist, bundleName);
  const { runCached } = require('../bin/load-bundle');
  const loaded = runCached(file, undefined);
  if (!loaded) throw new Error(`cannot compile ${file}`);
  const realExit = process.exit;
  const quiet = () => true;
  process.stdout.write = quiet;
  process.stderr.write = quiet;
  for (const argv of cacheWorkloads(scratch)[bundleName]) {
    // main() either settles its promise (hull-oci) or calls process.exit (hull): wait for either.
    await new Promise((resolve) => {
      process.exit = () => resolve();
      Promise.resolve(loaded.exports.main(argv)).then(resolve, resolve);
    });
    process.exitCode = 0;
  }
  process.exit = realExit;
  const data = loaded.script.createCachedData();
  const tmp = `${file}.cache.${process.pid}.tmp`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, `${file}.cache`);
  realExit(0);
}

function makeCache(bundleName) {
  const cache = path.join(dist, `${bundleName}.cache`);
  fs.rmSync(cache, { force: true }); // a stale cache would only be rejected
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'hull-cache-'));
  try {
    const r = spawnSync(process.execPath, [__filename, '--make-cache', bundleName, scratch], { encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0 || !fs.existsSync(cache)) {
      process.stderr.write(`build-bundle: no code cache for ${bundleName} (bin/ works without it): ${(r.stderr || r.error?.message || `exit ${r.status}`).trim()}\n`);
    }
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

async function main() {
  if (process.argv[2] === '--make-cache') return makeCacheChild(process.argv[3], process.argv[4]);
  await bundle('cli/main.js', 'hull-cli.js');
  await bundle('oci/main.js', 'hull-oci.js');
  makeCache('hull-cli.js');
  makeCache('hull-oci.js');
}

main().catch((err) => {
  process.stderr.write(`build-bundle: ${err.stack ?? err}\n`);
  process.exit(1);
});
