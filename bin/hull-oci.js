#!/usr/bin/env node
// runc-compatible OCI runtime entry point, and the loader of the single-file bundles `npm install`
// makes (dist/hull-oci.js, dist/hull-cli.js): bin/hull and scripts/build-bundle.js use the loader
// through bin/load-bundle.js. It lives here because containerd calls hull-oci 4-5 times per
// container: as one module, hull-oci's start pays for no second module lookup and compile (~1 ms).
//
// The command is bin/hull-oci: this file with the Node that built hull in its #! line, written by
// scripts/pin-bin.js at `npm install` and at every build. Edit this file, not that one.
//
// A bundle is loaded with the V8 code cache made next to it at build time (<bundle>.cache,
// scripts/build-bundle.js): V8 then skips parsing and compiling it (the largest part of its load
// time). A cache V8 rejects (another Node version, other V8 flags, a rebuilt bundle) is ignored:
// the bundle is compiled as usual. A bundle older than what tsc last wrote (a developer's tree) is
// not used at all: the unbundled entry is required instead.
'use strict';
const fs = require('fs');
const path = require('path');

function fresh(bundle, source) {
  try {
    return fs.statSync(bundle).mtimeMs >= fs.statSync(source).mtimeMs;
  } catch {
    return false;
  }
}

/**
 * Runs `file` as a CommonJS module compiled through vm.Script with `cachedData` (what require()
 * does, minus the cache). Returns { exports, script } (script: for createCachedData), or null when
 * the file can't be read or compiled this way (the caller then require()s it).
 *
 * The bundles require only Node builtins, so they get this file's own `require` and a plain module
 * object: Node's public `module` builtin (Module.wrap, createRequire) would load the ES module
 * loader with it, ~1 ms of compiling that no hull command uses.
 */
function runCached(file, cachedData) {
  const vm = require('vm');
  let script;
  try {
    const bytes = fs.readFileSync(file);
    // The build escapes every non-ASCII character, so the bundle decodes as latin1: a plain copy
    // into a one-byte string, where UTF-8 decoding of the ~800 KB costs milliseconds.
    const source = require('buffer').isAscii?.(bytes) ? bytes.latin1Slice(0, bytes.length) : bytes.toString('utf8');
    const wrapped = `(function (exports, require, module, __filename, __dirname) { ${source}\n});`;
    script = new vm.Script(wrapped, { filename: file, cachedData });
  } catch {
    return null;
  }
  const mod = { exports: {}, filename: file, loaded: false };
  script.runInThisContext()(mod.exports, require, mod, file, path.dirname(file));
  mod.loaded = true;
  return { exports: mod.exports, script };
}

function readCache(file) {
  try {
    return fs.readFileSync(file);
  } catch {
    return undefined;
  }
}

/**
 * The exports of dist/<bundle> (with its code cache) or, if tsc rebuilt dist/ since, of
 * dist/<entry>. With `variant`, the cache is <bundle>.<variant>.cache if the build made one, else
 * <bundle>.cache.
 */
function loadBundle(dist, bundle, entry, variant) {
  const file = path.join(dist, bundle);
  if (!fresh(file, path.join(dist, entry))) return require(path.join(dist, entry));
  const cache = (variant && readCache(`${file}.${variant}.cache`)) || readCache(`${file}.cache`);
  const loaded = runCached(file, cache);
  return loaded ? loaded.exports : require(file);
}

/**
 * The hull-oci verbs the build makes a code cache of their own for, from that verb alone: V8
 * deserializes a whole cache up front (~6.5 us per KB here), and `state` needs half of what the
 * cache for every verb holds. containerd's calls, `run` and `list`.
 */
const VERB_CACHES = ['create', 'start', 'state', 'kill', 'delete', 'exec', 'run', 'list'];

/** The verb in hull-oci's argv (after src/oci/main.ts's global flags), if it has its own cache. */
function cachedVerb(argv) {
  for (let i = 0; i < argv.length; i++) {
    if (!argv[i].startsWith('-')) return VERB_CACHES.includes(argv[i]) ? argv[i] : undefined;
    if (/^--?(root|log|log-format|rootless|criu)$/.test(argv[i])) i++; // flags that take a value
  }
  return undefined;
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  const oci = loadBundle(path.join(__dirname, '..', 'dist'), 'hull-oci.js', 'oci/main.js', cachedVerb(argv));
  // Output is written synchronously and main awaits all its work: end without Node's teardown.
  oci.main(argv).then(() => oci.exit(process.exitCode ?? 0));
} else {
  module.exports = { loadBundle, runCached, VERB_CACHES };
}
