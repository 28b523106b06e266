// linux.timeOffsets: a new time namespace whose clock offsets the container sees (and exec too).
import { describe, it, expect, afterAll, afterEach } from 'vitest';
import * as fs from 'node:fs';
import { ociHarness } from '../setup/oci-harness';
import type { Spec } from '../../src/runtime/spec';

const h = ociHarness('timens');
const { oci, ok, bundle, newId } = h;
const DAY = 86400;

/** A new time namespace with a monotonic offset of a day and a boottime offset of two. */
function withOffsets(s: Spec): void {
  s.linux!.namespaces!.push({ type: 'time' });
  s.linux!.timeOffsets = { monotonic: { secs: DAY, nanosecs: 0 }, boottime: { secs: 2 * DAY, nanosecs: 500 } };
}
/** "monotonic 86400 0\nboottime ..." → { monotonic: [86400, 0], ... } */
function parseOffsets(text: string): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const line of text.trim().split('\n')) {
    const [clock, secs, nanosecs] = line.trim().split(/\s+/);
    out[clock] = [Number(secs), Number(nanosecs)];
  }
  return out;
}
const uptimeOf = (text: string) => Number(text.trim().split(/\s+/)[0]);

afterEach(() => h.afterEachTest());
afterAll(() => h.afterAllTests());

describe('linux.timeOffsets', () => {
  it('the container sees its offsets in /proc/self/timens_offsets, and /proc/uptime moved by the boottime one', () => {
    const b = bundle(['/bin/sh', '-c', 'cat /proc/self/timens_offsets; echo ---; cat /proc/uptime'], withOffsets);
    const id = newId('timens');
    const [offsets, uptime] = ok('run', '--bundle', b.dir, id).split('---\n');
    expect(parseOffsets(offsets)).toEqual({ monotonic: [DAY, 0], boottime: [2 * DAY, 500] });
    expect(uptimeOf(uptime)).toBeGreaterThanOrEqual(2 * DAY);
    expect(uptimeOf(fs.readFileSync('/proc/uptime', 'utf8'))).toBeLessThan(uptimeOf(uptime));
    h.expectNoLeaks(id, b);
  });

  it('create/start and exec: the process and an exec share the namespace; the host keeps its clocks', () => {
    const b = bundle(['/bin/sleep', '1000'], withOffsets);
    const id = newId('timens-exec');
    ok('create', '--bundle', b.dir, id);
    ok('start', id);
    const pid = JSON.parse(ok('state', id)).pid as number;
    expect(fs.readlinkSync(`/proc/${pid}/ns/time`)).not.toBe(fs.readlinkSync('/proc/self/ns/time'));
    expect(parseOffsets(fs.readFileSync(`/proc/${pid}/timens_offsets`, 'utf8'))).toEqual({ monotonic: [DAY, 0], boottime: [2 * DAY, 500] });
    expect(parseOffsets(fs.readFileSync('/proc/self/timens_offsets', 'utf8'))).toEqual({ monotonic: [0, 0], boottime: [0, 0] });
    expect(uptimeOf(ok('exec', id, '/bin/cat', '/proc/uptime'))).toBeGreaterThanOrEqual(2 * DAY);
    ok('delete', '--force', id);
    h.expectNoLeaks(id, b);
  });

  it('works in a user namespace (the time namespace belongs to it)', () => {
    const b = bundle(['/bin/cat', '/proc/self/timens_offsets'], (s) => {
      withOffsets(s);
      s.linux!.namespaces!.push({ type: 'user' });
      s.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
      s.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    });
    fs.chmodSync(b.dir, 0o755); // the mapped root must be able to walk in
    fs.chownSync(b.rootfs, 100000, 100000);
    const id = newId('timens-user');
    expect(parseOffsets(ok('run', '--bundle', b.dir, id))).toEqual({ monotonic: [DAY, 0], boottime: [2 * DAY, 500] });
    h.expectNoLeaks(id, b);
  });

  it('a time namespace without offsets still works; offsets without a new time namespace are refused', () => {
    const plain = bundle(['/bin/cat', '/proc/self/timens_offsets'], (s) => {
      s.linux!.namespaces!.push({ type: 'time' });
    });
    expect(parseOffsets(ok('run', '--bundle', plain.dir, newId('timens-plain')))).toEqual({ monotonic: [0, 0], boottime: [0, 0] });

    const refused = bundle(['/bin/true'], (s) => {
      s.linux!.timeOffsets = { monotonic: { secs: DAY } };
    });
    const id = newId('timens-none');
    const r = oci('run', '--bundle', refused.dir, id);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('linux.timeOffsets: time offsets need a new time namespace');
    h.expectNoLeaks(id, refused);
  });
});
