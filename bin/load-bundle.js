// Loads one of the single-file bundles `npm install` makes (dist/hull-cli.js, dist/hull-oci.js)
// with the V8 code cache made next to it at build time (<bundle>.cache, scripts/build-bundle.js):
// V8 then skips parsing and compiling the ~800 KB bundle (the largest part of its load time).
// A cache V8 rejects (another Node version, other V8 flags, a rebuilt bundle) is ignored: the
// bundle is compiled as usual. A bundle older than what tsc last wrote (a developer's tree) is
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
 */
function runCached(file, cachedData) {
  const vm = require('vm');
  const Module = require('module');
  let script;
  try {
    const bytes = fs.readFileSync(file);
    // The build escapes every non-ASCII character, so the bundle decodes as latin1: a plain copy
    // into a one-byte string, where UTF-8 decoding of the ~800 KB costs milliseconds.
    const source = require('buffer').isAscii?.(bytes) ? bytes.latin1Slice(0, bytes.length) : bytes.toString('utf8');
    script = new vm.Script(Module.wrap(source), { filename: file, cachedData });
  } catch {
    return null;
  }
  const mod = new Module(file, module);
  mod.filename = file;
  mod.paths = Module._nodeModulePaths(path.dirname(file));
  Module._cache[file] = mod;
  script.runInThisContext()(mod.exports, Module.createRequire(file), mod, file, path.dirname(file));
  mod.loaded = true;
  return { exports: mod.exports, script };
}

function readCache(file) {
  try {
    return fs.readFileSync(`${file}.cache`);
  } catch {
    return undefined;
  }
}

/** The exports of dist/<bundle> (with its code cache) or, if tsc rebuilt dist/ since, of dist/<entry>. */
function loadBundle(dist, bundle, entry) {
  const file = path.join(dist, bundle);
  if (!fresh(file, path.join(dist, entry))) return require(path.join(dist, entry));
  const loaded = runCached(file, readCache(file));
  return loaded ? loaded.exports : require(file);
}

module.exports = { loadBundle, runCached };
