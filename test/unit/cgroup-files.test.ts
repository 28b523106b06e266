// cgroupFiles (src/cgroup/driver.ts over the addon's cgroupFiles): the drivers' bulk cgroupfs ops,
// on a plain directory tree standing in for cgroupfs.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CgroupError, cgroupFiles } from '../../src/cgroup/driver';
import { native } from '../../src/native';
import { tempDirsPerTest } from '../setup/temp-dirs';

const tree = tempDirsPerTest('hull-cgfiles-');

describe('native cgroupFiles', () => {
  it('mkdir -p says whether it made the directory; write, inherit and rmdir do what they say', () => {
    const root = tree();
    const dir = path.join(root, 'a', 'b');
    fs.writeFileSync(path.join(root, 'cpus'), '0-1\n');
    fs.writeFileSync(path.join(root, 'empty'), '');
    expect(
      native().cgroupFiles([
        ['mkdir', dir],
        ['mkdir', dir],
        ['write', path.join(dir, 'limit'), '100'],
        ['inherit', path.join(root, 'empty'), path.join(root, 'cpus')],
        ['inherit', path.join(dir, 'limit'), path.join(root, 'cpus')],
        ['rmdir', path.join(root, 'missing')],
        ['rmdir', path.join(root, 'a')],
      ]),
    ).toEqual([true, false, true, '0-1', null, '', 'ENOTEMPTY']);
    expect(fs.readFileSync(path.join(dir, 'limit'), 'utf8')).toBe('100');
    expect(fs.readFileSync(path.join(root, 'empty'), 'utf8')).toBe('0-1');
  });

  it('stops at the first failure: syscall, path, errno and the op index', () => {
    const root = tree();
    let error: (Error & { code?: string; syscall?: string; path?: string; index?: number }) | undefined;
    try {
      native().cgroupFiles([['mkdir', path.join(root, 'x')], ['write', root, 'v'], ['mkdir', path.join(root, 'never')]]);
    } catch (err) {
      error = err as typeof error;
    }
    expect(error).toMatchObject({ code: 'EISDIR', syscall: 'write', path: root, index: 1 });
    expect(error!.message).toBe(`write ${root}: EISDIR (Is a directory)`);
    expect(fs.existsSync(path.join(root, 'never'))).toBe(false);
  });
});

describe('cgroupFiles (driver)', () => {
  it('tells the observer what happened, in order, and names the file and value of a failed write', () => {
    const root = tree();
    const seen: string[] = [];
    const observe = (kind: string, file: string, value?: string) => seen.push(`${kind} ${path.relative(root, file)}${value === undefined ? '' : ` ${value}`}`);
    fs.writeFileSync(path.join(root, 'mems'), '0');
    cgroupFiles(
      [
        ['mkdir', path.join(root, 'c')],
        ['mkdir', path.join(root, 'c')],
        ['inherit', path.join(root, 'c', 'mems'), path.join(root, 'mems')],
        ['write', path.join(root, 'c', 'pids.max'), '10'],
      ],
      observe,
    );
    expect(seen).toEqual(['mkdir c', 'write c/mems 0', 'write c/pids.max 10']);

    seen.length = 0;
    expect(() => cgroupFiles([['write', path.join(root, 'c', 'ok'), '1'], ['write', path.join(root, 'nodir', 'f'), '2']], observe)).toThrow(CgroupError);
    expect(seen).toEqual(['write c/ok 1', 'write nodir/f 2']);
    expect(() => cgroupFiles([['write', path.join(root, 'nodir', 'f'), '2']])).toThrow(`cgroup: write "2" to ${path.join(root, 'nodir', 'f')}: ENOENT`);
  });
});
