import { describe, expect, it } from 'vitest';
import { isInsecureRegistry, parseConfig, parseMirrorLocation, stateRoot } from '../../src/config';
import { hostPlatform, normalizePlatform, parsePlatform, selectManifest } from '../../src/image/platform';
import { pullEndpoints } from '../../src/image/pull';
import { parseReference } from '../../src/image/reference';
import { applyChanges } from '../../src/image/archive';
import type { Descriptor } from '../../src/image/types';

describe('config', () => {
  it('state root: explicit, then HULL_ROOT, then /var/lib/hull', () => {
    const saved = process.env.HULL_ROOT;
    delete process.env.HULL_ROOT;
    expect(stateRoot()).toBe('/var/lib/hull');
    process.env.HULL_ROOT = '/tmp/h';
    expect(stateRoot()).toBe('/tmp/h');
    expect(stateRoot('/x')).toBe('/x');
    if (saved === undefined) delete process.env.HULL_ROOT;
    else process.env.HULL_ROOT = saved;
  });

  it('parses mirror locations with path prefixes', () => {
    expect(parseMirrorLocation('https://harbor.lan/dockerhub-proxy/')).toEqual({ host: 'harbor.lan', pathPrefix: 'dockerhub-proxy', insecure: false });
    expect(parseMirrorLocation('http://m:5000')).toEqual({ host: 'm:5000', pathPrefix: '', insecure: true });
    expect(parseMirrorLocation('m.lan/a/b')).toEqual({ host: 'm.lan', pathPrefix: 'a/b', insecure: false });
    expect(() => parseMirrorLocation('m.lan/../x')).toThrow(/invalid mirror/);
    expect(() => parseMirrorLocation('m.lan/v2/x')).toThrow(/not a \/v2\/ path/);
  });

  it('reads Docker key names and hull mirrors', () => {
    const c = parseConfig({
      'registry-mirrors': ['https://mirror.gcr.io'],
      'insecure-registries': ['reg.lan:5000', '10.0.0.0/8'],
      mirrors: { 'index.docker.io': ['harbor.lan/hub'], 'ghcr.io': [{ location: 'm.lan:5000/ghcr', insecure: true }] },
    }, '/etc/hull/config.json');
    expect(c.mirrors['docker.io']).toEqual([
      { host: 'mirror.gcr.io', pathPrefix: '', insecure: false },
      { host: 'harbor.lan', pathPrefix: 'hub', insecure: false },
    ]);
    expect(c.mirrors['ghcr.io']).toEqual([{ host: 'm.lan:5000', pathPrefix: 'ghcr', insecure: true }]);
    expect(isInsecureRegistry('reg.lan:5000', c)).toBe(true);
    expect(isInsecureRegistry('10.1.2.3:5000', c)).toBe(true);
    expect(isInsecureRegistry('11.1.2.3', c)).toBe(false);
    expect(isInsecureRegistry('127.0.0.5:80', c)).toBe(true);
    expect(isInsecureRegistry('localhost:5000', c)).toBe(true);
    expect(isInsecureRegistry('ghcr.io', c)).toBe(false);
    expect(() => parseConfig({ 'registry-mirrors': 'x' }, 'f')).toThrow(/f: "registry-mirrors" must be a list/);
  });

  it('rewrites repository paths for mirrors, registry last', () => {
    const config = parseConfig({ mirrors: { 'docker.io': ['harbor.lan/proxy'] } });
    const endpoints = pullEndpoints(parseReference('nginx:1'), { config });
    expect(endpoints.map((e) => `${e.baseUrl}/v2/${e.repoPath('library/nginx')}`)).toEqual([
      'https://harbor.lan/v2/proxy/library/nginx',
      'https://registry-1.docker.io/v2/library/nginx',
    ]);
    expect(pullEndpoints(parseReference('ghcr.io/o/r'), { config }).map((e) => e.host)).toEqual(['ghcr.io']);
  });
});

describe('platforms', () => {
  it('normalizes architecture names and variants', () => {
    expect(normalizePlatform({ os: 'linux', architecture: 'x86_64' })).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(normalizePlatform({ os: 'linux', architecture: 'aarch64' })).toEqual({ os: 'linux', architecture: 'arm64' });
    expect(normalizePlatform({ os: 'linux', architecture: 'arm64', variant: 'v8' })).toEqual({ os: 'linux', architecture: 'arm64' });
    expect(normalizePlatform({ os: 'linux', architecture: 'armhf' })).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' });
    expect(parsePlatform('linux/arm/v6')).toEqual({ os: 'linux', architecture: 'arm', variant: 'v6' });
    expect(parsePlatform('arm64')).toEqual({ os: 'linux', architecture: 'arm64' });
    expect(() => parsePlatform('linux//x')).toThrow(/invalid platform "linux\/\/x"/);
    expect(hostPlatform().os).toBe('linux');
  });

  const m = (arch: string, variant?: string, os = 'linux', mediaType = 'application/vnd.oci.image.manifest.v1+json'): Descriptor => ({
    mediaType, digest: `sha256:${arch}${variant ?? ''}`, size: 1, platform: { os, architecture: arch, ...(variant ? { variant } : {}) },
  });
  const ok = (mt: string) => mt.endsWith('manifest.v1+json') || mt.endsWith('manifest.v2+json');

  it('selects by platform, skipping attestations and unknown media types', () => {
    const list = [m('unknown', undefined, 'unknown'), m('amd64', undefined, 'linux', 'application/x-weird'), m('amd64'), m('arm64', 'v8'), m('arm', 'v6'), m('arm', 'v7')];
    expect(selectManifest(list, parsePlatform('linux/amd64'), ok)?.digest).toBe('sha256:amd64');
    expect(selectManifest(list, parsePlatform('linux/arm64'), ok)?.digest).toBe('sha256:arm64v8');
    expect(selectManifest(list, parsePlatform('linux/arm/v7'), ok)?.digest).toBe('sha256:armv7');
    expect(selectManifest([m('arm', 'v6'), m('arm', 'v5')], parsePlatform('linux/arm/v7'), ok)?.digest).toBe('sha256:armv6');
    expect(selectManifest(list, parsePlatform('linux/s390x'), ok)).toBeNull();
    expect(selectManifest([m('unknown', undefined, 'unknown')], parsePlatform('linux/amd64'), ok)).toBeNull();
  });
});

describe('--change', () => {
  it('supports exec and shell forms, ENV forms, LABEL quoting', () => {
    expect(applyChanges({}, ['CMD echo hi', 'ENV PATH /usr/bin:/bin', 'ENV A=1 B="x y"', 'LABEL "k"=v a.b=\'c d\'', 'VOLUME ["/a","/b"]', 'WORKDIR sub'])).toEqual({
      Cmd: ['/bin/sh', '-c', 'echo hi'], Env: ['PATH=/usr/bin:/bin', 'A=1', 'B=x y'], Labels: { k: 'v', 'a.b': 'c d' },
      Volumes: { '/a': {}, '/b': {} }, WorkingDir: '/sub',
    });
    expect(() => applyChanges({}, ['CMD ["a", 1]'])).toThrow(/JSON list of strings/);
  });
});
