import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StateStore, validateId, deriveStatus, processStartTime, isSameProcess, ociState, writeFileAtomic, type ContainerRecord } from '../../src/runtime/state';
import { defaultSpec } from '../../src/runtime/spec';
import { tempDirsPerTest } from '../setup/temp-dirs';

const temp = tempDirsPerTest('hull-state-');

function record(id: string, pid = process.pid): ContainerRecord {
  return {
    ociVersion: '1.2.0', id, bundle: '/b', rootfs: '/b/rootfs', created: '2026-01-01T00:00:00.000Z', owner: '',
    initPid: pid, initStartTime: processStartTime(pid) ?? '', monitorPid: 0, config: defaultSpec(),
  };
}

describe('container ids', () => {
  it('accepts runc-valid ids and rejects the rest with a clear error', () => {
    for (const ok of ['abc', 'a-b_c.d+e', 'A1', '0123456789abcdef'.repeat(4)]) expect(() => validateId(ok)).not.toThrow();
    for (const bad of ['', '.', '..', 'a/b', '../x', 'a\0b', 'a b', 'é']) expect(() => validateId(bad)).toThrow(/invalid container id/);
  });
});

describe('StateStore', () => {
  it('claims an id once, writes, reads, lists and removes', () => {
    const store = new StateStore(path.join(temp(), 'root'));
    store.claim('c1');
    expect(() => store.claim('c1')).toThrow('container with id exists: c1');
    expect(() => store.read('c1')).toThrow('container "c1" does not exist');
    store.write(record('c1'));
    expect(store.read('c1').id).toBe('c1');
    expect(store.list()).toEqual(['c1']);
    store.remove('c1');
    expect(store.list()).toEqual([]);
  });

  it('removes a state directory whatever it holds: its files, a fifo, something unexpected, or nothing', () => {
    const root = path.join(temp(), 'root');
    const store = new StateStore(root);
    const full = store.claim('full');
    store.write(record('full'));
    fs.writeFileSync(path.join(full, 'exit.json'), '{}');
    execFileSync('mkfifo', [path.join(full, 'exec.fifo')]);
    fs.mkdirSync(path.join(full, 'stray', 'deeper'), { recursive: true });
    store.claim('empty');
    store.remove('full');
    store.remove('empty');
    store.remove('never-made');
    expect(fs.readdirSync(root)).toEqual([]);
  });

  it('replaces state.json atomically (no temp files left)', () => {
    const dir = temp();
    const file = path.join(dir, 'state.json');
    writeFileAtomic(file, '{"a":1}');
    writeFileAtomic(file, '{"a":2}', true);
    expect(fs.readFileSync(file, 'utf8')).toBe('{"a":2}');
    expect(fs.readdirSync(dir)).toEqual(['state.json']);
  });
});

describe('status', () => {
  it('reads field 22 of /proc/pid/stat', () => {
    expect(processStartTime(process.pid)).toMatch(/^\d+$/);
    expect(processStartTime(0)).toBeUndefined();
    expect(processStartTime(2 ** 22 + 1)).toBeUndefined(); // above pid_max: never a process
    expect(isSameProcess(process.pid, 'nope')).toBe(false);
  });

  it('derives created, running, paused, stopped', () => {
    const dir = temp();
    const r = record('s1');
    const status = (frozen = false) => deriveStatus({ record: r, stateDir: dir, isFrozen: () => frozen });
    expect(status()).toBe('running');
    expect(status(true)).toBe('paused');
    fs.writeFileSync(path.join(dir, 'exec.fifo'), '');
    expect(status()).toBe('created');
    fs.rmSync(path.join(dir, 'exec.fifo'));
    expect(deriveStatus({ record: { ...r, initStartTime: '1' }, stateDir: dir, isFrozen: () => false })).toBe('stopped');
    fs.writeFileSync(path.join(dir, 'exit.json'), '{}');
    expect(status()).toBe('stopped');
  });

  it('prints pid 0 when stopped', () => {
    expect(ociState(record('x'), 'stopped').pid).toBe(0);
    expect(ociState(record('x'), 'running')).toMatchObject({ pid: process.pid, status: 'running', ociVersion: '1.2.0' });
  });
});
