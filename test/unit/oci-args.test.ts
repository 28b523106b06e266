import { describe, it, expect } from 'vitest';
import { parseArgs, UsageError, formatHelp, type FlagSpec } from '../../src/oci/args';

const flags: FlagSpec[] = [
  { name: 'bundle', alias: 'b', type: 'string', description: '' },
  { name: 'detach', alias: 'd', type: 'boolean', description: '' },
  { name: 'env', alias: 'e', type: 'list', description: '' },
];

describe('hull-oci argv parsing (runc style)', () => {
  it('takes --flag value, --flag=value, -f value and repeated lists', () => {
    expect(parseArgs(['--bundle', '/b', '-d', '-e', 'A=1', '--env=B=2', 'id'], flags)).toEqual({
      flags: { bundle: '/b', detach: true, env: ['A=1', 'B=2'] },
      positionals: ['id'],
    });
    expect(parseArgs(['-b=/x', 'id'], flags).flags.bundle).toBe('/x');
    expect(parseArgs(['--detach=false', 'id'], flags).flags.detach).toBe(false);
  });

  it('stops at the first positional: the rest belongs to the command', () => {
    expect(parseArgs(['id', 'sh', '-c', '--bundle'], flags).positionals).toEqual(['id', 'sh', '-c', '--bundle']);
    expect(parseArgs(['--', '-weird-id'], flags).positionals).toEqual(['-weird-id']);
  });

  it('reports unknown flags and missing values like runc', () => {
    expect(() => parseArgs(['--nope'], flags)).toThrow('flag provided but not defined: -nope');
    expect(() => parseArgs(['--bundle'], flags)).toThrow(UsageError);
  });

  it('formats help', () => {
    expect(formatHelp('run [options] <id>', 'Run it.', flags)).toContain('-b, --bundle value');
  });
});
