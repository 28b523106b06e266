// The OCI runtime-tools validation suite (github.com/opencontainers/runtime-tools, `validation/`):
// each validation file is a Go program that untars `rootfs-amd64.tar.gz` into a bundle, copies the
// static `runtimetest` checker in, drives `$RUNTIME create/start/state/kill/delete` and prints TAP.
// See docs/runtime-tools.md.
//
// Where the source comes from. Debian's golang-github-opencontainers-runtime-tools-dev ships only the
// library packages (generate, validate, specerror, cgroups, ...): no `validation/`, no
// `cmd/runtimetest`, no rootfs tarball. The Go dependencies are Debian -dev packages, except
// github.com/mndrix/tap-go, which this file provides as a small TAP writer with the same API. So the
// suite needs a runtime-tools source tree given by hand, the first of:
//   $HULL_RUNTIME_TOOLS_SRC, <cache>/src, the Debian package's directory (if it ever ships them).
// Without one the tests skip (also under CI: no registry this project reaches has the files), and
// say so; without Go or the -dev packages they skip locally and fail under CI=true.
//
// The build (GOPATH mode, offline, static runtimetest) goes to <cache>/build and is reused while
// the source path, its mtime and the Go version are unchanged. <cache> is
// $HULL_RUNTIME_TOOLS_CACHE or /var/cache/hull-runtime-tools.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { makeBusyboxRootfs, removeTree } from './rootfs';
import { isCI, run, unmountAndRemove, which } from './peers';

export const DEBIAN_RT_DIR = '/usr/share/gocode/src/github.com/opencontainers/runtime-tools';
export const GOCODE = '/usr/share/gocode';
export const CACHE_DIR = process.env.HULL_RUNTIME_TOOLS_CACHE || '/var/cache/hull-runtime-tools';
const BUILD_DIR = path.join(CACHE_DIR, 'build');
const IMPORT_PATH = 'github.com/opencontainers/runtime-tools';
/** Bump when the build recipe changes so cached builds are redone. */
const RECIPE = 1;

export const APT_PACKAGES = ['golang-go', 'golang-github-opencontainers-runtime-tools-dev', 'golang-github-google-uuid-dev', 'golang-golang-x-sys-dev'];

/** A runtime-tools source tree: has validation/<name>/<name>.go and cmd/runtimetest. */
function isSourceTree(dir: string): boolean {
  return fs.existsSync(path.join(dir, 'cmd', 'runtimetest')) && fs.existsSync(path.join(dir, 'validation', 'util'));
}

export function findSource(): string | undefined {
  const candidates = [process.env.HULL_RUNTIME_TOOLS_SRC, path.join(CACHE_DIR, 'src'), DEBIAN_RT_DIR].filter((d): d is string => !!d);
  return candidates.find(isSourceTree);
}

export type Availability = { ok: true; src: string } | { ok: false; reason: string; ciMustFail: boolean };

/**
 * Can the suite be built here? Missing Go or the Debian -dev packages is an install problem
 * (CI installs them: ciMustFail). A missing validation source tree is not: Debian does not ship it.
 */
export function availability(): Availability {
  const missingPkgs: string[] = [];
  if (!which('go')) missingPkgs.push('golang-go');
  if (!fs.existsSync(path.join(DEBIAN_RT_DIR, 'generate'))) missingPkgs.push('golang-github-opencontainers-runtime-tools-dev');
  if (!fs.existsSync(path.join(GOCODE, 'src/github.com/google/uuid'))) missingPkgs.push('golang-github-google-uuid-dev');
  if (!fs.existsSync(path.join(GOCODE, 'src/golang.org/x/sys'))) missingPkgs.push('golang-golang-x-sys-dev');
  if (missingPkgs.length) return { ok: false, ciMustFail: true, reason: `missing ${missingPkgs.join(', ')} (apt-get install ${APT_PACKAGES.join(' ')})` };
  if (!which('runc')) return { ok: false, ciMustFail: true, reason: 'missing runc (apt-get install runc)' };
  const src = findSource();
  if (!src)
    return {
      ok: false,
      ciMustFail: false,
      reason:
        'no runtime-tools source with validation/ and cmd/runtimetest (Debian ships only the library): ' +
        `put a checkout of ${IMPORT_PATH} at ${path.join(CACHE_DIR, 'src')} or set HULL_RUNTIME_TOOLS_SRC`,
    };
  return { ok: true, src };
}

