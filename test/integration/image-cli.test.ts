// The image verbs through bin/hull: import, images, tag, save, load, rmi, history, inspect, login,
// push, pull, logout, system df — against a docker-registry with htpasswd basic auth.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithPeers, run, describeRun } from '../setup/peers';
import { startRegistry, type Registry } from '../setup/registry';
import { makeBusyboxRootfs, removeTree, tempDir } from '../setup/rootfs';
import { layerOf } from './image-helpers';

const HULL = path.resolve(__dirname, '../../bin/hull');

describeWithPeers(['registry', 'htpasswd'], 'hull image commands', () => {
  let registry: Registry;
  let tmp: string;
  let env: NodeJS.ProcessEnv;
  const hull = (args: string[], opts: { input?: string; root?: string } = {}) =>
    run(process.execPath, [HULL, ...args], { env: { ...env, HULL_ROOT: opts.root ?? env.HULL_ROOT }, input: opts.input });
  const ok = (args: string[], opts: { input?: string; root?: string } = {}) => {
    const r = hull(args, opts);
    expect(r.status, describeRun('hull', args, r)).toBe(0);
    return r.stdout;
  };

  beforeAll(async () => {
    if (!fs.existsSync(path.resolve(__dirname, '../../dist/cli/images.js'))) throw new Error('dist/ is missing: run npx tsc -p .');
    registry = await startRegistry({ auth: { username: 'tester', password: 'secret-pw' } });
    tmp = tempDir('hull-image-cli-');
    env = {
      ...process.env, HULL_ROOT: path.join(tmp, 'root'), HULL_CONFIG: path.join(tmp, 'config.json'),
      HULL_AUTH_FILE: path.join(tmp, 'auth.json'), DOCKER_CONFIG: path.join(tmp, 'docker'), http_proxy: '', https_proxy: '',
    };
    fs.writeFileSync(path.join(tmp, 'rootfs.tgz'), await layerOf(makeBusyboxRootfs(path.join(tmp, 'rootfs'))));
  });
  afterAll(async () => {
    await registry?.stop();
    if (tmp) removeTree(tmp);
  });

  it('import, images, tag, history, inspect, save, load, rmi', () => {
    const id = ok(['import', '-c', 'CMD ["sh"]', '-c', 'ENV A=1', '-m', 'made by the test', path.join(tmp, 'rootfs.tgz'), 'localhost/cli:1']).trim();
    expect(id).toMatch(/^sha256:[a-f0-9]{64}$/);
    const table = ok(['images']).split('\n');
    expect(table[0]).toMatch(/^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
    expect(table[1]).toMatch(new RegExp(`^localhost/cli\\s+1\\s+${id.slice(7, 19)}\\s+.+ago\\s+\\d`));
    expect(ok(['images', '-q'])).toBe(`${id.slice(7, 19)}\n`);
    expect(ok(['images', '-q', '-f', 'dangling=true'])).toBe('');
    expect(ok(['images', '-q', '-f', 'reference=localhost/*:1'])).toBe(`${id.slice(7, 19)}\n`);
    expect(hull(['images', '-f', 'label=x']).stderr).toMatch(/unsupported filter "label=x"/);
    expect(ok(['images', '--digests']).split('\n')[0]).toMatch(/REPOSITORY\s+TAG\s+DIGEST\s+IMAGE ID/);
    const json = JSON.parse(ok(['images', '--format', 'json']).trim());
    expect(json).toMatchObject({ Repository: 'localhost/cli', Tag: '1', ID: id.slice(7, 19) });
    ok(['tag', 'localhost/cli:1', 'localhost/cli:2']);
    expect(ok(['history', 'localhost/cli:2'])).toMatch(/made by the test/);
    expect(ok(['image', 'inspect', '-f', '{{.Config.Env}}', 'localhost/cli:2']).trim()).toBe('["A=1"]');
    expect(JSON.parse(ok(['image', 'inspect', id]))[0].RepoTags.sort()).toEqual(['localhost/cli:1', 'localhost/cli:2']);
    ok(['save', '-o', path.join(tmp, 'cli.tar'), 'localhost/cli:2']);
    expect(ok(['rmi', 'localhost/cli:2'])).toBe('Untagged: localhost/cli:2\n');
    expect(ok(['rmi', 'localhost/cli:1'])).toContain(`Deleted: ${id}`);
    expect(ok(['images', '-q'])).toBe('');
    expect(ok(['load', '-i', path.join(tmp, 'cli.tar')])).toBe('Loaded image: localhost/cli:2\n');
    expect(ok(['system', 'df'])).toMatch(/^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE\nImages\s+1\s+0/);
  });

  it('errors exit 125 with a message naming the input', () => {
    const bad = hull(['pull', 'Bad:Name']);
    expect(bad.status).toBe(125);
    expect(bad.stderr).toMatch(/invalid reference format "Bad:Name"/);
    const missing = hull(['rmi', 'nothing:here']);
    expect(missing.status).toBe(125);
    expect(missing.stderr).toContain('No such image: nothing:here');
  });

  it('login, push, pull into an empty root, logout', () => {
    const name = `${registry.host}/team/cli:2`;
    ok(['tag', 'localhost/cli:2', name]);
    const denied = hull(['push', name]);
    expect(denied.status).toBe(125);
    expect(denied.stderr).toMatch(/unauthorized/i);
    const wrong = hull(['login', '-u', 'tester', '--password-stdin', registry.host], { input: 'nope\n' });
    expect(wrong.status).toBe(125);
    expect(wrong.stderr).not.toContain('nope');
    expect(ok(['login', '-u', 'tester', '--password-stdin', registry.host], { input: 'secret-pw\n' })).toBe('Login Succeeded\n');
    const authFile = fs.readFileSync(path.join(tmp, 'auth.json'), 'utf8');
    expect(authFile).not.toContain('secret-pw'); // base64 in the file, never plain
    expect(fs.statSync(path.join(tmp, 'auth.json')).mode & 0o777).toBe(0o600);
    const pushed = ok(['push', name]);
    expect(pushed).toMatch(/2: digest: sha256:[a-f0-9]{64} size: \d+/);
    expect(pushed).not.toContain('secret-pw');
    const empty = path.join(tmp, 'empty-root');
    expect(ok(['pull', name], { root: empty })).toContain(`${name}\n`);
    expect(ok(['images', '--format', 'json'], { root: empty })).toContain('"Repository":"' + `${registry.host}/team/cli"`);
    expect(ok(['logout', registry.host])).toBe(`Removing login credentials for ${registry.host}\n`);
    expect(hull(['pull', name], { root: path.join(tmp, 'another') }).status).toBe(125);
  });
});
