// Same bundle, same config.json (from `runc spec`), run by runc and by bin/hull-oci: what the
// container sees must match field by field. A cheap cross-check of the spec semantics; the
// integration tests assert each item in detail.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { makeBusyboxRootfs, tempDir } from '../setup/rootfs';
import { describeRun, describeWithPeers, interopRuntime, run, unmountAndRemove } from '../setup/peers';

// Each section starts with "== name"; the script only uses busybox applets present in the rootfs.
const SCRIPT = [
  'echo "== hostname"; hostname',
  'echo "== id"; id',
  'echo "== status"; grep -E "^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):" /proc/self/status',
  'echo "== cwd"; pwd',
  'echo "== env"; env | grep -v "^HOSTNAME=" | sort',
  'echo "== mounts"; awk \'{print $5, $9}\' /proc/self/mountinfo | sort',
  'echo "== dev"; ls -1 /dev | sort',
  'echo "== nofile"; ulimit -n',
  'echo "== rootfs-ro"; touch /x 2>/dev/null && echo writable || echo readonly',
  'echo "== pid"; echo $$',
].join('\n');

function sections(out: string): Record<string, string> {
  const result: Record<string, string> = {};
  let current = '';
  for (const line of out.split('\n')) {
    const m = /^== (\S+)$/.exec(line);
    if (m) result[(current = m[1])] = '';
    else if (current) result[current] += line + '\n';
  }
  return result;
}

describeWithPeers(['runc'], 'runc and hull-oci agree on the same bundle', () => {
  let dir: string;
  const seen: Record<'runc' | 'hull', Record<string, string>> = { runc: {}, hull: {} };

  beforeAll(() => {
    dir = tempDir('hull-cmp-');
    const bundle = path.join(dir, 'bundle');
    makeBusyboxRootfs(path.join(bundle, 'rootfs'));
    const spec = run('runc', ['spec', '--bundle', bundle]);
    expect(spec.status, describeRun('runc', ['spec'], spec)).toBe(0);
    const config = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8'));
    config.process.terminal = false;
    config.process.args = ['sh', '-c', SCRIPT];
    config.process.user = { uid: 1000, gid: 1000, additionalGids: [5] };
    config.process.cwd = '/tmp';
    config.hostname = 'hull-cmp';
    fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(config, null, 2));

    for (const [name, exe] of [['runc', 'runc'], ['hull', interopRuntime]] as const) {
      const args = ['--root', path.join(dir, `state-${name}`), 'run', '--bundle', bundle, `hull-cmp-${process.pid}-${name}`];
      const r = run(exe, args, { timeoutMs: 60_000 });
      expect(r.status, describeRun(exe, args, r)).toBe(0);
      seen[name] = sections(r.stdout);
    }
  });
  afterAll(() => {
    if (dir) unmountAndRemove(dir);
  });

  for (const field of ['hostname', 'id', 'status', 'cwd', 'env', 'mounts', 'dev', 'nofile', 'rootfs-ro', 'pid']) {
    it(field, () => {
      expect(seen.runc[field], `runc printed no "${field}" section`).toBeDefined();
      expect(seen.hull[field]).toBe(seen.runc[field]);
    });
  }
});

