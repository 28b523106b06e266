// End-to-end tests of the container verbs through bin/hull, on the shared test image (busybox +
// hull-probe) loaded into a private state root. Every container is removed and the root is checked
// for leaked mounts and processes at the end.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyLayer } from '../../src/image/apply';
import { loadArchive } from '../../src/image/archive';
import { ImageStore, type ApplyLayerFn } from '../../src/image/store';
import { HULL, runHull } from '../setup/hull-cli';
import { testImages } from '../setup/images';
import { mountsContaining, processesContaining, removeTree, tempDir } from '../setup/rootfs';

const IMAGE = 'localhost/hull-test:latest';
let root: string;
let tmp: string;

function hull(args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync(process.execPath, [HULL, ...args], {
    encoding: 'utf8',
    input: opts.input,
    env: { ...process.env, HULL_ROOT: root, ...opts.env },
    timeout: 60_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const hullAsync = (args: string[], opts: { input?: string } = {}) => runHull(args, { HULL_ROOT: root }, { input: opts.input ?? '' });

const unique = (prefix: string) => `${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

beforeAll(async () => {
  tmp = tempDir('hull-container-cli-');
  root = path.join(tmp, 'root');
  const images = await testImages();
  await loadArchive(new ImageStore(root, { applyLayer: applyLayer as ApplyLayerFn }), images.dockerArchive);
});

afterAll(() => {
  if (!root) return;
  const ids = hull(['ps', '-a', '-q', '--no-trunc']).stdout.split('\n').filter(Boolean);
  if (ids.length) hull(['rm', '-f', '-v', ...ids]);
  const leakedMounts = mountsContaining(root);
  const leakedProcs = processesContaining(root);
  removeTree(tmp);
  expect(leakedMounts).toEqual([]);
  expect(leakedProcs).toEqual([]);
});

describe('run in the foreground', async () => {
  it('passes the exit code and output through, and --rm leaves nothing', async () => {
    const ok = (await hullAsync(['run', '--rm', IMAGE, 'sh', '-c', 'echo hello; echo oops >&2']));
    expect(ok).toMatchObject({ code: 0, stdout: 'hello\n', stderr: 'oops\n' });
    expect((await hullAsync(['run', '--rm', IMAGE, 'sh', '-c', 'exit 3'])).code).toBe(3);
    expect((await hullAsync(['ps', '-a', '-q'])).stdout).toBe('');
    expect(fs.readdirSync(path.join(root, 'containers')).filter((n) => !n.startsWith('.'))).toEqual([]);
  });

  it('gives flags after the image to the command', async () => {
    expect((await hullAsync(['run', '--rm', IMAGE, 'echo', '-n', '--rm', 'x'])).stdout).toBe('--rm x');
  });

  it('exits 127 for a missing command, 126 for one that cannot run, 125 for its own errors', async () => {
    const missing = (await hullAsync(['run', '--rm', IMAGE, 'no-such-command']));
    expect(missing.code).toBe(127);
    expect(missing.stderr).toMatch(/not found/);
    expect((await hullAsync(['run', '--rm', IMAGE, '/etc/passwd'])).code).toBe(126);
    expect((await hullAsync(['run', '--rm', 'localhost/no-such-image:1', 'true'])).code).toBe(125);
    expect((await hullAsync(['run', '--rm', '--pull', 'never', 'INVALID::ref', 'true'])).code).toBe(125);
    expect((await hullAsync(['run', '--no-such-flag', IMAGE, 'true'])).code).toBe(125);
    expect((await hullAsync(['run', '--rm', '-v', '/definitely/not/here:/x', IMAGE, 'true'])).code).toBe(125);
    expect((await hullAsync(['run', '--rm', '-v', 'vol:../escape', IMAGE, 'true'])).code).toBe(125);
    // (a missing --env-file is not tested here: Node 20 itself reads --env-file anywhere in argv)
    const badEnv = path.join(tmp, 'bad.env');
    fs.writeFileSync(badEnv, 'GOOD=1\nBAD KEY=2\n');
    expect((await hullAsync(['run', '--rm', '--env-file', badEnv, IMAGE, 'true'])).code).toBe(125);
    expect((await hullAsync(['ps', '-a', '-q'])).stdout).toBe('');
    expect((await hullAsync(['volume', 'ls', '-q'])).stdout).toBe('');
  });

  it('applies env, env files, workdir, user, hostname and entrypoint', async () => {
    const envFile = path.join(tmp, 'a.env');
    fs.writeFileSync(envFile, '# comment\nFROM_FILE=yes\n\nB=file\n');
    const r = (await hullAsync([
      'run', '--rm', '-e', 'A=1', '--env-file', envFile, '-e', 'B=flag', '-w', '/tmp/work', '-u', '1000:1000',
      '--hostname', 'box', IMAGE, 'sh', '-c', 'echo $A $FROM_FILE $B; pwd; id -u; id -g; hostname; cat /etc/hostname',
    ]));
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('1 yes flag\n/tmp/work\n1000\n1000\nbox\nbox\n');
    const ep = (await hullAsync(['run', '--rm', '--entrypoint', 'echo', IMAGE, 'from', 'entrypoint']));
    expect(ep.stdout).toBe('from entrypoint\n');
    expect((await hullAsync(['run', '--rm', '-u', 'nosuchuser', IMAGE, 'true'])).code).toBe(125);
  });

  it("has docker's default capabilities, seccomp, masked paths and /etc files", async () => {
    const r = (await hullAsync(['run', '--rm', IMAGE, 'hull-probe', 'report']));
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.caps.bnd).toBe('00000000a80425fb');
    expect(report.caps.eff).toBe('00000000a80425fb');
    expect(report.caps.inh).toBe('0000000000000000');
    expect(report.seccomp).toBe(2);
    expect(report.pid).toBe(1);
    const kcore = (await hullAsync(['run', '--rm', IMAGE, 'sh', '-c', 'wc -c < /proc/timer_list; cat /etc/hosts; test -s /etc/resolv.conf && echo resolv']));
    expect(kcore.stdout).toMatch(/^0\n/);
    expect(kcore.stdout).toMatch(/127\.0\.0\.1\s+localhost/);
    expect(kcore.stdout).toMatch(/resolv\n$/);
    const lo = await hullAsync(['run', '--rm', IMAGE, 'sh', '-c', 'ip link show lo; ip link | grep -c mtu']);
    expect(lo.stdout).toMatch(/<LOOPBACK,UP/);
    expect(lo.stdout).toMatch(/\n1\n$/); // only its own loopback: a network namespace of its own
    const priv = JSON.parse((await hullAsync(['run', '--rm', '--privileged', IMAGE, 'hull-probe', 'report'])).stdout);
    expect(priv.seccomp).toBe(0);
    const ro = (await hullAsync(['run', '--rm', '--read-only', IMAGE, 'touch', '/x']));
    expect(ro.code).not.toBe(0);
    expect(ro.stderr).toMatch(/Read-only file system/);
  });
});

describe('detached containers', async () => {
  it('run -d, ps, logs, exec, stop, wait, inspect, rm', async () => {
    const name = unique('web');
    const run = (await hullAsync(['run', '-d', '--name', name, '--label', 'team=hull', IMAGE, 'sh', '-c',
      'echo started; echo err >&2; trap "echo bye; exit 7" TERM; while true; do sleep 0.1; done']));
    expect(run.code).toBe(0);
    const id = run.stdout.trim();
    expect(id).toMatch(/^[a-f0-9]{64}$/);
    expect((await hullAsync(['ps', '-q'])).stdout).toBe(`${id.slice(0, 12)}\n`);
    expect((await hullAsync(['ps', '--format', '{{.Names}} {{.State}}', '--filter', 'label=team=hull'])).stdout).toBe(`${name} running\n`);
    expect((await hullAsync(['ps', '--filter', 'label=team=other', '-q'])).stdout).toBe('');
    for (let i = 0; i < 100 && !(await hullAsync(['logs', name])).stdout.includes('started'); i++) await new Promise((r) => setTimeout(r, 50));
    const early = await hullAsync(['logs', id.slice(0, 8)]);
    expect(early.stdout).toBe('started\n');
    expect(early.stderr).toBe('err\n'); // json-file keeps the stream
    const exec = (await hullAsync(['exec', name, 'sh', '-c', 'echo in-exec; exit 4']));
    expect(exec).toMatchObject({ code: 4, stdout: 'in-exec\n' });
    expect((await hullAsync(['exec', name, 'no-such-command'])).code).toBe(127);
    const inspect = JSON.parse((await hullAsync(['inspect', name])).stdout)[0];
    expect(inspect).toMatchObject({ Id: id, Name: `/${name}`, State: { Status: 'running', Running: true, Paused: false } });
    expect(inspect.State.Pid).toBeGreaterThan(0);
    expect(inspect.GraphDriver.Data.UpperDir).toContain(id);
    expect((await hullAsync(['run', '-d', '--name', name, IMAGE, 'true'])).code).toBe(125); // name in use
    expect((await hullAsync(['rm', name])).code).toBe(1); // running
    expect((await hullAsync(['stop', '-t', '10', name]))).toMatchObject({ code: 0, stdout: `${name}\n` });
    expect((await hullAsync(['wait', name])).stdout).toBe('7\n');
    expect((await hullAsync(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}} {{.State.Running}}', name])).stdout).toBe('exited 7 false\n');
    expect((await hullAsync(['logs', '--tail', '1', name])).stdout).toBe('bye\n');
    expect((await hullAsync(['ps', '-a', '--format', '{{.Status}}'])).stdout).toMatch(/^Exited \(7\)/);
    expect((await hullAsync(['exec', name, 'true'])).code).not.toBe(0);
    expect((await hullAsync(['rm', name]))).toMatchObject({ code: 0, stdout: `${name}\n` });
    expect((await hullAsync(['inspect', name])).code).toBe(1);
    expect(mountsContaining(id)).toEqual([]);
  });

  it('create, start, pause, unpause, kill, restart, rm -f', async () => {
    const name = unique('life');
    const created = (await hullAsync(['create', '--name', name, IMAGE, 'sleep', '1000']));
    expect(created.code).toBe(0);
    expect((await hullAsync(['ps', '-a', '--format', '{{.Names}} {{.State}}', '--filter', `name=${name}`])).stdout).toBe(`${name} created\n`);
    expect((await hullAsync(['start', name])).code).toBe(0);
    expect((await hullAsync(['inspect', '-f', '{{.State.Status}}', name])).stdout).toBe('running\n');
    expect((await hullAsync(['pause', name])).code).toBe(0);
    expect((await hullAsync(['inspect', '-f', '{{.State.Status}} {{.State.Paused}}', name])).stdout).toBe('paused true\n');
    expect((await hullAsync(['exec', name, 'true'])).code).not.toBe(0);
    expect((await hullAsync(['unpause', name])).code).toBe(0);
    const top = (await hullAsync(['top', name]));
    expect(top.stdout).toMatch(/sleep 1000/);
    expect((await hullAsync(['kill', name])).code).toBe(0);
    expect((await hullAsync(['wait', name])).stdout).toBe('137\n');
    expect((await hullAsync(['restart', '-t', '1', name])).code).toBe(0);
    expect((await hullAsync(['inspect', '-f', '{{.State.Status}} {{.RestartCount}}', name])).stdout).toBe('running 1\n');
    expect((await hullAsync(['kill', '-s', 'BOGUS', name])).code).not.toBe(0);
    expect((await hullAsync(['rm', '-f', name])).code).toBe(0);
    expect((await hullAsync(['ps', '-a', '-q', '--filter', `name=${name}`])).stdout).toBe('');
  });

  it('rename, container ls/prune, volume prune, stop signal and timeout', async () => {
    const a = unique('old');
    const b = unique('new');
    expect((await hullAsync(['create', '--name', a, '-v', '/anon', IMAGE, 'true'])).code).toBe(0);
    expect((await hullAsync(['rename', a, b])).code).toBe(0);
    expect((await hullAsync(['inspect', '-f', '{{.Name}}', b])).stdout).toBe(`/${b}\n`);
    expect((await hullAsync(['inspect', a])).code).toBe(1);
    expect((await hullAsync(['create', '--name', a, IMAGE, 'true'])).code).toBe(0); // the old name is free again
    expect((await hullAsync(['container', 'ls', '-a', '--format', '{{.Names}}'])).stdout.split('\n')).toEqual(expect.arrayContaining([a, b]));
    const pruned = await hullAsync(['container', 'prune', '-f']);
    expect(pruned.code).toBe(0);
    expect((await hullAsync(['ps', '-a', '-q'])).stdout).toBe('');
    expect((await hullAsync(['volume', 'prune', '-f'])).code).toBe(0);
    expect((await hullAsync(['volume', 'ls', '-q'])).stdout).toBe('');

    const name = unique('sig');
    // sh as PID 1 ignores SIGTERM without a trap: --stop-signal USR1 with a trap stops it at once.
    expect((await hullAsync(['run', '-d', '--name', name, '--stop-signal', 'USR1', '--stop-timeout', '30', IMAGE, 'sh', '-c',
      'trap "exit 42" USR1; while true; do sleep 0.1; done'])).code).toBe(0);
    expect((await hullAsync(['stop', name])).code).toBe(0);
    expect((await hullAsync(['inspect', '-f', '{{.State.ExitCode}} {{.Config.StopSignal}}', name])).stdout).toBe('42 SIGUSR1\n');
    expect((await hullAsync(['start', name])).code).toBe(0);
    expect((await hullAsync(['stop', '-t', '0', name])).code).toBe(0); // no grace period: SIGKILL
    expect((await hullAsync(['inspect', '-f', '{{.State.ExitCode}}', name])).stdout).toBe('137\n');
    expect((await hullAsync(['rm', name])).code).toBe(0);
  });

  it('20 parallel runs with one name leave exactly one container', async () => {
    const name = unique('same');
    const results = await Promise.all(Array.from({ length: 20 }, () => hullAsync(['run', '-d', '--name', name, IMAGE, 'sleep', '1000'])));
    expect(results.filter((r) => r.code === 0)).toHaveLength(1);
    expect(results.filter((r) => r.code === 125)).toHaveLength(19);
    expect((await hullAsync(['ps', '-a', '-q'])).stdout.trim().split('\n')).toHaveLength(1);
    expect((await hullAsync(['rm', '-f', name])).code).toBe(0);
    expect(fs.readdirSync(path.join(root, 'containers')).filter((n) => !n.startsWith('.'))).toEqual([]);
  });
});

describe('volumes', async () => {
  it('named volumes start with the image content and outlive the container', async () => {
    const vol = unique('data');
    const first = (await hullAsync(['run', '--rm', '-v', `${vol}:/etc`, IMAGE, 'sh', '-c', 'cat /etc/passwd | head -1; echo kept > /etc/note']));
    expect(first.stdout).toBe('root:x:0:0:root:/root:/bin/sh\n');
    expect((await hullAsync(['volume', 'ls', '-q'])).stdout).toContain(`${vol}\n`);
    const second = (await hullAsync(['run', '--rm', '-v', `${vol}:/data:ro`, IMAGE, 'sh', '-c', 'cat /data/note; touch /data/x']));
    expect(second.stdout).toBe('kept\n');
    expect(second.code).not.toBe(0);
    const name = unique('holder');
    expect((await hullAsync(['run', '-d', '--name', name, '--mount', `type=volume,source=${vol},target=/v`, IMAGE, 'sleep', '1000'])).code).toBe(0);
    const inUse = (await hullAsync(['volume', 'rm', vol]));
    expect(inUse.code).toBe(1);
    expect(inUse.stderr).toMatch(/in use/);
    expect((await hullAsync(['rm', '-f', name])).code).toBe(0);
    expect((await hullAsync(['volume', 'rm', vol]))).toMatchObject({ code: 0, stdout: `${vol}\n` });
    expect((await hullAsync(['volume', 'inspect', vol])).code).toBe(1);
  });

  it('a mount target that is an image symlink pointing out lands inside the container', async () => {
    const escape = path.join(tmp, 'escape-target');
    const name = unique('symlink');
    const tag = `localhost/${unique('symlinked')}:1`;
    expect((await hullAsync(['run', '--name', name, IMAGE, 'ln', '-s', `/../../../..${escape}`, '/esc'])).code).toBe(0);
    expect((await hullAsync(['commit', name, tag])).code).toBe(0);
    const vol = unique('escv');
    const r = await hullAsync(['run', '--rm', '-v', `${vol}:/esc`, tag, 'sh', '-c', 'echo inside > /esc/f && cat /esc/f']);
    expect(r).toMatchObject({ code: 0, stdout: 'inside\n' });
    expect(fs.existsSync(escape)).toBe(false);
    expect(fs.readFileSync(path.join(root, 'volumes', vol, '_data', 'f'), 'utf8')).toBe('inside\n');
    expect((await hullAsync(['rm', name])).code).toBe(0);
    expect((await hullAsync(['volume', 'rm', vol])).code).toBe(0);
  });

  it('binds ro/rw, tmpfs with size and mode, anonymous volumes removed by rm -v', async () => {
    const dir = path.join(tmp, 'bind');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'in.txt'), 'from host\n');
    const rw = (await hullAsync(['run', '--rm', '-v', `${dir}:/mnt`, IMAGE, 'sh', '-c', 'cat /mnt/in.txt; echo back > /mnt/out.txt']));
    expect(rw.stdout).toBe('from host\n');
    expect(fs.readFileSync(path.join(dir, 'out.txt'), 'utf8')).toBe('back\n');
    expect((await hullAsync(['run', '--rm', '-v', `${dir}:/mnt:ro`, IMAGE, 'touch', '/mnt/x'])).code).not.toBe(0);
    const t = (await hullAsync(['run', '--rm', '--tmpfs', '/scratch:size=1m,mode=1770', IMAGE, 'sh', '-c', 'stat -c %a /scratch; df -k /scratch | tail -1']));
    expect(t.stdout).toMatch(/^1770\n/);
    expect(t.stdout).toMatch(/\b1024\b/);
    const name = unique('anon');
    expect((await hullAsync(['create', '--name', name, '-v', '/anon', IMAGE, 'true'])).code).toBe(0);
    const anon = JSON.parse((await hullAsync(['inspect', name])).stdout)[0].Mounts[0];
    expect(anon).toMatchObject({ Type: 'volume', Destination: '/anon' });
    expect((await hullAsync(['volume', 'ls', '-q'])).stdout).toContain(anon.Name);
    expect((await hullAsync(['rm', '-v', name])).code).toBe(0);
    expect((await hullAsync(['volume', 'ls', '-q'])).stdout).not.toContain(anon.Name);
  });
});

describe('the writable layer', async () => {
  it('diff lists A/C/D; commit makes an image that runs; export and cp work both ways', async () => {
    const name = unique('layer');
    const made = (await hullAsync(['run', '--name', name, IMAGE, 'sh', '-c', 'echo x > /etc/newfile; rm /bin/ls; mkdir -p /root/a/b; echo hi > /root/a/b/c']));
    expect(made.code).toBe(0);
    expect((await hullAsync(['diff', name])).stdout).toBe(
      ['C /bin', 'D /bin/ls', 'C /etc', 'A /etc/newfile', 'C /root', 'A /root/a', 'A /root/a/b', 'A /root/a/b/c', ''].join('\n'),
    );
    const tag = `localhost/${unique('committed')}:v1`;
    const commit = (await hullAsync(['commit', '-m', 'test', '-c', 'CMD ["cat", "/etc/newfile"]', name, tag]));
    expect(commit.code).toBe(0);
    expect(commit.stdout).toMatch(/^sha256:[a-f0-9]{64}\n$/);
    expect((await hullAsync(['run', '--rm', tag]))).toMatchObject({ code: 0, stdout: 'x\n' });
    expect((await hullAsync(['run', '--rm', tag, 'ls', '/'])).code).toBe(127); // the whiteout came back as a deletion
    expect((await hullAsync(['run', '--rm', tag, 'cat', '/root/a/b/c'])).stdout).toBe('hi\n');

    const exported = path.join(tmp, 'export.tar');
    expect((await hullAsync(['export', '-o', exported, name])).code).toBe(0);
    const list = spawnSync('tar', ['-tf', exported], { encoding: 'utf8' }).stdout.split('\n');
    expect(list).toContain('./etc/newfile');
    expect(list).toContain('./bin/busybox');
    expect(list).not.toContain('./bin/ls');

    const out = path.join(tmp, 'cp-out');
    fs.mkdirSync(out);
    expect((await hullAsync(['cp', `${name}:/root/a`, out])).code).toBe(0);
    expect(fs.readFileSync(path.join(out, 'a/b/c'), 'utf8')).toBe('hi\n');
    fs.writeFileSync(path.join(tmp, 'in.txt'), 'from host\n');
    expect((await hullAsync(['cp', path.join(tmp, 'in.txt'), `${name}:/root/`])).code).toBe(0);
    expect((await hullAsync(['diff', name])).stdout).toContain('A /root/in.txt\n');
    expect((await hullAsync(['cp', `${name}:/no/such/file`, out])).code).toBe(1);
    expect((await hullAsync(['rm', name])).code).toBe(0);
  });

  it('cp out of a path that symlinks to / stays inside the container', async () => {
    const name = unique('escape');
    expect((await hullAsync(['run', '--name', name, IMAGE, 'sh', '-c', 'ln -s / /root/host; ln -s /etc/passwd /root/pw; echo inside > /root/marker'])).code).toBe(0);
    const out = path.join(tmp, 'escape-out');
    fs.mkdirSync(out);
    // Resolved in the container's root: /root/host/root/marker is the container's own file.
    expect((await hullAsync(['cp', `${name}:/root/host/root/marker`, out])).code).toBe(0);
    expect(fs.readFileSync(path.join(out, 'marker'), 'utf8')).toBe('inside\n');
    expect((await hullAsync(['cp', `${name}:/root/host/etc/passwd`, out])).code).toBe(0);
    expect(fs.readFileSync(path.join(out, 'passwd'), 'utf8')).toMatch(/^root:x:0:0:root:\/root:\/bin\/sh\nnobody/);
    expect((await hullAsync(['rm', name])).code).toBe(0);
  });
});

describe('terminals', async () => {
  it('-t gives the container a pty and passes the exit code', async () => {
    const r = (await hullAsync(['run', '--rm', '-t', IMAGE, 'sh', '-c', 'tty; echo $TERM; exit 5']));
    expect(r).toMatchObject({ code: 5, stdout: '/dev/pts/0\r\nxterm\r\n', stderr: '' });
    // The pty starts with the caller's window size (script(1) gives hull a terminal of a known size).
    const sized = spawnSync('script', ['-qec', `stty rows 33 cols 101; HULL_ROOT=${root} ${process.execPath} ${HULL} run --rm -t ${IMAGE} busybox stty size`, '/dev/null'], { encoding: 'utf8' });
    expect(sized.stdout).toContain('33 101');
    const i = (await hullAsync(['run', '--rm', '-i', IMAGE, 'sh'], { input: 'echo from stdin\nexit 6\n' }));
    expect(i).toMatchObject({ code: 6, stdout: 'from stdin\n' });
  });
});

describe('logs and robustness', async () => {
  it('keeps a foreground run as json-file lines: logs, --tail, -t, --since', async () => {
    const name = unique('fg');
    const r = (await hullAsync(['run', '--name', name, IMAGE, 'sh', '-c', 'echo one; echo two >&2; sleep 0.2; echo three; exit 2']));
    expect(r).toMatchObject({ code: 2, stdout: 'one\nthree\n', stderr: 'two\n' });
    const logs = (await hullAsync(['logs', name]));
    expect(logs.stdout).toBe('one\nthree\n');
    expect(logs.stderr).toBe('two\n');
    expect((await hullAsync(['logs', '--tail', '1', name])).stdout).toBe('three\n');
    expect((await hullAsync(['logs', '-t', name])).stdout).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z one\n/);
    expect((await hullAsync(['logs', '--since', '2000-01-01T00:00:00Z', name])).stdout).toBe('one\nthree\n');
    expect((await hullAsync(['logs', '--since', '2999-01-01T00:00:00Z', name])).stdout).toBe('');
    const raw = fs.readFileSync(JSON.parse((await hullAsync(['inspect', name])).stdout)[0].LogPath, 'utf8').split('\n')[0];
    expect(JSON.parse(raw)).toMatchObject({ log: 'one\n', stream: 'stdout' });
    expect((await hullAsync(['rm', name])).code).toBe(0);
  });

  it('logs -f follows a detached container until it exits', async () => {
    const name = unique('follow');
    expect((await hullAsync(['run', '-d', '--name', name, IMAGE, 'sh', '-c', 'for i in 1 2 3; do echo line$i; sleep 0.2; done'])).code).toBe(0);
    expect((await hullAsync(['logs', '-f', name])).stdout).toBe('line1\nline2\nline3\n');
    expect((await hullAsync(['wait', name])).stdout).toBe('0\n');
    expect((await hullAsync(['rm', name])).code).toBe(0);
  });

  it('a detached container logs json-file lines through its monitor: stdout and stderr apart, with times', async () => {
    const name = unique('jsonlog');
    expect((await hullAsync(['run', '-d', '--name', name, IMAGE, 'sh', '-c', 'echo out; echo err >&2'])).code).toBe(0);
    expect((await hullAsync(['wait', name])).stdout).toBe('0\n');
    expect(await hullAsync(['logs', name])).toMatchObject({ code: 0, stdout: 'out\n', stderr: 'err\n' });
    const logPath = JSON.parse((await hullAsync(['inspect', name])).stdout)[0].LogPath;
    const lines = fs.readFileSync(logPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.stream, l.log]).sort()).toEqual([['stderr', 'err\n'], ['stdout', 'out\n']]);
    for (const l of lines) expect(l.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    expect((await hullAsync(['rm', name])).code).toBe(0);
  });

  it('--log-opt max-size/max-file rotate the log, and logs reads the rotated file first', async () => {
    const name = unique('rotate');
    // 200 lines of ~60 bytes of json each: far more than 2 files of 1 KiB hold.
    const script = 'i=0; while [ $i -lt 200 ]; do echo line$i; i=$((i+1)); done';
    expect((await hullAsync(['run', '-d', '--name', name, '--log-opt', 'max-size=1k', '--log-opt', 'max-file=2', IMAGE, 'sh', '-c', script])).code).toBe(0);
    expect((await hullAsync(['wait', name])).stdout).toBe('0\n');
    const logPath = JSON.parse((await hullAsync(['inspect', name])).stdout)[0].LogPath;
    expect(fs.existsSync(`${logPath}.1`)).toBe(true);
    expect(fs.existsSync(`${logPath}.2`)).toBe(false); // max-file=2: the live file and one rotated
    for (const f of [logPath, `${logPath}.1`]) expect(fs.statSync(f).size).toBeLessThan(1024 + 200);
    const shown = (await hullAsync(['logs', name])).stdout.trim().split('\n');
    expect(shown[shown.length - 1]).toBe('line199');
    expect(shown.length).toBeLessThan(200);
    const numbers = shown.map((l) => Number(l.slice(4)));
    expect(numbers).toEqual(numbers.map((_, i) => numbers[0] + i)); // oldest file first, nothing lost in between
    expect((await hullAsync(['rm', name])).code).toBe(0);
  });

  it('run -d -t: the monitor holds the pty and logs what it shows; no warning', async () => {
    const name = unique('dtty');
    const run = await hullAsync(['run', '-d', '-t', '--name', name, IMAGE, 'sh', '-c', 'tty; echo hi']);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    expect((await hullAsync(['wait', name])).stdout).toBe('0\n');
    const logs = await hullAsync(['logs', name]);
    expect(logs.stdout).toMatch(/^\/dev\/pts\/\d+\r\nhi\r\n$/);
    expect(logs.stderr).toBe('');
    expect((await hullAsync(['rm', name])).code).toBe(0);
  });

  it('-m: a container killed by the OOM killer exits 137 and inspect says OOMKilled', async () => {
    const name = unique('oom');
    const r = await hullAsync(['run', '--name', name, '-m', '32m', IMAGE, 'hull-probe', 'memhog', '256']);
    expect(r.code).toBe(137);
    expect((await hullAsync(['inspect', '-f', '{{.State.OOMKilled}} {{.State.ExitCode}} {{.HostConfig.Memory}}', name])).stdout).toBe(`true 137 ${32 * 1024 * 1024}\n`);
    expect((await hullAsync(['rm', name])).code).toBe(0);
    const fine = unique('nooom');
    expect((await hullAsync(['run', '--name', fine, '-m', '32m', IMAGE, 'true'])).code).toBe(0);
    expect((await hullAsync(['inspect', '-f', '{{.State.OOMKilled}}', fine])).stdout).toBe('false\n');
    expect((await hullAsync(['rm', fine])).code).toBe(0);
  });

  it('run --explain (and HULL_TRACE=1) prints the kernel steps in plain words on stderr', async () => {
    for (const [args, env] of [[['run', '--explain', '--rm', IMAGE, 'true'], {}], [['run', '--rm', IMAGE, 'true'], { HULL_TRACE: '1' }]] as const) {
      const r = hull([...args], { env });
      expect(r.code).toBe(0);
      const lines = r.stderr.split('\n').filter(Boolean);
      for (const l of lines) expect(l).toMatch(/^=> /);
      expect(lines.some((l) => l.startsWith('=> pivoting root: ') && l.includes('pivot_root('))).toBe(true);
      expect(lines.some((l) => /^=> executing \S*\/true: .*execve\(/.test(l))).toBe(true);
      expect(lines.some((l) => l.startsWith('=> environment'))).toBe(false); // bookkeeping stays hidden
    }
    expect(hull(['run', '--rm', IMAGE, 'true']).stderr).toBe('');
  });

  it('kill -9 of the foreground CLI leaves a container that ps shows as exited and rm cleans', async () => {
    const name = unique('k9');
    const child = spawn(process.execPath, [HULL, 'run', '--name', name, IMAGE, 'sleep', '1000'], { env: { ...process.env, HULL_ROOT: root }, stdio: 'ignore' });
    for (let i = 0; i < 100 && !(await hullAsync(['ps', '-q', '--filter', `name=${name}`])).stdout; i++) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('close', r));
    let status = '';
    for (let i = 0; i < 100; i++) {
      status = (await hullAsync(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', name])).stdout;
      if (status.startsWith('exited')) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(status).toBe('exited 137\n');
    const id = (await hullAsync(['inspect', '-f', '{{.Id}}', name])).stdout.trim();
    expect((await hullAsync(['rm', name])).code).toBe(0);
    expect(mountsContaining(id)).toEqual([]);
    expect(processesContaining(id)).toEqual([]);
  });

  it('a container whose monitor died is shown exited with the reason, and rm -f cleans it', async () => {
    const name = unique('nomon');
    const id = (await hullAsync(['run', '-d', '--name', name, IMAGE, 'sleep', '1000'])).stdout.trim();
    const state = JSON.parse(fs.readFileSync(path.join(root, 'runtime', id, 'state.json'), 'utf8'));
    process.kill(state.monitorPid, 'SIGKILL');
    // The container outlives its monitor (it is not the monitor's to kill on a crash)…
    expect((await hullAsync(['inspect', '-f', '{{.State.Status}}', name])).stdout).toBe('running\n');
    process.kill(state.initPid, 'SIGKILL');
    let status = '';
    for (let i = 0; i < 100 && !status.startsWith('exited'); i++) {
      status = (await hullAsync(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}} {{.State.Error}}', name])).stdout;
      if (!status.startsWith('exited')) await new Promise((r) => setTimeout(r, 50));
    }
    expect(status).toMatch(/^exited 255 container monitor died/);
    expect((await hullAsync(['ps', '-a', '--filter', `name=${name}`, '--format', '{{.Status}}'])).stdout).toMatch(/^Exited \(255\)/);
    expect((await hullAsync(['rm', '-f', name])).code).toBe(0);
    expect(mountsContaining(id)).toEqual([]);
  });

  it('a create killed before its record was written is cleaned and its name is free again', async () => {
    const id = 'f'.repeat(64);
    const name = unique('halfmade');
    const dir = path.join(root, 'containers', id);
    fs.mkdirSync(path.join(dir, 'rootfs'), { recursive: true });
    const dead = spawnSync('true').pid!; // a pid that has exited
    fs.writeFileSync(path.join(dir, '.creating'), String(dead));
    fs.mkdirSync(path.join(root, 'containers', '.names'), { recursive: true });
    fs.writeFileSync(path.join(root, 'containers', '.names', name), id);
    const r = await hullAsync(['run', '--rm', '--name', name, IMAGE, 'echo', 'reused']);
    expect(r).toMatchObject({ code: 0, stdout: 'reused\n' });
    expect(fs.existsSync(dir)).toBe(false);
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, '.creating'), String(dead));
    expect((await hullAsync(['ps', '-a', '-q'])).stdout).toBe('');
    expect(fs.existsSync(dir)).toBe(false);
  });

  it('50 parallel run --rm all succeed and leave nothing', async () => {
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => hullAsync(['run', '--rm', IMAGE, 'sh', '-c', `exit ${i % 7}`])));
    const wrong = results.map((r, i) => ({ ...r, i })).filter((r) => r.code !== r.i % 7);
    expect(wrong).toEqual([]);
    expect((await hullAsync(['ps', '-a', '-q'])).stdout).toBe('');
  });
});
