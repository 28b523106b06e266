import { describe, it, expect } from 'vitest';
import { native } from '../../src/native';

describe('native addon', () => {
  it('loads and reports its version', () => {
    expect(native().version).toMatch(/^\d+\.\d+\.\d+/);
  });
});
