// bin/load-bundle.js: the bundles load through vm.Script with their V8 code cache, and nothing about
// the cache (missing, stale, garbage) may keep `hull` from starting.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { loadBundle, runCached } = require('../../bin/load-bundle.js') as {
  loadBundle: (dist: string, bundle: string, entry: string) => { answer: () => string };
  runCached: (file: string, cachedData?: Buffer) => { exports: { answer: () => string }; script: { cachedDataRejected?: boolean; createCachedData(): Buffer } } | null;
};

let dir: string;
let n = 0;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hull-load-bundle-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A CommonJS "bundle" using require, module and __dirname, as esbuild's output does. */
function writeBundle(name: string, text = 'from the bundle'): string {
  const file = path.join(dir, name);
  // A distinct source per call: the module cache would otherwise hand back the first one.
  fs.writeFileSync(file, `'use strict';\n// ${n++}\nconst path = require('path');\nmodule.exports.answer = () => ${JSON.stringify(text)} + ':' + path.basename(__dirname);\n`);
  return file;
}

describe('bin/load-bundle', () => {
  it('runs a module through vm.Script and makes a cache V8 then accepts', () => {
    const file = writeBundle('b1.js');
    const first = runCached(file, undefined)!;
    expect(first.exports.answer()).toBe(`from the bundle:${path.basename(dir)}`);
    const cache = first.script.createCachedData();
    const second = runCached(file, cache)!;
    expect(second.script.cachedDataRejected).toBe(false);
    expect(second.exports.answer()).toBe(`from the bundle:${path.basename(dir)}`);
  });

  it('ignores a cache V8 rejects (garbage, or made for other source)', () => {
    const file = writeBundle('b2.js');
    const loaded = runCached(file, Buffer.from('not a code cache'))!;
    expect(loaded.script.cachedDataRejected).toBe(true);
    expect(loaded.exports.answer()).toBe(`from the bundle:${path.basename(dir)}`);
  });

  it('loads the bundle, with or without its .cache file, when it is newer than the entry', () => {
    const entry = writeBundle('entry.js', 'from the entry');
    const bundle = writeBundle('bundle.js');
    fs.utimesSync(entry, new Date(1000), new Date(1000));
    expect(loadBundle(dir, 'bundle.js', 'entry.js').answer()).toMatch(/^from the bundle:/);
    fs.writeFileSync(`${bundle}.cache`, 'garbage');
    writeBundle('bundle.js', 'rebuilt'); // new source, same name: what answers is the file as it is now
    expect(loadBundle(dir, 'bundle.js', 'entry.js').answer()).toMatch(/^rebuilt:/);
  });

  it('requires the entry instead when tsc wrote it after the bundle', () => {
    const bundle = writeBundle('bundle2.js');
    writeBundle('entry2.js', 'from the entry');
    fs.utimesSync(bundle, new Date(1000), new Date(1000));
    expect(loadBundle(dir, 'bundle2.js', 'entry2.js').answer()).toMatch(/^from the entry:/);
  });

  it('returns null for a file it cannot compile, so the caller require()s it', () => {
    const file = path.join(dir, 'broken.js');
    fs.writeFileSync(file, 'this is not javascript (');
    expect(runCached(file, undefined)).toBeNull();
    expect(runCached(path.join(dir, 'missing.js'), undefined)).toBeNull();
  });
});