/** For the default-config checks (Debian packages only): CI=true throws when they are missing. */
export function libSkipReason(): string | undefined {
  const a = availability();
  if (a.ok || !a.ciMustFail) return undefined;
  if (isCI()) throw new Error(`CI=true and runtime-tools cannot be built: ${a.reason}`);
  return a.reason;
}

/** Under CI=true an install problem throws; otherwise returns the skip reason (undefined = runnable). */
export function skipReason(): string | undefined {
  const a = availability();
  if (a.ok) return undefined;
  if (a.ciMustFail && isCI()) throw new Error(`CI=true and runtime-tools cannot be built: ${a.reason}`);
  return a.reason;
}

/** Validation file names (validation/<name>/<name>.go) in the source tree, sorted. */
export function validationNames(src: string): string[] {
  const dir = path.join(src, 'validation');
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && e.name !== 'util' && fs.existsSync(path.join(dir, e.name, `${e.name}.go`)))
    .map((e) => e.name)
    .sort();
}

// A TAP writer with github.com/mndrix/tap-go's API (not packaged by Debian). TAP version 13 output.
const TAP_GO = `package tap

import (
	"fmt"
	"io"
	"os"
	"strings"
)

type T struct {
	nextTestNumber int
	todo           bool
	autoPlan       bool
	Writer         io.Writer
}

func New() *T { return &T{nextTestNumber: 1, Writer: os.Stdout} }

func (t *T) printf(format string, a ...interface{}) { fmt.Fprintf(t.Writer, format, a...) }

func (t *T) Header(testCount int) {
	t.printf("TAP version 13\\n")
	if testCount > 0 {
		t.printf("1..%d\\n", testCount)
	}
}

func (t *T) Ok(test bool, description string) {
	if strings.Contains(description, "#") {
		description = strings.Replace(description, "#", "\\\\#", -1)
	}
	ok := "ok"
	if !test {
		ok = "not ok"
	}
	if t.todo {
		t.printf("%s %d # TODO %s\\n", ok, t.nextTestNumber, description)
	} else {
		t.printf("%s %d - %s\\n", ok, t.nextTestNumber, description)
	}
	t.nextTestNumber++
}

func (t *T) Fail(description string) { t.Ok(false, description) }
func (t *T) Pass(description string) { t.Ok(true, description) }
func (t *T) Check(function interface{}, description string) { t.Fail(description + " (Check is not supported)") }
func (t *T) Count() int { return t.nextTestNumber - 1 }
func (t *T) AutoPlan() { t.autoPlan = true }
func (t *T) Todo() *T { n := *t; n.todo = true; return &n }

func (t *T) Done() {
	if t.autoPlan {
		t.printf("1..%d\\n", t.Count())
	}
}

func (t *T) Diagnostic(message string) {
	t.printf("# %s\\n", strings.Replace(strings.TrimRight(message, "\\n"), "\\n", "\\n# ", -1))
}

func (t *T) Diagnosticf(format string, a ...interface{}) { t.Diagnostic(fmt.Sprintf(format, a...)) }

func (t *T) Skip(count int, description string) {
	for i := 0; i < count; i++ {
		t.printf("ok %d # SKIP %s\\n", t.nextTestNumber, description)
		t.nextTestNumber++
	}
}

func (t *T) YAML(message interface{}) error {
	t.printf("  ---\\n  %v\\n  ...\\n", message)
	return nil
}
`;

export interface BuiltSuite {
  src: string;
  /** cwd for the validation executables: holds runtimetest and rootfs-amd64.tar.gz. */
  dir: string;
  names: string[];
  exe(name: string): string;
  buildMs: number;
}

