// Issue 6, `--device` as docker does it: the node is created in the container's /dev and the device
// cgroup gets one allow rule with exactly the requested permissions (the runtime adds none for
// linux.devices, as runc); a directory gives every device node below it at the same relative paths.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupHullRoot, loadTestImage, runHull } from '../setup/hull-cli';
import { testImages } from '../setup/images';
import { createPodmanEnv, describeWithPeers, describeRun, HULL_OCI, startDockerd, stopDockerd } from '../setup/peers';
import { tempDir } from '../setup/rootfs';

const IMAGE = 'localhost/hull-test:latest';
let root: string;
let tmp: string;

const hull = (args: string[]) => runHull(args, { HULL_ROOT: root });

/** The container's v1 devices hierarchy directory, or undefined on a v2-only host. */
function devicesCgroupDir(id: string): string | undefined {
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!post) continue;
    const [fstype, , superOpts] = post.split(' ');
    if (fstype === 'cgroup' && superOpts.split(',').includes('devices')) return path.join(pre.split(' ')[4], 'hull', id);
  }
  return undefined;
}

beforeAll(async () => {
  tmp = tempDir('hull-device-');
  root = path.join(tmp, 'root');
  await loadTestImage(root);
});

afterAll(async () => {
  if (root) await cleanupHullRoot(hull, root, tmp);
});

describe('--device permissions', () => {
  // loop-control (10:237) is outside docker's default rules, so only the --device rule decides.
  const haveLoopControl = fs.existsSync('/dev/loop-control');

  it.runIf(haveLoopControl)('r: the container can open the device for reading, not for writing', async () => {
    const script = 'exec 3</dev/lc && echo read-ok; (exec 4>/dev/lc) 2>&1; echo "write=$?"';
    const r = await hull(['run', '--rm', '--device', '/dev/loop-control:/dev/lc:r', IMAGE, 'sh', '-c', script]);
    expect(r.stdout).toMatch(/^read-ok\n.*Operation not permitted\nwrite=[1-9]/);
    expect(r.code).toBe(0);
  });

  it.runIf(haveLoopControl)('w: writing works and reading is refused', async () => {
    const script = '(exec 3</dev/lc) 2>&1; echo "read=$?"; exec 4>/dev/lc && echo write-ok';
    const r = await hull(['run', '--rm', '--device', '/dev/loop-control:/dev/lc:w', IMAGE, 'sh', '-c', script]);
    expect(r.stdout).toMatch(/Operation not permitted\nread=[1-9]\nwrite-ok\n$/);
  });

  it.runIf(haveLoopControl)('the cgroup holds exactly the requested permissions (v1 devices.list)', async () => {
    const id = (await hull(['run', '-d', '--device', '/dev/loop-control:/dev/lc:rw', IMAGE, 'sleep', '60'])).stdout.trim();
    try {
      const dir = devicesCgroupDir(id);
      if (dir) {
        const list = fs.readFileSync(path.join(dir, 'devices.list'), 'utf8').split('\n');
        expect(list).toContain('c 10:237 rw');
        expect(list).not.toContain('c 10:237 rwm');
        // docker's defaults are still there: mknod of any char or block device, the harmless nodes.
        expect(list).toEqual(expect.arrayContaining(['c *:* m', 'b *:* m', 'c 1:3 rwm']));
      }
      // m is not in the rule, but docker's default "c *:* m" lets mknod through (docker does the
      // same); opening the new node still follows the rule: write allowed, and for another device no.
      const r = await hull(['exec', id, 'sh', '-c', 'mknod /dev/lc2 c 10 237 && echo mknod-ok; exec 3>/dev/lc2 && echo open-ok; mknod /dev/l0 b 7 0; (exec 4</dev/l0) 2>&1']);
      expect(r.stdout).toMatch(/^mknod-ok\nopen-ok\n.*Operation not permitted/);
    } finally {
      await hull(['rm', '-f', id]);
    }
  });

  it('a device in docker\'s defaults keeps them: /dev/zero:/dev/z:r is still writable (c 1:5 rwm), as with docker', async () => {
    const r = await hull(['run', '--rm', '--device', '/dev/zero:/dev/z:r', IMAGE, 'sh', '-c', 'head -c 4 /dev/z | wc -c && echo x > /dev/z && echo write-ok']);
    expect(r.stdout).toBe('4\nwrite-ok\n');
  });

  it('without --device the node is absent and its numbers refused', async () => {
    const r = await hull(['run', '--rm', IMAGE, 'sh', '-c', 'ls /dev/lc 2>&1; mknod /dev/lc c 10 237 && (exec 3</dev/lc) 2>&1']);
    expect(r.stdout).toMatch(/No such file[\s\S]*Operation not permitted/);
  });
});

