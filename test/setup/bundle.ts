// Test bundles: a busybox+probe rootfs and a config.json from a test-friendly default (runc's
// `spec` without a terminal), with per-test overrides.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { defaultSpec, type Spec } from '../../src/runtime/spec';
import { makeBusyboxRootfs, removeTree, tempDir } from './rootfs';

export interface BundleOptions {
  args?: string[];
  /** Changes the spec in place after the defaults are set. */
  edit?: (spec: Spec) => void;
  /** Top-level fields to replace. */
  overrides?: Partial<Spec>;
}

export interface Bundle {
  dir: string;
  rootfs: string;
  spec: Spec;
  /** Rewrite config.json after editing `spec`. */
  save(): void;
  cleanup(): void;
}

/** runc's default config, without a terminal, with a writable root and a PATH for busybox. */
export function testSpec(args: string[] = ['/bin/true']): Spec {
  const spec = defaultSpec();
  spec.process!.terminal = false;
  spec.process!.args = args;
  spec.process!.env = ['PATH=/bin:/usr/bin:/sbin', 'HOME=/root'];
  spec.root!.readonly = false;
  spec.hostname = 'hull-test';
  return spec;
}

export function makeBundle(opts: BundleOptions = {}): Bundle {
  const dir = tempDir('hull-bundle-');
  const rootfs = makeBusyboxRootfs(path.join(dir, 'rootfs'));
  const spec: Spec = { ...testSpec(opts.args), ...(opts.overrides ?? {}) };
  opts.edit?.(spec);
  const save = () => fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(spec, null, 2));
  save();
  return { dir, rootfs, spec, save, cleanup: () => removeTree(dir) };
}
