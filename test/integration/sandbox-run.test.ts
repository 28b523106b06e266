// runSandbox end to end on the busybox + hull-probe root: output, exit codes, env/cwd/stdin, the
// filesystem view (read-only root, writable /tmp, binds), the network view, images from the store,
// and the trace. Every test ends with nothing of ours left on the host.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { applyLayer } from '../../src/image/apply';
import { loadArchive } from '../../src/image/archive';
import { ImageStore, type ApplyLayerFn } from '../../src/image/store';
import { prepareImage, releaseIdle, runSandbox, sandboxResources } from '../../src/sandbox';
import { testImages } from '../setup/images';
import { makeBusyboxRootfs, mountsContaining, removeTree, tempDir } from '../setup/rootfs';

let dir: string;
let rootfs: string;
let storeRoot: string;
let imageRef: string;

beforeAll(async () => {
  dir = tempDir('hull-sbx-run-');
  rootfs = makeBusyboxRootfs(path.join(dir, 'rootfs'));
  storeRoot = path.join(dir, 'store');
  const [image] = await loadArchive(new ImageStore(storeRoot, { applyLayer: applyLayer as ApplyLayerFn }), (await testImages()).dockerArchive);
  imageRef = image.repoTags[0] ?? image.id;
});

afterEach(async () => {
  await releaseIdle();
  expect(sandboxResources()).toEqual({ cgroups: [], mounts: [], processes: [] });
});

afterAll(() => {
  expect(mountsContaining(dir)).toEqual([]);
  removeTree(dir);
});

describe('a command and its result', () => {
  it('returns stdout, stderr, the exit code and accounting', async () => {
    const r = await runSandbox({ rootfs, argv: ['sh', '-c', 'echo out; echo err >&2; exit 3'] });
    expect(r).toMatchObject({ exitCode: 3, signal: null, reason: 'exit', stdout: 'out\n', stderr: 'err\n' });
    expect(r.error).toBeUndefined();
    expect(r.wallMs).toBeGreaterThan(0);
    expect(r.cpuMs).toBeGreaterThan(0);
    expect(r.peakMemoryBytes).toBeGreaterThan(0);
  });

  it('passes env, cwd and stdin', async () => {
    const r = await runSandbox({
      rootfs,
      argv: ['sh', '-c', 'echo "$GREETING $(pwd)"; cat; echo "PATH=$PATH"'],
      env: { GREETING: 'hello' },
      cwd: '/etc',
      stdin: 'from stdin\n',
    });
    expect(r.stdout).toBe('hello /etc\nfrom stdin\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n');
    const arrayEnv = await runSandbox({ rootfs, argv: ['hull-probe', 'env'], env: ['A=1', 'B=x=y'] });
    expect(arrayEnv.stdout.split('\n')).toEqual(expect.arrayContaining(['A=1', 'B=x=y', 'HOME=/root']));
  });

  it('streams output to callbacks as it arrives', async () => {
    const chunks: string[] = [];
    const r = await runSandbox({ rootfs, argv: ['sh', '-c', 'echo one; echo two >&2'], onStdout: (c) => chunks.push(`out:${c}`), onStderr: (c) => chunks.push(`err:${c}`) });
    expect(chunks.sort()).toEqual(['err:two\n', 'out:one\n']);
    expect(r.stdout).toBe('one\n');
  });

  it('reports a command that does not exist with exit code 127', async () => {
    const r = await runSandbox({ rootfs, argv: ['no-such-command', 'x'] });
    expect(r.exitCode).toBe(127);
    expect(r.reason).toBe('error');
    expect(r.error?.message).toMatch(/command not found: no-such-command/);
    const viaShell = await runSandbox({ rootfs, argv: ['sh', '-c', 'no-such-command'] });
    expect(viaShell).toMatchObject({ exitCode: 127, reason: 'exit' });
    expect(viaShell.stderr).toMatch(/not found/);
  });

  it('reports a file that cannot be executed with exit code 126', async () => {
    const r = await runSandbox({ rootfs, argv: ['/etc/passwd'] });
    expect(r).toMatchObject({ exitCode: 126, reason: 'error' });
  });

  it('runs as the requested user, who can still write /tmp', async () => {
    const r = await runSandbox({ rootfs, argv: ['sh', '-c', 'id -u; id -g; echo x > /tmp/mine && ls -n /tmp/mine | cut -c1-30; echo $HOME'], user: { uid: 1000, gid: 1000 } });
    expect(r.stdout).toMatch(/^1000\n1000\n-rw-r--r--\s+1 1000\s+1000/);
    expect(r.stdout.trim().split('\n').at(-1)).toBe('/');
  });

  it('runs as PID 1 of its own PID namespace, with its own hostname', async () => {
    const r = await runSandbox({ rootfs, argv: ['hull-probe', 'report'], hostname: 'box1' });
    const report = JSON.parse(r.stdout);
    expect(report.pid).toBe(1);
    expect(report.hostname).toBe('box1');
    expect(report.no_new_privs).toBe(true);
    expect(report.seccomp).toBe(2);
    expect(report.caps.eff).toBe('0000000020000420');
    const host = fs.readlinkSync('/proc/self/ns/pid');
    expect(report.namespaces.pid).not.toBe(host);
  });
});

