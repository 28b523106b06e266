// Issue 4, `hull cp` through volumes and binds: a path at or below a mount point is copied in the
// mount's host directory (what the container sees there), both ways, running or stopped, and
// stays confined to that directory (symlinks in the volume resolve inside it).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupHullRoot, loadTestImage, runHull } from '../setup/hull-cli';
import { tempDir } from '../setup/rootfs';

const IMAGE = 'localhost/hull-test:latest';
let root: string;
let tmp: string;

const hull = (args: string[]) => runHull(args, { HULL_ROOT: root });
const unique = (prefix: string) => `${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

async function volumeDir(name: string): Promise<string> {
  const r = await hull(['volume', 'inspect', name]);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout)[0].Mountpoint as string;
}

beforeAll(async () => {
  tmp = tempDir('hull-cp-');
  root = path.join(tmp, 'root');
  await loadTestImage(root);
});

afterAll(async () => {
  if (root) await cleanupHullRoot(hull, root, tmp, { volumes: true });
});

describe('hull cp with a named volume', () => {
  it('copies into and out of the volume of a running container', async () => {
    const name = unique('cpvol');
    const vol = unique('vol');
    expect((await hull(['run', '-d', '--name', name, '-v', `${vol}:/data`, IMAGE, 'sleep', '60'])).code).toBe(0);
    try {
      const host = await volumeDir(vol);
      // In: a file into the mount point, a directory below it, a new name.
      fs.writeFileSync(path.join(tmp, 'in.txt'), 'from host\n');
      fs.mkdirSync(path.join(tmp, 'tree', 'sub'), { recursive: true });
      fs.writeFileSync(path.join(tmp, 'tree', 'sub', 'f'), 'deep\n');
      expect(await hull(['cp', path.join(tmp, 'in.txt'), `${name}:/data/`])).toMatchObject({ code: 0, stderr: '' });
      expect(await hull(['cp', path.join(tmp, 'tree'), `${name}:/data`])).toMatchObject({ code: 0, stderr: '' });
      expect(await hull(['cp', path.join(tmp, 'in.txt'), `${name}:/data/tree/renamed.txt`])).toMatchObject({ code: 0, stderr: '' });
      expect(fs.readFileSync(path.join(host, 'in.txt'), 'utf8')).toBe('from host\n');
      expect(fs.readFileSync(path.join(host, 'tree/sub/f'), 'utf8')).toBe('deep\n');
      const seen = await hull(['exec', name, 'sh', '-c', 'cat /data/in.txt /data/tree/sub/f /data/tree/renamed.txt']);
      expect(seen.stdout).toBe('from host\ndeep\nfrom host\n');
      // Nothing went to the container's own layer under the mount point.
      expect((await hull(['diff', name])).stdout).not.toMatch(/\/data\//);

      // Out: a file written inside, the mount point itself (named after it), a subdirectory.
      expect((await hull(['exec', name, 'sh', '-c', 'echo made inside > /data/inside.txt'])).code).toBe(0);
      const out = path.join(tmp, 'out');
      fs.mkdirSync(out);
      expect(await hull(['cp', `${name}:/data/inside.txt`, out])).toMatchObject({ code: 0, stderr: '' });
      expect(fs.readFileSync(path.join(out, 'inside.txt'), 'utf8')).toBe('made inside\n');
      expect(await hull(['cp', `${name}:/data`, out])).toMatchObject({ code: 0, stderr: '' });
      expect(fs.readdirSync(path.join(out, 'data')).sort()).toEqual(['in.txt', 'inside.txt', 'tree']);
      expect(await hull(['cp', `${name}:/data/tree/sub`, path.join(out, 'sub-copy')])).toMatchObject({ code: 0, stderr: '' });
      expect(fs.readFileSync(path.join(out, 'sub-copy', 'f'), 'utf8')).toBe('deep\n');
      expect((await hull(['cp', `${name}:/data/no-such`, out])).code).toBe(1);
    } finally {
      await hull(['rm', '-f', name]);
    }
  });

  it('works on a stopped container, and symlinks in the volume cannot reach the host', async () => {
    const name = unique('cpstop');
    const vol = unique('vol');
    const marker = `hull-cp-escape-${process.pid}`;
    const made = await hull(['run', '--name', name, '-v', `${vol}:/data`, IMAGE, 'sh', '-c',
      'echo kept > /data/kept; ln -s / /data/up; ln -s /tmp /data/hosttmp; mkdir /data/tmp']);
    expect(made.code).toBe(0);
    try {
      const out = path.join(tmp, 'out-stopped');
      fs.mkdirSync(out);
      expect(await hull(['cp', `${name}:/data/kept`, out])).toMatchObject({ code: 0, stderr: '' });
      expect(fs.readFileSync(path.join(out, 'kept'), 'utf8')).toBe('kept\n');
      // /data/up is "/": resolved in the volume it is the volume itself, not the host or the rootfs.
      expect(await hull(['cp', `${name}:/data/up/kept`, path.join(out, 'via-link')])).toMatchObject({ code: 0 });
      expect(fs.readFileSync(path.join(out, 'via-link'), 'utf8')).toBe('kept\n');
      expect((await hull(['cp', `${name}:/data/up/etc/passwd`, path.join(out, 'passwd')])).code).toBe(1);
      expect(fs.existsSync(path.join(out, 'passwd'))).toBe(false);
      // Into a symlink to /tmp: lands in the volume's own tmp, never the host's /tmp.
      fs.writeFileSync(path.join(tmp, marker), 'x\n');
      expect((await hull(['cp', path.join(tmp, marker), `${name}:/data/hosttmp/`])).code).toBe(0);
      expect(fs.existsSync(path.join('/tmp', marker))).toBe(false);
      expect(fs.existsSync(path.join(await volumeDir(vol), 'tmp', marker))).toBe(true);
    } finally {
      fs.rmSync(path.join('/tmp', marker), { force: true });
      await hull(['rm', '-f', name]);
    }
  });

  it('a bind mount: its host directory; read-only ones refuse copies in', async () => {
    const name = unique('cpbind');
    const rw = path.join(tmp, 'bind-rw');
    const ro = path.join(tmp, 'bind-ro');
    fs.mkdirSync(rw);
    fs.mkdirSync(ro);
    fs.writeFileSync(path.join(ro, 'r.txt'), 'read only\n');
    expect((await hull(['create', '--name', name, '-v', `${rw}:/mnt/rw`, '-v', `${ro}:/mnt/ro:ro`, IMAGE, 'true'])).code).toBe(0);
    try {
      fs.writeFileSync(path.join(tmp, 'b.txt'), 'bound\n');
      expect(await hull(['cp', path.join(tmp, 'b.txt'), `${name}:/mnt/rw/`])).toMatchObject({ code: 0, stderr: '' });
      expect(fs.readFileSync(path.join(rw, 'b.txt'), 'utf8')).toBe('bound\n');
      expect(await hull(['cp', `${name}:/mnt/ro/r.txt`, path.join(tmp, 'r-out.txt')])).toMatchObject({ code: 0, stderr: '' });
      expect(fs.readFileSync(path.join(tmp, 'r-out.txt'), 'utf8')).toBe('read only\n');
      const refused = await hull(['cp', path.join(tmp, 'b.txt'), `${name}:/mnt/ro/`]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/read-only/);
      expect(fs.existsSync(path.join(ro, 'b.txt'))).toBe(false);
    } finally {
      await hull(['rm', '-f', name]);
    }
  });
});
