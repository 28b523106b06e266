import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findCredentials, normalizeAuthKey, parseTokenResponse, parseWwwAuthenticate, preferredChallenge, removeCredentials, saveCredentials } from '../../src/image/auth';

describe('WWW-Authenticate parsing', () => {
  it('parses a Bearer challenge with quoted commas', () => {
    const c = parseWwwAuthenticate('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push"');
    expect(c).toEqual([{ scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull,push' } }]);
  });
  it('parses several challenges and prefers Bearer over Basic', () => {
    const c = parseWwwAuthenticate('Basic realm="Registry Realm", Bearer realm="https://r/token",service="s",error="invalid_token"');
    expect(c.map((x) => x.scheme)).toEqual(['basic', 'bearer']);
    expect(c[0].params.realm).toBe('Registry Realm');
    expect(preferredChallenge(c)?.scheme).toBe('bearer');
    expect(preferredChallenge(c)?.params.error).toBe('invalid_token');
  });
  it('handles escapes, unquoted values, spaces and case', () => {
    const c = parseWwwAuthenticate('BEARER Realm = "a\\"b" , service=svc');
    expect(c).toEqual([{ scheme: 'bearer', params: { realm: 'a"b', service: 'svc' } }]);
  });
  it('returns nothing usable for garbage', () => {
    expect(preferredChallenge(parseWwwAuthenticate(''))).toBeNull();
    expect(preferredChallenge(parseWwwAuthenticate('Negotiate abc=='))).toBeNull();
  });
});

describe('token responses', () => {
  it('accepts token or access_token, defaulting expires_in to 60', () => {
    expect(parseTokenResponse({ token: 'a' }, 'r')).toEqual({ token: 'a', expiresIn: 60 });
    expect(parseTokenResponse({ access_token: 'b', expires_in: 300 }, 'r')).toEqual({ token: 'b', expiresIn: 300 });
    expect(() => parseTokenResponse({}, 'https://r/token')).toThrow(/no token/);
  });
});

describe('credentials', () => {
  let dir: string;
  const saved = { ...process.env };
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hull-auth-'));
    process.env.HULL_AUTH_FILE = path.join(dir, 'hull/auth.json');
    process.env.DOCKER_CONFIG = path.join(dir, 'docker');
    process.env.HOME = dir; // no podman/docker files of the machine
    delete process.env.XDG_RUNTIME_DIR;
    delete process.env.REGISTRY_AUTH_FILE;
  });
  afterEach(() => {
    process.env = { ...saved };
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const b64 = (s: string) => Buffer.from(s).toString('base64');

  it('normalizes keys: Hub aliases, schemes, /v1/', () => {
    expect(normalizeAuthKey('https://index.docker.io/v1/')).toBe('docker.io');
    expect(normalizeAuthKey('registry-1.docker.io')).toBe('docker.io');
    expect(normalizeAuthKey('https://Reg.example:5000/')).toBe('reg.example:5000');
    expect(normalizeAuthKey('reg.example/team')).toBe('reg.example/team');
  });

  it('reads docker config.json, most specific key wins, hull login first', () => {
    fs.mkdirSync(path.join(dir, 'docker'));
    fs.writeFileSync(path.join(dir, 'docker/config.json'), JSON.stringify({ auths: {
      'https://index.docker.io/v1/': { auth: b64('hub:pw') },
      'reg.example': { auth: b64('all:pw1') },
      'reg.example/team': { auth: b64('team:pw2:with:colons') },
    } }));
    expect(findCredentials('docker.io')).toEqual({ username: 'hub', password: 'pw' });
    expect(findCredentials('reg.example', 'other/app')).toEqual({ username: 'all', password: 'pw1' });
    expect(findCredentials('reg.example', 'team/app')).toEqual({ username: 'team', password: 'pw2:with:colons' });
    expect(findCredentials('unknown.example')).toBeNull();
    saveCredentials('reg.example', { username: 'mine', password: 'x' });
    expect(findCredentials('reg.example', 'other/app')).toEqual({ username: 'mine', password: 'x' });
    expect(fs.statSync(process.env.HULL_AUTH_FILE!).mode & 0o777).toBe(0o600);
    expect(removeCredentials('reg.example')).toBe(true);
    expect(findCredentials('reg.example', 'other/app')).toEqual({ username: 'all', password: 'pw1' });
  });

  it('asks docker credential helpers', () => {
    const bin = path.join(dir, 'bin');
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, 'docker-credential-fake'), '#!/bin/sh\nread server\n[ "$server" = "helped.example" ] || exit 1\necho \'{"ServerURL":"helped.example","Username":"hu","Secret":"hs"}\'\n', { mode: 0o755 });
    process.env.PATH = `${bin}:${process.env.PATH}`;
    fs.mkdirSync(path.join(dir, 'docker'));
    fs.writeFileSync(path.join(dir, 'docker/config.json'), JSON.stringify({ credHelpers: { 'helped.example': 'fake' } }));
    expect(findCredentials('helped.example')).toEqual({ username: 'hu', password: 'hs' });
    expect(findCredentials('other.example')).toBeNull();
  });
});
