// `hull stats`: docker's number formatting and the parsing of the counters it shows, on fake files.
import { describe, expect, it } from 'vitest';
import {
  blockIo, bytesSize, collectSample, cpuPercent, formatG, humanSize, memoryFigures, parseBlkioServiceBytes, parseIoStat,
  parseNetDev, statsColumns, systemCpuNs, ZERO_SAMPLE, type StatsSample,
} from '../../src/container/stats';
import type { CgroupRecord } from '../../src/cgroup';

const v1: CgroupRecord = { version: 1, path: '/hull/x', dirs: { memory: '/cg/memory/hull/x', blkio: '/cg/blkio/hull/x', 'cpu,cpuacct': '/cg/cpu/hull/x' } };
const v2: CgroupRecord = { version: 2, path: '/hull/x', dirs: { '': '/cg2/hull/x' } };
const files = (map: Record<string, string>) => (f: string) => map[f];

const NET_DEV = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:  999999      10    0    0    0     0          0         0   999999      10    0    0    0     0       0          0
  eth0:    1500      12    0    0    0     0          0         0      648       8    0    0    0     0       0          0
  eth1:     500       2    0    0    0     0          0         0      352       3    0    0    0     0       0          0
`;

describe('docker number formatting', () => {
  it("formats like Go's %g", () => {
    expect(formatG(0, 3)).toBe('0');
    expect(formatG(1.5, 4)).toBe('1.5');
    expect(formatG(100, 3)).toBe('100');
    expect(formatG(1.23456, 3)).toBe('1.23');
    expect(formatG(999.7, 3)).toBe('1e+03');
    expect(formatG(1023.9, 4)).toBe('1024');
    expect(formatG(7.8125, 4)).toBe('7.812'); // a tie goes to even, as in Go
    expect(formatG(7.8135, 4)).toBe('7.814');
    expect(formatG(2.5, 1)).toBe('2');
  });

  it('BytesSize (binary, 4 digits) and HumanSizeWithPrecision (decimal, 3 digits)', () => {
    expect(bytesSize(0)).toBe('0B');
    expect(bytesSize(1023)).toBe('1023B');
    expect(bytesSize(1536 * 1024)).toBe('1.5MiB');
    expect(bytesSize(8 * 1024 ** 3 - 1)).toBe('8GiB');
    expect(bytesSize(7.8125 * 1024 ** 3)).toBe('7.812GiB');
    expect(humanSize(0)).toBe('0B');
    expect(humanSize(456)).toBe('456B');
    expect(humanSize(1234)).toBe('1.23kB');
    expect(humanSize(12_345_678)).toBe('12.3MB');
    expect(humanSize(1e9)).toBe('1GB');
  });
});

describe('counter parsing', () => {
  it('/proc/PID/net/dev: every interface but lo', () => {
    expect(parseNetDev(NET_DEV)).toEqual({ rx: 2000, tx: 1000 });
    expect(parseNetDev(NET_DEV.split('\n').slice(0, 3).join('\n'))).toEqual({ rx: 0, tx: 0 });
  });

  it('v1 blkio service bytes and v2 io.stat', () => {
    const blkio = '8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 12288\n8:0 Async 0\n8:0 Discard 0\n8:0 Total 12288\n8:16 Read 1000\n8:16 Write 0\nTotal 13288\n';
    expect(parseBlkioServiceBytes(blkio)).toEqual({ read: 5096, write: 8192, devices: 2 });
    expect(parseBlkioServiceBytes('Total 0\n')).toEqual({ read: 0, write: 0, devices: 0 });
    expect(parseIoStat('8:0 rbytes=4096 wbytes=512 rios=1 wios=1 dbytes=0 dios=0\n259:0 rbytes=10 wbytes=20 rios=1 wios=1 dbytes=0 dios=0\n'))
      .toEqual({ read: 4106, write: 532 });
  });

  it('blockIo picks the first v1 file with devices (recursive throttle over plain), io.stat on v2', () => {
    const read = files({
      '/cg/blkio/hull/x/blkio.io_service_bytes_recursive': 'Total 0\n',
      '/cg/blkio/hull/x/blkio.throttle.io_service_bytes_recursive': '8:0 Read 100\n8:0 Write 200\nTotal 300\n',
      '/cg/blkio/hull/x/blkio.throttle.io_service_bytes': '8:0 Read 1\n8:0 Write 2\nTotal 3\n',
      '/cg2/hull/x/io.stat': '8:0 rbytes=7 wbytes=9 rios=1 wios=1\n',
    });
    expect(blockIo(v1, read)).toEqual({ read: 100, write: 200 });
    expect(blockIo(v2, read)).toEqual({ read: 7, write: 9 });
    expect(blockIo({ ...v1, dirs: {} }, read)).toEqual({ read: 0, write: 0 });
  });

  it('memory: usage without inactive file pages; no limit shows the machine memory', () => {
    const read = files({ '/cg/memory/hull/x/memory.stat': 'cache 500\ntotal_inactive_file 300\ninactive_file 100\n', '/cg2/hull/x/memory.stat': 'inactive_file 50\n' });
    const unlimited = { memory: { usage: 1000, limit: 9223372036854771712 } };
    expect(memoryFigures(unlimited, v1, 8 * 2 ** 30, read)).toEqual({ usage: 700, limit: 8 * 2 ** 30 });
    expect(memoryFigures({ memory: { usage: 1000 } }, v2, 8 * 2 ** 30, read)).toEqual({ usage: 950, limit: 8 * 2 ** 30 });
    expect(memoryFigures({ memory: { usage: 1000, limit: 32 << 20 } }, v1, 8 * 2 ** 30, read)).toEqual({ usage: 700, limit: 32 << 20 });
  });

  it('/proc/stat: the first seven cpu fields at 100 ticks a second', () => {
    expect(systemCpuNs('cpu  100 0 50 800 30 10 10 5 0 0\ncpu0 1 2 3\n')).toBe(1000 * 1e7);
  });
});

describe('stats row', () => {
  it('collects a sample and formats the columns as docker does', () => {
    const read = files({
      '/proc/42/net/dev': NET_DEV,
      '/proc/stat': 'cpu  100 0 0 100 0 0 0\n',
      '/cg/memory/hull/x/memory.stat': 'total_inactive_file 0\n',
      '/cg/blkio/hull/x/blkio.throttle.io_service_bytes_recursive': '8:0 Read 1234567\n8:0 Write 4096\n',
    });
    const s = collectSample({ memory: { usage: 3 << 20, limit: 2 ** 63 }, pids: { current: 3 }, cpu: { usageNanoseconds: 5e8 } }, v1, 42,
      { read, machineMemory: 1 << 30, onlineCpus: 2, hostNetns: false });
    expect(s).toEqual({ cpuNs: 5e8, systemNs: 2e9, onlineCpus: 2, memUsage: 3 << 20, memLimit: 1 << 30, netRx: 2000, netTx: 1000, blkRead: 1234567, blkWrite: 4096, pids: 3 });
    const later: StatsSample = { ...s, cpuNs: 1e9, systemNs: 4e9 };
    expect(cpuPercent(s, later)).toBeCloseTo(50);
    expect(statsColumns(s, later)).toEqual(['50.00%', '3MiB / 1GiB', '0.29%', '2kB / 1kB', '1.23MB / 4.1kB', '3']);
    // A container sharing the host's network shows no traffic, as docker's --network host does.
    expect(collectSample({}, v1, 42, { read, machineMemory: 1, onlineCpus: 1, hostNetns: true }).netRx).toBe(0);
  });

  it('a stopped container: zeros, as docker stats -a shows', () => {
    expect(statsColumns(undefined, ZERO_SAMPLE)).toEqual(['0.00%', '0B / 0B', '0.00%', '0B / 0B', '0B / 0B', '0']);
  });
});
