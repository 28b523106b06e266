// Issue 6, `--userns remap`: root inside the container is an unprivileged id range outside, taken from
// a subordinate-id file (HULL_SUBUID_FILE / HULL_SUBGID_FILE here, so the host's /etc/subuid is left
// alone); files written to a volume carry the mapped ids; without a range, exit 125.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupHullRoot, loadTestImage, runHull } from '../setup/hull-cli';
import { tempDir } from '../setup/rootfs';

const IMAGE = 'localhost/hull-test:latest';
const BASE = 231072;
let root: string;
let tmp: string;
let subuid: string;
let subgid: string;

const hull = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  runHull(args, { HULL_ROOT: root, HULL_SUBUID_FILE: subuid, HULL_SUBGID_FILE: subgid, ...env });

beforeAll(async () => {
  tmp = tempDir('hull-userns-');
  fs.chmodSync(tmp, 0o755); // the mapped root walks through the state root
  root = path.join(tmp, 'root');
  subuid = path.join(tmp, 'subuid');
  subgid = path.join(tmp, 'subgid');
  fs.writeFileSync(subuid, `someone:100000:65536\nhull:${BASE}:65536\n`);
  fs.writeFileSync(subgid, `hull:${BASE}:65536\n`);
  await loadTestImage(root);
});

afterAll(async () => {
  if (root) await cleanupHullRoot(hull, root, tmp, { volumes: true });
});

describe('--userns remap', () => {
  it('root inside is the subordinate range outside; volume files carry the mapped ids', async () => {
    const vol = `uvol-${process.pid}`;
    const r = await hull(['run', '--rm', '--userns', 'remap', '-v', `${vol}:/data`, IMAGE, 'sh', '-c',
      'cat /proc/self/uid_map; id -u; echo hi > /data/f; mkdir /data/d; chown 1000:1000 /data/d; touch /tmp/x && echo rootfs-writable']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const [map, uid, writable] = r.stdout.trim().split('\n');
    expect(map.trim().split(/\s+/)).toEqual(['0', String(BASE), '65536']);
    expect(uid).toBe('0');
    expect(writable).toBe('rootfs-writable');
    const mountpoint = JSON.parse((await hull(['volume', 'inspect', vol])).stdout)[0].Mountpoint as string;
    const f = fs.statSync(path.join(mountpoint, 'f'));
    expect([f.uid, f.gid]).toEqual([BASE, BASE]);
    const d = fs.statSync(path.join(mountpoint, 'd'));
    expect([d.uid, d.gid]).toEqual([BASE + 1000, BASE + 1000]);
  });

  it('the report shows a user namespace of its own and full capabilities only inside it', async () => {
    const report = JSON.parse((await hull(['run', '--rm', '--userns', 'remap', IMAGE, 'hull-probe', 'report'])).stdout);
    expect(report.uid).toBe(0);
    expect(report.namespaces.user).not.toBe(fs.readlinkSync('/proc/self/ns/user'));
    expect(report.caps.eff).toBe('00000000a80425fb');
    // Host-privileged operations stay out of reach.
    const t = (await hull(['run', '--rm', '--userns', 'remap', IMAGE, 'hull-probe', 'try', 'mknod-block', 'setrlimit-raise'])).stdout;
    for (const line of t.trim().split('\n')) expect(JSON.parse(line).ok).toBe(false);
  });

  it('without subordinate ids, with --privileged or a bad mode: exit 125, nothing created', async () => {
    const empty = path.join(tmp, 'empty');
    fs.writeFileSync(empty, '');
    const none = await hull(['run', '--rm', '--userns', 'remap', IMAGE, 'true'], { HULL_SUBUID_FILE: empty });
    expect(none.code).toBe(125);
    expect(none.stderr).toMatch(/subordinate ids/);
    expect((await hull(['run', '--rm', '--userns', 'remap', '--privileged', IMAGE, 'true'])).code).toBe(125);
    expect((await hull(['run', '--rm', '--userns', 'sideways', IMAGE, 'true'])).code).toBe(125);
    expect((await hull(['ps', '-a', '-q'])).stdout).toBe('');
  });
});