describe('--device DIRECTORY', () => {
  it('adds every device node below it, recursively, at the same relative paths', async () => {
    const dir = path.join(tmp, 'snd');
    fs.mkdirSync(path.join(dir, 'sub', 'deeper'), { recursive: true });
    const mknod = (p: string, major: number, minor: number) => expect(spawnSync('mknod', ['-m', '0660', p, 'c', String(major), String(minor)]).status).toBe(0);
    mknod(path.join(dir, 'null'), 1, 3);
    mknod(path.join(dir, 'sub', 'deeper', 'zero'), 1, 5);
    mknod(path.join(dir, 'sub', 'ctl'), 10, 237); // outside docker's default rules
    fs.writeFileSync(path.join(dir, 'README'), 'not a device\n');
    fs.symlinkSync('null', path.join(dir, 'alias'));
    const r = await hull(['run', '--rm', '--device', `${dir}:/dev/snd:rw`, IMAGE, 'sh', '-c',
      'find /dev/snd | sort; stat -c "%n %F %t:%T %a" /dev/snd/null /dev/snd/sub/deeper/zero; echo x > /dev/snd/null && head -c 3 /dev/snd/sub/deeper/zero | wc -c']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe([
      '/dev/snd', '/dev/snd/null', '/dev/snd/sub', '/dev/snd/sub/ctl', '/dev/snd/sub/deeper', '/dev/snd/sub/deeper/zero',
      '/dev/snd/null character special file 1:3 660', '/dev/snd/sub/deeper/zero character special file 1:5 660', '3', '',
    ].join('\n'));
    // The permissions apply to every node found: ctl (10:237) is refused for writing under :r.
    const ro = await hull(['run', '--rm', '--device', `${dir}:/dev/snd:r`, IMAGE, 'sh', '-c', '(exec 4>/dev/snd/sub/ctl) 2>&1; echo "write=$?"']);
    expect(ro.stdout).toMatch(/Operation not permitted\nwrite=[1-9]\n$/);
    const rw = await hull(['run', '--rm', '--device', `${dir}:/dev/snd:w`, IMAGE, 'sh', '-c', '(exec 4>/dev/snd/sub/ctl) 2>&1; echo "write=$?"']);
    expect(rw.stdout).not.toMatch(/Operation not permitted/);
  });

  it('a directory without device nodes is an error (125)', async () => {
    const empty = path.join(tmp, 'empty');
    fs.mkdirSync(empty);
    fs.writeFileSync(path.join(empty, 'f'), '');
    const r = await hull(['run', '--rm', '--device', `${empty}:/dev/e`, IMAGE, 'true']);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/error gathering device information/);
  });
});