function sh(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): string {
  const r = run(cmd, args, { timeoutMs: opts.timeoutMs ?? 600_000, cwd: opts.cwd, env: opts.env });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status}):\n${r.stderr.slice(-4000)}${r.stdout.slice(-2000)}`);
  return r.stdout;
}

/**
 * Builds runtimetest (static, CGO_ENABLED=0) and every validation executable from `src` into
 * <cache>/build, with the rootfs tarball beside them. Reuses a previous build of the same source.
 */
export function buildSuite(src: string): BuiltSuite {
  const t0 = Date.now();
  const goVersion = sh('go', ['version']).trim();
  const stamp = JSON.stringify({ RECIPE, src, mtime: fs.statSync(path.join(src, 'validation')).mtimeMs, goVersion });
  const stampFile = path.join(BUILD_DIR, '.stamp');
  const names = validationNames(src);
  const exe = (name: string) => path.join(BUILD_DIR, 'validation', name);
  const done = (): BuiltSuite => ({ src, dir: BUILD_DIR, names, exe, buildMs: Date.now() - t0 });
  if (fs.existsSync(stampFile) && fs.readFileSync(stampFile, 'utf8') === stamp && names.every((n) => fs.existsSync(exe(n)))) return done();

  removeTree(BUILD_DIR);
  fs.mkdirSync(path.join(BUILD_DIR, 'validation'), { recursive: true });
  // A private GOPATH whose first entry holds a copy of the source (GOPATH mode needs the import
  // path layout and a writable tree); Debian's /usr/share/gocode provides the dependencies.
  const gopath = path.join(CACHE_DIR, 'gopath');
  removeTree(gopath);
  const pkgDir = path.join(gopath, 'src', IMPORT_PATH);
  fs.mkdirSync(path.dirname(pkgDir), { recursive: true });
  sh('cp', ['-a', src, pkgDir]);
  if (!fs.existsSync(path.join(GOCODE, 'src/github.com/mndrix/tap-go')) && !fs.existsSync(path.join(pkgDir, 'vendor/github.com/mndrix/tap-go'))) {
    const tapDir = path.join(gopath, 'src/github.com/mndrix/tap-go');
    fs.mkdirSync(tapDir, { recursive: true });
    fs.writeFileSync(path.join(tapDir, 'tap.go'), TAP_GO);
  }
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    GO111MODULE: 'off',
    GOPATH: `${gopath}:${GOCODE}`,
    GOFLAGS: '',
    GOPROXY: 'off',
    GOCACHE: path.join(CACHE_DIR, 'gocache'),
    CGO_ENABLED: '0',
  };
  sh('go', ['build', '-tags', 'netgo osusergo', '-ldflags', '-s -w', '-o', path.join(BUILD_DIR, 'runtimetest'), './cmd/runtimetest'], { cwd: pkgDir, env });
  // One `go build` for all: with several main packages and -o DIR, each becomes DIR/<name>.
  sh('go', ['build', '-o', path.join(BUILD_DIR, 'validation') + '/', ...names.map((n) => `./validation/${n}`)], { cwd: pkgDir, env });

  const tarball = path.join(BUILD_DIR, 'rootfs-amd64.tar.gz');
  const shipped = path.join(src, 'rootfs-amd64.tar.gz');
  if (fs.existsSync(shipped)) fs.copyFileSync(shipped, tarball);
  else {
    // busybox-static with its applet links: the suites need /bin/sh, echo, cat, sleep, true.
    const rootfs = path.join(CACHE_DIR, 'rootfs');
    removeTree(rootfs);
    makeBusyboxRootfs(rootfs);
    sh('tar', ['-czf', tarball, '-C', rootfs, '.']);
    removeTree(rootfs);
  }
  fs.writeFileSync(stampFile, stamp);
  return done();
}

// ---------------------------------------------------------------------------------------------
// The suite's default config, from Debian's real runtime-tools library. Every validation file
// starts from util.GetDefaultGenerator(): generate.New("linux") (default mounts, capabilities,
// rlimits, masked/readonly paths and runtime-tools' default seccomp allowlist), root path ".",
// then its own changes. This needs only the Debian packages, so it runs wherever Go is installed,
// CI included, even without the validation sources.
const GENCONFIG_GO = `package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/opencontainers/runtime-tools/generate"
)

