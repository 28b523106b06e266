import { describe, expect, it } from 'vitest';
import { familiarString, fullString, parseReference, registryApiHost } from '../../src/image/reference';

const D = 'sha256:' + 'a'.repeat(64);

describe('parseReference: normalization', () => {
  const cases: Array<[string, string, string, string | undefined, string | undefined]> = [
    // input, domain, path, tag, digest
    ['busybox', 'docker.io', 'library/busybox', 'latest', undefined],
    ['busybox:1.36', 'docker.io', 'library/busybox', '1.36', undefined],
    ['me/app', 'docker.io', 'me/app', 'latest', undefined],
    ['me/team/app:v1', 'docker.io', 'me/team/app', 'v1', undefined],
    ['docker.io/busybox', 'docker.io', 'library/busybox', 'latest', undefined],
    ['index.docker.io/library/busybox', 'docker.io', 'library/busybox', 'latest', undefined],
    ['localhost/app', 'localhost', 'app', 'latest', undefined],
    ['localhost:5000/ns/app:tag', 'localhost:5000', 'ns/app', 'tag', undefined],
    ['127.0.0.1:5000/app', '127.0.0.1:5000', 'app', 'latest', undefined],
    ['ghcr.io/o/r', 'ghcr.io', 'o/r', 'latest', undefined],
    ['Registry.Example/app', 'Registry.Example', 'app', 'latest', undefined],
    ['[::1]:5000/app', '[::1]:5000', 'app', 'latest', undefined],
    [`busybox@${D}`, 'docker.io', 'library/busybox', undefined, D],
    [`busybox:1.36@${D}`, 'docker.io', 'library/busybox', '1.36', D],
    ['a_b__c-e---f/x.y', 'docker.io', 'a_b__c-e---f/x.y', 'latest', undefined],
    ['app:_v', 'docker.io', 'library/app', '_v', undefined],
  ];
  for (const [input, domain, path, tag, digest] of cases) {
    it(input, () => {
      expect(parseReference(input)).toEqual({ domain, path, tag, digest });
    });
  }
});

describe('parseReference: invalid forms name the input', () => {
  const bad: Array<[string, RegExp]> = [
    ['', /empty/],
    ['Busybox', /lowercase/],
    ['me/App', /lowercase/],
    ['busybox:', /invalid tag/],
    ['busybox:-x', /invalid tag/],
    ['busybox:.x', /invalid tag/],
    [`busybox:${'a'.repeat(129)}`, /longer than 128/],
    ['busybox@', /empty digest/],
    ['busybox@sha256:abc', /digest/],
    ['busybox@sha256:../../x', /digest/],
    [`busybox@sha512:${'a'.repeat(128)}`, /digest/],
    [`busybox@sha256:${'A'.repeat(64)}`, /digest/],
    ['a'.repeat(64), /image ID/],
    ['me//app', /empty path component/],
    ['me/app/', /empty path component/],
    ['/app', /empty path component/],
    ['a..b', /invalid path component/],
    ['-app', /invalid path component/],
    ['app-', /invalid path component/],
    ['a b', /whitespace/],
    ['host:port/app', /invalid registry host|invalid tag/],
    ['-bad.host/app', /invalid registry host/],
    [`docker.io/${'a'.repeat(250)}`, /longer than 255/],
    [':tag', /missing repository/],
  ];
  for (const [input, why] of bad) {
    it(JSON.stringify(input.length > 40 ? input.slice(0, 40) : input), () => {
      let error: Error | undefined;
      try {
        parseReference(input);
      } catch (e) {
        error = e as Error;
      }
      expect(error, `no error for ${input}`).toBeDefined();
      expect(error!.message).toMatch(why);
      expect(error!.message).toContain(`"${input}"`);
    });
  }
});

describe('display forms', () => {
  it('familiar and full strings', () => {
    expect(familiarString(parseReference('busybox'))).toBe('busybox:latest');
    expect(familiarString(parseReference('docker.io/me/app:1'))).toBe('me/app:1');
    expect(familiarString(parseReference('localhost:5000/app'))).toBe('localhost:5000/app:latest');
    expect(fullString(parseReference('busybox'))).toBe('docker.io/library/busybox:latest');
    expect(familiarString(parseReference(`busybox@${D}`))).toBe(`busybox@${D}`);
  });
  it('Hub API host', () => {
    expect(registryApiHost('docker.io')).toBe('registry-1.docker.io');
    expect(registryApiHost('localhost:5000')).toBe('localhost:5000');
  });
});
