// The bearer token flow against a real docker-registry configured for token auth, with a small
// token issuer written here (RS256 JWTs signed by a throwaway self-signed certificate).
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { HullConfig } from '../../src/config';
import { pullImage } from '../../src/image/pull';
import { pushImage } from '../../src/image/push';
import { describeWithPeers } from '../setup/peers';
import { freePort } from '../setup/registry';
import { removeTree, tempDir } from '../setup/rootfs';
import { buildImage, layerOf, makeStore } from './image-helpers';

const noConfig: HullConfig = { insecureRegistries: [], mirrors: {}, source: null };
const fast = { attempts: 3, baseDelayMs: 5, maxDelayMs: 20 };
const SERVICE = 'hull-test-registry';
const ISSUER = 'hull-test-issuer';
const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

describeWithPeers(['registry'], 'token auth with docker-registry', () => {
  let tmp: string;
  let issuer: http.Server;
  let registryProcess: ChildProcess | undefined;
  let registryHost: string;
  const tokenRequests: Array<{ authorization?: string; scopes: string[] }> = [];

  beforeAll(async () => {
    tmp = tempDir('hull-token-');
    const key = path.join(tmp, 'key.pem');
    const cert = path.join(tmp, 'cert.pem');
    const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=hull-test-token']);
    if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`);
    const privateKey = crypto.createPrivateKey(fs.readFileSync(key));
    const der = new crypto.X509Certificate(fs.readFileSync(cert)).raw;

    // Token issuer: alice/wonderland gets pull+push; anonymous gets pull only.
    issuer = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const scopes = url.searchParams.getAll('scope');
      tokenRequests.push({ authorization: req.headers.authorization, scopes });
      let user = '';
      if (req.headers.authorization) {
        const [u, p] = Buffer.from(req.headers.authorization.replace(/^Basic /, ''), 'base64').toString().split(':');
        if (u !== 'alice' || p !== 'wonderland') return void res.writeHead(401).end('{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}');
        user = u;
      }
      const access = scopes.map((s) => {
        const [type, name, actions] = s.split(':');
        const wanted = actions.split(',');
        return { type, name, actions: wanted.filter((a) => a === 'pull' || (a === 'push' && user === 'alice')) };
      });
      const now = Math.floor(Date.now() / 1000);
      const header = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', x5c: [der.toString('base64')] }));
      const claims = b64url(JSON.stringify({ iss: ISSUER, sub: user, aud: SERVICE, exp: now + 300, nbf: now - 10, iat: now, jti: crypto.randomUUID(), access }));
      const signature = crypto.sign('RSA-SHA256', Buffer.from(`${header}.${claims}`), privateKey);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: `${header}.${claims}.${b64url(signature)}`, expires_in: 300 }));
    });
    await new Promise<void>((r) => issuer.listen(0, '127.0.0.1', r));
    const issuerPort = (issuer.address() as net.AddressInfo).port;

    const port = await freePort();
    registryHost = `127.0.0.1:${port}`;
    fs.mkdirSync(path.join(tmp, 'data'));
    fs.writeFileSync(path.join(tmp, 'config.yml'), [
      'version: 0.1', 'log:', '  level: warn', 'storage:', '  filesystem:', `    rootdirectory: ${path.join(tmp, 'data')}`,
      'http:', `  addr: ${registryHost}`,
      'auth:', '  token:', `    realm: http://127.0.0.1:${issuerPort}/token`, `    service: ${SERVICE}`, `    issuer: ${ISSUER}`, `    rootcertbundle: ${cert}`, '',
    ].join('\n'));
    const log = fs.openSync(path.join(tmp, 'registry.log'), 'w');
    registryProcess = spawn('docker-registry', ['serve', path.join(tmp, 'config.yml')], { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    for (let i = 0; i < 300; i++) {
      const status = await fetch(`http://${registryHost}/v2/`).then((res) => res.status, () => 0);
      if (status === 401) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`docker-registry did not start: ${fs.readFileSync(path.join(tmp, 'registry.log'), 'utf8').slice(-2000)}`);
  });

  afterAll(async () => {
    if (registryProcess && registryProcess.exitCode === null) {
      const exited = new Promise((r) => registryProcess!.once('exit', r));
      registryProcess.kill('SIGTERM');
      await exited;
    }
    await new Promise<void>((r) => (issuer ? issuer.close(() => r()) : r()));
    if (tmp) removeTree(tmp);
  });

  it('pushes with credentials and pulls anonymously through the token flow', async () => {
    const src = path.join(tmp, 'src');
    fs.mkdirSync(src);
    fs.writeFileSync(path.join(src, 'file'), 'token flow\n');
    const a = makeStore(path.join(tmp, 'a'));
    const name = `${registryHost}/secure/app:1`;
    await buildImage(a, [await layerOf(src)], name);

    await expect(pushImage(a, name, { config: noConfig, retry: fast, credentials: null })).rejects.toThrow(/unauthorized|denied/i);
    await expect(pushImage(a, name, { config: noConfig, retry: fast, credentials: { username: 'alice', password: 'bad' } })).rejects.toThrow(/authentication failed/);
    const digest = await pushImage(a, name, { config: noConfig, retry: fast, credentials: { username: 'alice', password: 'wonderland' } });
    const withCreds = tokenRequests.filter((t) => t.authorization);
    expect(withCreds.some((t) => t.scopes.includes('repository:secure/app:pull,push'))).toBe(true);

    tokenRequests.length = 0;
    const b = makeStore(path.join(tmp, 'b'));
    const image = await pullImage(b, name, { config: noConfig, retry: fast, credentials: null });
    expect(image.manifestDigest).toBe(digest);
    expect(tokenRequests.every((t) => !t.authorization)).toBe(true);
    expect(tokenRequests.length).toBe(1); // one token for the whole pull (cached per scope)
    expect(fs.readFileSync(path.join(b.layerDiffDir(image.layers[0].chainId), 'file'), 'utf8')).toBe('token flow\n');
  });
});