describe('the filesystem', () => {
  it('has a read-only root and a writable /tmp', async () => {
    const r = await runSandbox({ rootfs, argv: ['sh', '-c', 'touch /etc/x; echo "etc=$?"; echo data > /tmp/f && cat /tmp/f'] });
    expect(r.stdout).toBe('etc=1\ndata\n');
    expect(r.stderr).toMatch(/Read-only file system/);
    expect(fs.existsSync(path.join(rootfs, 'etc/x'))).toBe(false);
  });

  it('limits /tmp to tmpSize', async () => {
    const r = await runSandbox({ rootfs, argv: ['sh', '-c', 'dd if=/dev/zero of=/tmp/big bs=1M count=8 2>&1; echo "dd=$?"'], tmpSize: '2m' });
    expect(r.stdout).toMatch(/No space left on device/);
    expect(r.stdout).toMatch(/dd=1/);
  });

  it('gives a private writable root with readonlyRoot: false, and leaves the rootfs untouched', async () => {
    const r = await runSandbox({ rootfs, readonlyRoot: false, argv: ['sh', '-c', 'echo changed > /etc/hostname; cat /etc/hostname; mkdir /newdir && echo ok'] });
    expect(r.stdout).toBe('changed\nok\n');
    expect(fs.readFileSync(path.join(rootfs, 'etc/hostname'), 'utf8')).toBe('busybox\n');
    expect(fs.existsSync(path.join(rootfs, 'newdir'))).toBe(false);
  });

  it('binds extra mounts, read-only unless asked otherwise', async () => {
    const data = path.join(dir, 'data');
    fs.mkdirSync(data, { recursive: true });
    fs.writeFileSync(path.join(data, 'in.txt'), 'input\n');
    const out = path.join(dir, 'out');
    fs.mkdirSync(out, { recursive: true });
    const r = await runSandbox({
      rootfs,
      mounts: [{ source: data, target: '/data' }, { source: out, target: '/out', readonly: false }],
      argv: ['sh', '-c', 'cat /data/in.txt; touch /data/no 2>/dev/null || echo ro; echo result > /out/r.txt'],
    });
    expect(r.stdout).toBe('input\nro\n');
    expect(fs.readFileSync(path.join(out, 'r.txt'), 'utf8')).toBe('result\n');
    expect(fs.existsSync(path.join(data, 'no'))).toBe(false);
  });
});