describeWithPeers(['podman', 'runc'], 'hull-oci under podman', () => {
  it('gives --device (permissions, a directory) the same result as runc', async () => {
    const images = await testImages();
    const dir = path.join(tmp, 'podman-snd');
    fs.mkdirSync(path.join(dir, 'sub'), { recursive: true });
    for (const [name, major, minor] of [['null', 1, 3], ['sub/ctl', 10, 237]] as const) {
      expect(spawnSync('mknod', [path.join(dir, name), 'c', String(major), String(minor)]).status).toBe(0);
    }
    // mknod is allowed by the default "c *:* m"; /dev/z (1:5) stays writable through the defaults.
    const script = 'find /dev/snd | sort; (exec 4>/dev/snd/sub/ctl) 2>&1; echo "w=$?"; exec 3</dev/snd/sub/ctl 2>&1; echo "r=$?"; ' +
      'mknod /dev/m c 10 237 && echo mknod-ok; echo x > /dev/z && echo z-ok';
    const outputs: string[] = [];
    for (const runtime of ['/usr/sbin/runc', HULL_OCI]) {
      const env = createPodmanEnv({ runtime });
      try {
        const load = env.podman(['load', '-i', images.dockerArchive]);
        expect(load.status, describeRun('podman', ['load'], load)).toBe(0);
        const args = ['run', '--rm', '--device', `${dir}:/dev/snd:r`, '--device', '/dev/zero:/dev/z:r', IMAGE, 'sh', '-c', script];
        const r = env.podman(args);
        expect(r.status, describeRun('podman', args, r)).toBe(0);
        outputs.push(r.stdout);
      } finally {
        env.cleanup();
      }
    }
    expect(outputs[0]).toMatch(/^\/dev\/snd\n\/dev\/snd\/null\n\/dev\/snd\/sub\n\/dev\/snd\/sub\/ctl\n.*Operation not permitted\nw=1\n/);
    expect(outputs[1]).toBe(outputs[0]);
  }, 120_000);

  it('a --device at a default node\'s path replaces its default rule: /dev/zero:/dev/zero:r refuses writes, as with runc', async () => {
    const images = await testImages();
    // podman writes no rule for 1:5 itself: the runtime's default for /dev/zero goes with the path.
    const script = 'head -c 4 /dev/zero | wc -c; (echo x > /dev/zero) 2>&1; echo "w=$?"; echo x > /dev/null && echo null-ok';
    const outputs: string[] = [];
    for (const runtime of ['/usr/sbin/runc', HULL_OCI]) {
      const env = createPodmanEnv({ runtime });
      try {
        const load = env.podman(['load', '-i', images.dockerArchive]);
        expect(load.status, describeRun('podman', ['load'], load)).toBe(0);
        const args = ['run', '--rm', '--device', '/dev/zero:/dev/zero:r', IMAGE, 'sh', '-c', script];
        const r = env.podman(args);
        expect(r.status, describeRun('podman', args, r)).toBe(0);
        outputs.push(r.stdout);
      } finally {
        env.cleanup();
      }
    }
    expect(outputs[0]).toMatch(/^4\n.*Operation not permitted\nw=1\nnull-ok\n$/);
    expect(outputs[1]).toBe(outputs[0]);
  }, 120_000);
});

describeWithPeers(['docker', 'runc'], 'default device rules against docker', () => {
  it('hull run opens the same device numbers as docker run (runc), with and without --device', async () => {
    const images = await testImages();
    // mknod is allowed for all; whether each node then opens is what the device cgroup decides.
    const script = 'for n in 1:3 1:5 1:7 1:8 1:9 5:0 10:200 10:229 1:11 10:237; do mknod /tmp/d$n c ${n%:*} ${n#*:}; ' +
      '(exec 3</tmp/d$n) 2>/dev/null && echo "$n r" || echo "$n -"; (exec 3>/tmp/d$n) 2>/dev/null && echo "$n w" || echo "$n -"; done';
    const flags = [[], ['--device', '/dev/zero:/dev/z:r', '--device', '/dev/loop-control:/dev/lc:w']];
    const dockerd = await startDockerd();
    try {
      const load = dockerd.docker(['load', '-i', images.dockerArchive]);
      expect(load.status, describeRun('docker', ['load'], load)).toBe(0);
      for (const f of flags) {
        const args = ['run', '--rm', '--runtime', 'runc', '--network', 'none', ...f, IMAGE, 'sh', '-c', script];
        const want = dockerd.docker(args);
        expect(want.status, describeRun('docker', args, want)).toBe(0);
        const got = await hull(['run', '--rm', ...f, IMAGE, 'sh', '-c', script]);
        expect({ flags: f, out: got.stdout }).toEqual({ flags: f, out: want.stdout });
      }
    } finally {
      await stopDockerd(dockerd);
    }
  }, 120_000);
});
