import { describe, expect, it } from 'vitest';
import { humanSize, ProgressRenderer } from '../../src/image/progress';
import { timeAgo, table } from '../../src/image/cli-support';

function sink(isTTY: boolean) {
  const out = { text: '', isTTY, write(t: string) { out.text += t; return true; } };
  return out;
}

describe('progress', () => {
  it('plain output: one line per status change, no escape codes', () => {
    const out = sink(false);
    const p = new ProgressRenderer(out);
    p.message('1: Pulling from library/app');
    p.update('aaaaaaaaaaaa', 'Waiting');
    p.update('aaaaaaaaaaaa', 'Downloading', 10, 100);
    p.update('aaaaaaaaaaaa', 'Downloading', 50, 100);
    p.update('aaaaaaaaaaaa', 'Pull complete');
    p.finish();
    expect(out.text).toBe('1: Pulling from library/app\naaaaaaaaaaaa: Waiting\naaaaaaaaaaaa: Downloading\naaaaaaaaaaaa: Pull complete\n');
  });

  it('terminal output: bars redrawn in place', () => {
    const out = sink(true);
    const p = new ProgressRenderer(out);
    p.update('aaaaaaaaaaaa', 'Downloading', 0, 2_000_000);
    p.update('bbbbbbbbbbbb', 'Waiting');
    p.update('aaaaaaaaaaaa', 'Extracting', 1_000_000, 2_000_000);
    p.finish();
    expect(out.text).toContain('\x1b[2A'); // moved back over the two layer lines
    expect(out.text).toContain('aaaaaaaaaaaa: Extracting [' + '='.repeat(24) + '>' + ' '.repeat(25) + '] 1.00MB/2.00MB');
  });

  it('sizes and ages like docker', () => {
    expect(humanSize(0)).toBe('0B');
    expect(humanSize(4_260_000)).toBe('4.26MB');
    expect(humanSize(123_400_000)).toBe('123MB');
    const now = Date.parse('2024-06-01T00:00:00Z');
    expect(timeAgo('2024-06-01T00:00:00Z', now)).toBe('Less than a second ago');
    expect(timeAgo('2024-05-31T23:59:30Z', now)).toBe('30 seconds ago');
    expect(timeAgo('2024-05-31T23:00:00Z', now)).toBe('About an hour ago');
    expect(timeAgo('2024-05-29T00:00:00Z', now)).toBe('3 days ago');
    expect(timeAgo('2024-05-01T00:00:00Z', now)).toBe('4 weeks ago');
    expect(timeAgo('2022-01-01T00:00:00Z', now)).toBe('2 years ago');
    expect(timeAgo('1970-01-01T00:00:00Z', now)).toBe('N/A');
    expect(table(['A', 'BB'], [['xyz', '1']])).toBe('A     BB\nxyz   1\n');
  });
});
