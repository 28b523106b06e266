import { describe, expect, it } from 'vitest';
import { isoTime } from '../../src/util/time';

describe('isoTime', () => {
  it('is toISOString for every field width, leap days and the ends of the 4-digit years', () => {
    const samples = [0, 1, 999, 1_000, 59_999, Date.UTC(2024, 1, 29, 23, 59, 59, 9), Date.UTC(2026, 10, 28, 6, 5, 4, 30), Date.UTC(9999, 11, 31, 23, 59, 59, 999), Date.UTC(0, 0, 1) - 0, -1, Date.now()];
    for (let i = 0; i < 2000; i++) samples.push(Math.floor(Math.random() * 253402300799999));
    for (const ms of samples) expect(isoTime(ms)).toBe(new Date(ms).toISOString());
  });

  it('hands years beyond 0-9999 to V8, and refuses an invalid date as V8 does', () => {
    const far = Date.UTC(10000, 0, 1);
    expect(isoTime(far)).toBe(new Date(far).toISOString());
    const before = Date.UTC(-1, 0, 1);
    expect(isoTime(before)).toBe(new Date(before).toISOString());
    expect(() => isoTime(NaN)).toThrow(RangeError);
  });
});
