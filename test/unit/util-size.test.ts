import { describe, expect, it } from 'vitest';
import { parseByteSize } from '../../src/util/size';

describe('parseByteSize', () => {
  it('reads docker and sandbox spellings as binary units', () => {
    expect(parseByteSize('512')).toBe(512);
    expect(parseByteSize('512b')).toBe(512);
    expect(parseByteSize('64k')).toBe(64 * 1024);
    expect(parseByteSize('64m')).toBe(64 * 1024 ** 2);
    expect(parseByteSize('64MB')).toBe(64 * 1024 ** 2);
    expect(parseByteSize('64MiB')).toBe(64 * 1024 ** 2);
    expect(parseByteSize(' 1.5g ')).toBe(1.5 * 1024 ** 3);
    expect(parseByteSize('2t')).toBe(2 * 1024 ** 4);
  });

  it('refuses what is not a size', () => {
    for (const bad of ['', 'm', '-1m', '64x', '64 mm', '1e3', '64ib', 'bb']) expect(parseByteSize(bad), bad).toBeUndefined();
  });
});
