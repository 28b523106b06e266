import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { assertDigest, chainIds, digestHex, digestingStream, isValidDigest, sha256Digest } from '../../src/image/digest';

describe('digest validation', () => {
  const good = 'sha256:' + '0123456789abcdef'.repeat(4);
  it('accepts sha256 with 64 lowercase hex', () => {
    expect(isValidDigest(good)).toBe(true);
    expect(digestHex(good)).toBe('0123456789abcdef'.repeat(4));
  });
  for (const bad of ['sha256:../../x', 'sha256:' + 'a'.repeat(63), 'sha256:' + 'A'.repeat(64), 'sha512:' + 'a'.repeat(64),
    'sha256:' + 'a'.repeat(64) + '/x', 'sha256:' + 'a'.repeat(64) + '\n', '', 'a'.repeat(64)]) {
    it(`refuses ${JSON.stringify(bad)}`, () => {
      expect(isValidDigest(bad)).toBe(false);
      expect(() => digestHex(bad)).toThrow(/invalid digest/);
      expect(() => assertDigest(bad, 'layer digest')).toThrow(/invalid layer digest/);
    });
  }
});

describe('chainIds', () => {
  it('follows the image-spec formula', () => {
    const a = sha256Digest('a');
    const b = sha256Digest('b');
    const [c0, c1] = chainIds([a, b]);
    expect(c0).toBe(a);
    expect(c1).toBe(sha256Digest(`${a} ${b}`));
  });
});

describe('DigestingStream', () => {
  const data = Buffer.from('hello world');
  const run = (expected: Parameters<typeof digestingStream>[0]) =>
    pipeline(Readable.from([data.subarray(0, 5), data.subarray(5)]), digestingStream(expected), async function* (src) {
      for await (const _ of src) { /* drain */ }
    });
  it('passes when digest and size match', async () => {
    await expect(run({ digest: sha256Digest(data), size: data.length })).resolves.toBeUndefined();
  });
  it('fails on wrong bytes', async () => {
    await expect(run({ digest: sha256Digest('other'), size: data.length })).rejects.toThrow(/digest mismatch/);
  });
  it('fails on too many bytes before the end', async () => {
    await expect(run({ digest: sha256Digest(data), size: 5 })).rejects.toThrow(/size mismatch/);
  });
  it('fails on too few bytes', async () => {
    await expect(run({ digest: sha256Digest(data), size: 20 })).rejects.toThrow(/size mismatch/);
  });
});