// genconfig BUNDLE ARGS...: writes BUNDLE/config.json as the validation suite's default generator does.
func main() {
	g, err := generate.New("linux")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	g.SetRootPath(".")
	g.SetProcessArgs(os.Args[2:])
	if err := g.SaveToFile(filepath.Join(os.Args[1], "config.json"), generate.ExportOptions{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
`;

export interface DefaultConfigTools {
  /** genconfig BUNDLE ARGS...: writes the suite's default config.json. */
  genconfig: string;
  /** rootfs-amd64.tar.gz (busybox-static) as the suite expects it. */
  tarball: string;
}

/** Builds genconfig (Debian's generate package, GOPATH mode) and the busybox rootfs tarball. */
export function buildDefaultConfigTools(): DefaultConfigTools {
  const dir = path.join(CACHE_DIR, 'genconfig');
  const genconfig = path.join(dir, 'genconfig');
  const tarball = path.join(dir, 'rootfs-amd64.tar.gz');
  const stampFile = path.join(dir, '.stamp');
  const stamp = JSON.stringify({ RECIPE, go: sh('go', ['version']).trim(), gen: GENCONFIG_GO });
  if (fs.existsSync(stampFile) && fs.readFileSync(stampFile, 'utf8') === stamp && fs.existsSync(genconfig) && fs.existsSync(tarball)) return { genconfig, tarball };
  removeTree(dir);
  const srcDir = path.join(dir, 'gopath', 'src', 'hullgenconfig');
  fs.mkdirSync(srcDir, { recursive: true });
  fs.writeFileSync(path.join(srcDir, 'main.go'), GENCONFIG_GO);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    GO111MODULE: 'off',
    GOPATH: `${path.join(dir, 'gopath')}:${GOCODE}`,
    GOFLAGS: '',
    GOPROXY: 'off',
    GOCACHE: path.join(CACHE_DIR, 'gocache'),
    CGO_ENABLED: '0',
  };
  sh('go', ['build', '-o', genconfig, '.'], { cwd: srcDir, env });
  const rootfs = path.join(dir, 'rootfs');
  makeBusyboxRootfs(rootfs);
  sh('tar', ['-czf', tarball, '-C', rootfs, '.']);
  removeTree(rootfs);
  fs.writeFileSync(stampFile, stamp);
  return { genconfig, tarball };
}

export interface LifecycleResult {
  ok: boolean;
  /** each runtime call with its exit status and stderr, for messages */
  log: string[];
  stdout: string;
  states: string[];
}

/**
 * What util.RuntimeInsideValidate does with a config: bundle = untarred rootfs + config.json from
 * the default generator (process = `args`), `create --bundle B ID` with stdout/stderr to files in
 * the bundle, `start`, poll `state` until stopped, read the process's stdout, then `delete --force`
 * and remove the bundle.
 */
export function runDefaultLifecycle(tools: DefaultConfigTools, runtime: string, args: string[]): LifecycleResult {
  const bundle = fs.mkdtempSync('/tmp/ocitest');
  const id = `hull-rt-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const log: string[] = [];
  const states: string[] = [];
  const step = (cmd: string, a: string[]) => {
    const r = run(cmd, a, { timeoutMs: 30_000 });
    log.push(`${path.basename(cmd)} ${a.join(' ')} -> exit ${r.status}${r.stderr.trim() ? `: ${r.stderr.trim()}` : ''}`);
    return r;
  };
  try {
    if (step('tar', ['-xf', tools.tarball, '-C', bundle]).status !== 0) return { ok: false, log, stdout: '', states };
    if (step(tools.genconfig, [bundle, ...args]).status !== 0) return { ok: false, log, stdout: '', states };
    // create's stdio becomes the container's (no terminal): files, as the suite does.
    const out = path.join(bundle, 'stdout-x');
    const err = path.join(bundle, 'stderr-x');
    const r = spawnSync(runtime, ['create', '--bundle', bundle, id], {
      stdio: ['ignore', fs.openSync(out, 'w'), fs.openSync(err, 'w')],
      timeout: 30_000,
    });
    log.push(`${path.basename(runtime)} create --bundle B ${id} -> exit ${r.status}: ${fs.readFileSync(err, 'utf8').trim()}`);
    if (r.status !== 0) return { ok: false, log, stdout: fs.readFileSync(out, 'utf8'), states };
    const st = () => {
      const s = run(runtime, ['state', id], { timeoutMs: 10_000 });
      try {
        return JSON.parse(s.stdout).status as string;
      } catch {
        return `error: ${s.stderr.trim()}`;
      }
    };
    states.push(st());
    if (step(runtime, ['start', id]).status !== 0) return { ok: false, log, stdout: fs.readFileSync(out, 'utf8'), states };
    const deadline = Date.now() + 10_000;
    let s = st();
    while (s !== 'stopped' && Date.now() < deadline) {
      spawnSync('sleep', ['0.1']);
      s = st();
    }
    states.push(s);
    const stdout = fs.readFileSync(out, 'utf8');
    const stderr = fs.readFileSync(err, 'utf8').trim();
    if (stderr) log.push(`container stderr: ${stderr}`);
    return { ok: s === 'stopped', log, stdout, states };
  } finally {
    run(runtime, ['delete', '--force', id], { timeoutMs: 15_000 });
    unmountAndRemove(bundle);
  }
}

export interface TapResult {
  name: string;
  runtime: string;
  status: number | null;
  stdout: string;
  stderr: string;
  ms: number;
  plan?: number;
  passed: number;
  skipped: number;
  /** `not ok` lines (not TODO) with the indented YAML/diagnostic lines that follow each. */
  failures: string[];
  /** exit 0, a plan, as many results as planned, at least one real ok, no `not ok`. */
  pass: boolean;
  /** every result is a SKIP (e.g. a cgroup v2-only or unsupported case) */
  allSkipped: boolean;
}

export function parseTap(out: string): Pick<TapResult, 'plan' | 'passed' | 'skipped' | 'failures'> & { count: number } {
  const lines = out.split('\n');
  let plan: number | undefined;
  let passed = 0;
  let skipped = 0;
  let count = 0;
  const failures: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    const p = /^1\.\.(\d+)/.exec(l);
    if (p) plan = Number(p[1]);
    const m = /^(not ok|ok)\b/.exec(l);
    if (!m) continue;
    count++;
    if (/#\s*SKIP/i.test(l)) skipped++;
    else if (m[1] === 'ok' || /#\s*TODO/i.test(l)) passed++;
    else {
      const block = [l];
      for (let j = i + 1; j < lines.length && /^(\s+|#)/.test(lines[j]) && block.length < 25; j++) block.push(lines[j]);
      failures.push(block.join('\n'));
    }
  }
  return { plan, passed, skipped, failures, count };
}

/** Containers in a runtime's state dir (runc: /run/runc, hull-oci: /run/hull-oci). */
function stateRoot(runtime: string): string {
  return path.basename(runtime) === 'runc' ? '/run/runc' : '/run/hull-oci';
}
function listIds(root: string): Set<string> {
  try {
    return new Set(fs.readdirSync(root));
  } catch {
    return new Set();
  }
}
function ocitestDirs(): Set<string> {
  return new Set(fs.readdirSync('/tmp').filter((e) => e.startsWith('ocitest')));
}

/**
 * Runs one validation executable with RUNTIME=`runtime` (cwd = the build dir), then removes what it
 * left: containers it created (kill KILL, delete --force), its /tmp/ocitest* bundles (unmounted).
 */
export function runValidation(suite: BuiltSuite, name: string, runtime: string, timeoutMs = 60_000): TapResult {
  const root = stateRoot(runtime);
  const idsBefore = listIds(root);
  const bundlesBefore = ocitestDirs();
  const t0 = Date.now();
  const r = run(suite.exe(name), [], { cwd: suite.dir, timeoutMs, env: { ...process.env, RUNTIME: runtime } });
  const ms = Date.now() - t0;
  for (const id of listIds(root)) {
    if (idsBefore.has(id)) continue;
    run(runtime, ['kill', id, 'KILL'], { timeoutMs: 10_000 });
    run(runtime, ['delete', '--force', id], { timeoutMs: 15_000 });
  }
  for (const b of ocitestDirs()) if (!bundlesBefore.has(b)) unmountAndRemove(path.join('/tmp', b));
  const tap = parseTap(r.stdout);
  const allSkipped = tap.count > 0 && tap.skipped === tap.count;
  const pass = r.status === 0 && tap.failures.length === 0 && tap.count > 0 && (tap.plan === undefined || tap.plan === tap.count) && !allSkipped;
  return { name, runtime, status: r.status, stdout: r.stdout, stderr: r.stderr, ms, plan: tap.plan, passed: tap.passed, skipped: tap.skipped, failures: tap.failures, pass, allSkipped };
}

/** A readable summary of a run for assertion messages. */
export function describeTap(r: TapResult): string {
  return [
    `RUNTIME=${r.runtime} validation/${r.name}: exit ${r.status}, ${r.passed} ok, ${r.failures.length} not ok, ${r.skipped} skipped, plan ${r.plan ?? 'none'} (${r.ms} ms)`,
    ...r.failures,
    r.failures.length ? '' : `stdout tail:\n${r.stdout.slice(-1500)}`,
    `stderr tail:\n${r.stderr.slice(-1500)}`,
  ].join('\n');
}

/** Is `go` here, and where is the cache (for messages). */
export function describeSetup(): string {
  const go = spawnSync('go', ['version'], { encoding: 'utf8' });
  return `go: ${go.stdout?.trim() || 'missing'}; cache: ${CACHE_DIR}; source: ${findSource() ?? 'none'}`;
}
