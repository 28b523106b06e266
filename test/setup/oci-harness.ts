// What every hull-oci command-line test file repeats: a private --root (and a work dir for logs and
// hook output), bundles and container ids remembered for cleanup, `oci` / `ok` runners, and the
// leak check after delete. Register `afterEachTest` and `afterAllTests` with vitest.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from 'vitest';
import { cgroupDirsContaining, hullOci, makeBundle, uniqueId, type Bundle, type BundleOptions } from './bundle';
import { mountsContaining, processesContaining, removeTree, tempDir } from './rootfs';

export interface OciHarness {
  /** The --root every command of this file uses (/run/hull-oci-test-<name>-<pid>). */
  readonly root: string;
  /** A temp dir removed at the end: hook output, logs, sockets. */
  readonly work: string;
  /** Runs bin/hull-oci with the root (and `--log <work>/log.json --log-format json` with `log`). */
  oci(...args: string[]): ReturnType<typeof hullOci>;
  /** oci() with HULL_TRACE=1: stderr has the explain lines. */
  ociTraced(...args: string[]): ReturnType<typeof hullOci>;
  /** oci(), expecting exit 0 (the assertion shows stderr); returns stdout. */
  ok(...args: string[]): string;
  /** makeBundle, removed at the end. */
  bundle(args: string[], edit?: BundleOptions['edit']): Bundle;
  /** Remember a bundle made elsewhere for removal at the end. */
  track(b: Bundle): Bundle;
  /** A unique id, force-deleted after the test. */
  newId(prefix: string): string;
  /** After delete: no mount, cgroup, process or state directory of the container is left. */
  expectNoLeaks(id: string, b: Bundle): void;
  afterEachTest(): void;
  afterAllTests(): void;
}

export function ociHarness(name: string, opts: { log?: boolean } = {}): OciHarness {
  const root = `/run/hull-oci-test-${name}-${process.pid}`;
  const work = tempDir(`hull-oci-${name}-`);
  const bundles: Bundle[] = [];
  const ids: string[] = [];
  const log = opts.log ? path.join(work, 'log.json') : undefined;
  const oci = (...args: string[]) => hullOci(root, args, { log });
  const track = (b: Bundle) => {
    bundles.push(b);
    return b;
  };
  return {
    root,
    work,
    oci,
    ociTraced: (...args) => hullOci(root, args, { log, env: { HULL_TRACE: '1' } }),
    ok(...args) {
      const r = oci(...args);
      expect(r.code, `hull-oci ${args.join(' ')}: ${r.stderr}`).toBe(0);
      return r.stdout;
    },
    bundle: (args, edit) => track(makeBundle({ args, edit })),
    track,
    newId(prefix) {
      const id = uniqueId(prefix);
      ids.push(id);
      return id;
    },
    expectNoLeaks(id, b) {
      expect(mountsContaining(id)).toEqual([]);
      expect(mountsContaining(b.dir)).toEqual([]);
      expect(cgroupDirsContaining(id)).toEqual([]);
      expect(processesContaining(b.dir)).toEqual([]);
      expect(fs.existsSync(path.join(root, id))).toBe(false);
    },
    afterEachTest() {
      for (const id of ids.splice(0)) oci('delete', '--force', id);
    },
    afterAllTests() {
      for (const b of bundles.splice(0)) b.cleanup();
      removeTree(work);
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}