describe('the network', () => {
  it('has only loopback by default', async () => {
    const r = await runSandbox({ rootfs, argv: ['sh', '-c', 'ip -o link | cut -d: -f2; echo ---; tail -n +3 /proc/net/dev | cut -d: -f1'] });
    const [links, devs] = r.stdout.split('---\n');
    expect(links.trim().split('\n').map((l) => l.trim())).toEqual(['lo']);
    expect(devs.trim().split('\n').map((l) => l.trim())).toEqual(['lo']);
  });

  it('cannot reach a server on the host', async () => {
    const net = await import('node:net');
    const server = net.createServer((s) => s.end('secret\n'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as import('node:net').AddressInfo).port;
    try {
      const r = await runSandbox({ rootfs, argv: ['sh', '-c', `nc -w 1 127.0.0.1 ${port} </dev/null; echo "nc=$?"`], timeoutMs: 10_000 });
      expect(r.stdout).not.toMatch(/secret/);
      expect(r.stdout).toMatch(/nc=1/);
      const host = await runSandbox({ rootfs, network: 'host', argv: ['sh', '-c', `nc -w 1 127.0.0.1 ${port} </dev/null`], timeoutMs: 10_000 });
      expect(host.stdout).toBe('secret\n');
    } finally {
      server.close();
    }
  });
});

describe('images from the hull store', () => {
  it('runs an image by reference, with its config', async () => {
    const r = await runSandbox({ image: imageRef, storeRoot, argv: ['sh', '-c', 'echo $PATH; ls /bin/hull-probe'] });
    expect(r).toMatchObject({ exitCode: 0, stdout: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n/bin/hull-probe\n' });
  });

  it('shares one prepared image between many runs', async () => {
    await using image = await prepareImage(imageRef, { storeRoot });
    const results = await Promise.all(
      Array.from({ length: 4 }, (_, i) => runSandbox({ image, argv: ['sh', '-c', `echo ${i} > /tmp/me; cat /tmp/me`] })),
    );
    expect(results.map((r) => r.stdout)).toEqual(['0\n', '1\n', '2\n', '3\n']);
    const writable = await runSandbox({ image, readonlyRoot: false, argv: ['sh', '-c', 'echo x > /root/file && cat /root/file'] });
    expect(writable.stdout).toBe('x\n');
  });

  it('rejects a store root that is not a store, creating nothing there', async () => {
    const notAStore = path.join(dir, 'not-a-store');
    await expect(runSandbox({ image: imageRef, storeRoot: notAStore, argv: ['true'] })).rejects.toMatchObject({
      option: 'image', code: 'ENOIMAGE', message: expect.stringMatching(/there is no hull image store at/),
    });
    expect(fs.existsSync(notAStore)).toBe(false);
  });

  it('rejects an image that is not in the store, creating nothing', async () => {
    await expect(runSandbox({ image: 'localhost/no-such-image:1', storeRoot, argv: ['true'] })).rejects.toMatchObject({
      name: 'SandboxOptionError', option: 'image', code: 'ENOIMAGE', message: expect.stringMatching(/^image: no image "localhost\/no-such-image:1"/),
    });
  });
});

describe('trace', () => {
  it('reports each kernel step the helper takes, and the cgroup files hull writes', async () => {
    const steps: { step: number; op: string; text: string }[] = [];
    const r = await runSandbox({ rootfs, argv: ['true'], memory: '32m', trace: (step, op, text) => steps.push({ step, op, text }) });
    expect(r.exitCode).toBe(0);
    const ops = steps.map((s) => s.op);
    // The filter comes precompiled (one seccomp-bpf op per sandbox shape, src/sandbox/plan.ts).
    expect(ops).toEqual(expect.arrayContaining(['cgroup', 'clone', 'cgroup-join', 'mount', 'pivot', 'seccomp-bpf', 'exec']));
    expect(steps.find((s) => s.op === 'seccomp-bpf')!.text).toMatch(/seccomp\(SECCOMP_SET_MODE_FILTER, \d+ rules, \d+ instructions\)/);
    expect(steps.find((s) => s.op === 'clone')!.text).toMatch(/CLONE_NEWPID.*CLONE_NEWNET|CLONE_NEWNET.*CLONE_NEWPID/);
    expect(steps.some((s) => s.op === 'cgroup' && /memory\.(limit_in_bytes|max)", "33554432"/.test(s.text))).toBe(true);
    expect(steps.find((s) => s.op === 'exec')!.text).toMatch(/execve\("\/bin\/true"/);
  });
});
