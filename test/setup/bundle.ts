// Test bundles: a busybox+probe rootfs and a config.json from a test-friendly default (runc's
// `spec` without a terminal), with per-test overrides.
import { spawnSync } from 'node:child_process';
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

// ---- driving bin/hull-oci from tests ----
export const HULL_OCI = path.resolve(__dirname, '../../bin/hull-oci');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `bin/hull-oci --root <root> --log <log> --log-format json ARGS`. Output goes through files,
 * not pipes: a created container inherits the CLI's stdio and would hold a pipe open forever.
 */
export function hullOci(root: string, args: string[], opts: { log?: string; input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): CliResult {
  const dir = tempDir('hull-cli-');
  try {
    const out = fs.openSync(path.join(dir, 'out'), 'w+');
    const err = fs.openSync(path.join(dir, 'err'), 'w+');
    const logArgs = opts.log ? ['--log', opts.log, '--log-format', 'json'] : [];
    const res = spawnSync(process.execPath, [HULL_OCI, '--root', root, ...logArgs, ...args], {
      stdio: [opts.input !== undefined ? 'pipe' : 'ignore', out, err],
      input: opts.input,
      timeout: opts.timeoutMs ?? 60_000,
      env: opts.env ? { ...process.env, ...opts.env } : undefined,
    });
    fs.closeSync(out);
    fs.closeSync(err);
    return {
      code: res.status ?? 128,
      stdout: fs.readFileSync(path.join(dir, 'out'), 'utf8'),
      stderr: fs.readFileSync(path.join(dir, 'err'), 'utf8'),
    };
  } finally {
    removeTree(dir);
  }
}

/** A unique container id for this test process. */
export function uniqueId(prefix: string): string {
  return `${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Host cgroup directories named after the container (leak checks on v1 and v2). */
export function cgroupDirsContaining(needle: string): string[] {
  const found: string[] = [];
  const roots = fs.existsSync('/sys/fs/cgroup/memory')
    ? fs.readdirSync('/sys/fs/cgroup').map((d) => path.join('/sys/fs/cgroup', d))
    : ['/sys/fs/cgroup'];
  for (const root of roots) {
    const parent = path.join(root, 'hull-oci');
    let entries: string[] = [];
    try {
      entries = fs.readdirSync(parent);
    } catch {
      continue;
    }
    for (const e of entries) if (e.includes(needle)) found.push(path.join(parent, e));
  }
  return found;
}
