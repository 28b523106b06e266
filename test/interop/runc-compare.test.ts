// Same rootfs, same config.json (from `runc spec`), run by runc and by bin/hull-oci: what the
// container sees must match field by field. A cheap cross-check of the spec semantics against the
// reference runtime; the integration tests assert each item in detail.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { makeBusyboxRootfs, tempDir } from '../setup/rootfs';
import { describeRun, describeWithPeers, interopRuntime, run, unmountAndRemove } from '../setup/peers';

// Each section starts with "== name"; busybox applets only (hull-probe sections are added when the
// probe is in the rootfs).
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
  'if [ -x /bin/hull-probe ]; then echo "== probe-report"; /bin/hull-probe report; echo "== probe-try"; /bin/hull-probe try all; fi',
].join('\n');

const FIELDS = ['hostname', 'id', 'status', 'cwd', 'env', 'mounts', 'dev', 'nofile', 'rootfs-ro', 'pid'];
// hull-probe report fields that must agree (pids, kernel and mount ids legitimately differ).
const REPORT_FIELDS = ['hostname', 'domainname', 'uid', 'gid', 'euid', 'egid', 'groups', 'umask', 'cwd', 'caps', 'no_new_privs', 'seccomp', 'signals', 'rlimits'];

/**
 * Differences judged acceptable, with the reason; everything else must match runc exactly.
 * The cgroup v1 tmpfs: runc leaves the tmpfs under /sys/fs/cgroup writable and makes only the
 * controller mounts read-only; hull applies the mount's "ro" to the tmpfs too (stricter).
 */
function normaliseMount(line: string): string {
  return line.replace(/^\/sys\/fs\/cgroup tmpfs (ro|rw),/, '/sys/fs/cgroup tmpfs ro|rw,');
}

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

type Seen = Record<'runc' | 'hull', Record<string, string>>;

describeWithPeers(['runc'], 'runc and hull-oci agree on the same bundle', () => {
  let dir: string;
  let haveProbe = false;
  // One container as root with runc's default config, one as an unprivileged user with extra gids.
  const seen: Record<'root' | 'user', Seen> = { root: { runc: {}, hull: {} }, user: { runc: {}, hull: {} } };

  beforeAll(() => {
    dir = tempDir('hull-cmp-');
    const rootfs = makeBusyboxRootfs(path.join(dir, 'rootfs'));
    haveProbe = fs.existsSync(path.join(rootfs, 'bin/hull-probe'));
    for (const variant of ['root', 'user'] as const) {
      const bundle = path.join(dir, `bundle-${variant}`);
      fs.mkdirSync(bundle);
      const spec = run('runc', ['spec', '--bundle', bundle]);
      expect(spec.status, describeRun('runc', ['spec'], spec)).toBe(0);
      const config = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8'));
      config.root.path = rootfs;
      config.process.terminal = false;
      config.process.args = ['sh', '-c', SCRIPT];
      config.hostname = `hull-cmp-${variant}`;
      if (variant === 'user') {
        config.process.user = { uid: 1000, gid: 1000, additionalGids: [5] };
        config.process.cwd = '/tmp';
      }
      fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(config, null, 2));

      for (const [name, exe] of [['runc', 'runc'], ['hull', interopRuntime]] as const) {
        const args = ['--root', path.join(dir, `state-${name}`), 'run', '--bundle', bundle, `hull-cmp-${process.pid}-${variant}-${name}`];
        const r = run(exe, args, { timeoutMs: 60_000 });
        expect(r.status, describeRun(exe, args, r)).toBe(0);
        seen[variant][name] = sections(r.stdout);
      }
    }
  });
  afterAll(() => {
    if (dir) unmountAndRemove(dir);
  });

  for (const variant of ['root', 'user'] as const) {
    for (const field of FIELDS) {
      it(`${variant}: ${field}`, () => {
        const { runc, hull } = seen[variant];
        expect(runc[field], `runc printed no "${field}" section`).toBeDefined();
        expect(hull[field]).toBe(runc[field]);
      });
    }

    it(`${variant}: hull-probe report`, () => {
      const { runc, hull } = seen[variant];
      if (!haveProbe) return; // the probe is built with the addon; rootfs.ts leaves it out if missing
      expect(runc['probe-report'], 'runc printed no probe report').toBeDefined();
      const a = JSON.parse(runc['probe-report']);
      const b = JSON.parse(hull['probe-report'] ?? '{}');
      const pick = (r: Record<string, unknown>) => Object.fromEntries(REPORT_FIELDS.map((f) => [f, r[f]]));
      expect(pick(b)).toEqual(pick(a));
      const mounts = (r: { mounts?: { mountpoint: string; fstype: string; options: string }[] }) =>
        (r.mounts ?? []).map((m) => normaliseMount(`${m.mountpoint} ${m.fstype} ${m.options}`)).sort();
      expect(mounts(b)).toEqual(mounts(a));
    });

    it(`${variant}: hull-probe try all (what dangerous operations may do)`, () => {
      const { runc, hull } = seen[variant];
      if (!haveProbe) return;
      expect(runc['probe-try'], 'runc printed no probe results').toBeDefined();
      const results = (s: string | undefined) =>
        (s ?? '')
          .trim()
          .split('\n')
          .filter(Boolean)
          .map((l) => {
            const r = JSON.parse(l);
            return `${r.name}: ${r.ok ? 'ok' : r.errnoName}`;
          });
      expect(results(hull['probe-try'])).toEqual(results(runc['probe-try']));
    });
  }
});
