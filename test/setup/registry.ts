// A private distribution registry (`docker-registry serve CONFIG`, Debian's docker-registry package)
// on 127.0.0.1 with filesystem storage in a temp dir, optionally behind htpasswd basic auth.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { removeTree, tempDir } from './rootfs';

export interface Registry {
  /** `127.0.0.1:PORT`, the form image references use. */
  host: string;
  /** `http://127.0.0.1:PORT`. */
  url: string;
  dir: string;
  auth?: { username: string; password: string };
  /** The registry's log so far (for assertion messages). */
  log(): string;
  stop(): Promise<void>;
}

/** Shared with the benches (bench/fixtures/images.js): a free port, and GET /v2/'s status. */
export const { freePort, v2Status }: { freePort(): Promise<number>; v2Status(port: number): Promise<number> } =
  require('../../bench/fixtures/images');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Writes `user:bcrypt(password)` with apache2-utils' htpasswd (the registry accepts only bcrypt). */
function writeHtpasswd(file: string, username: string, password: string): void {
  const r = spawnSync('htpasswd', ['-Bbn', username, password], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`htpasswd failed (install apache2-utils): ${r.stderr || r.error?.message}`);
  fs.writeFileSync(file, r.stdout);
}

async function startOnce(dir: string, port: number, auth?: { username: string; password: string }): Promise<Registry | undefined> {
  const config = [
    'version: 0.1',
    'log:',
    '  level: info',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${path.join(dir, 'data')}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    ...(auth ? ['auth:', '  htpasswd:', '    realm: hull-test', `    path: ${path.join(dir, 'htpasswd')}`] : []),
    '',
  ].join('\n');
  fs.writeFileSync(path.join(dir, 'config.yml'), config);
  const logFile = path.join(dir, 'registry.log');
  const logFd = fs.openSync(logFile, 'w');
  // No proxy settings from the environment: everything here is local.
  const env = { ...process.env, http_proxy: '', https_proxy: '', HTTP_PROXY: '', HTTPS_PROXY: '' };
  const child = spawn('docker-registry', ['serve', path.join(dir, 'config.yml')], { stdio: ['ignore', logFd, logFd], env });
  fs.closeSync(logFd);
  const log = () => {
    try {
      return fs.readFileSync(logFile, 'utf8');
    } catch {
      return '';
    }
  };
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && !exited(child)) {
    const status = await v2Status(port);
    if (status === 200 || status === 401) {
      return {
        host: `127.0.0.1:${port}`,
        url: `http://127.0.0.1:${port}`,
        dir,
        auth,
        log,
        async stop() {
          if (!exited(child)) {
            child.kill('SIGTERM');
            await new Promise<void>((r) => {
              const t = setTimeout(() => {
                child.kill('SIGKILL');
                r();
              }, 10_000);
              child.once('exit', () => {
                clearTimeout(t);
                r();
              });
              if (exited(child)) r();
            });
          }
          removeTree(dir);
        },
      };
    }
    await sleep(100);
  }
  if (!exited(child)) child.kill('SIGKILL');
  if (/address already in use/.test(log())) return undefined; // lost the port race: try another
  throw new Error(`docker-registry did not answer GET /v2/ on 127.0.0.1:${port}; log:\n${log().slice(-3000)}`);
}

/**
 * Starts a registry on 127.0.0.1:<free port> and waits until GET /v2/ answers.
 * With `auth`, clients must log in (basic auth against an htpasswd file).
 */
export async function startRegistry(opts: { auth?: { username: string; password: string } } = {}): Promise<Registry> {
  const dir = tempDir('hull-registry-');
  try {
    fs.mkdirSync(path.join(dir, 'data'));
    if (opts.auth) writeHtpasswd(path.join(dir, 'htpasswd'), opts.auth.username, opts.auth.password);
    for (let attempt = 0; attempt < 5; attempt++) {
      const reg = await startOnce(dir, await freePort(), opts.auth);
      if (reg) return reg;
    }
    throw new Error('docker-registry: no free port after 5 attempts');
  } catch (e) {
    removeTree(dir);
    throw e;
  }
}
