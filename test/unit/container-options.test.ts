import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  containerPath, normalizeSignal, parseEnvFile, parseEnvFlags, parseLabels, parseMountFlag, parseSize, parseTmpfsFlag, parseVolumeFlag,
  validateContainerName,
} from '../../src/container/options';
import { parseLogLine, parseLogTime } from '../../src/container/logs';
import { renderTemplate, table } from '../../src/container/format';

const exitCodeOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return (err as { exitCode?: number }).exitCode;
  }
  return undefined;
};

describe('-v', () => {
  it('tells binds, named and anonymous volumes apart', () => {
    expect(parseVolumeFlag('/host:/ctr')).toEqual({ type: 'bind', source: '/host', target: '/ctr', readonly: false, propagation: undefined });
    expect(parseVolumeFlag('/host:/ctr:ro,rslave')).toMatchObject({ type: 'bind', readonly: true, propagation: 'rslave' });
    expect(parseVolumeFlag('data:/var/lib/x:ro')).toEqual({ type: 'volume', source: 'data', target: '/var/lib/x', readonly: true, nocopy: false });
    expect(parseVolumeFlag('/anon/')).toEqual({ type: 'volume', target: '/anon', readonly: false, nocopy: false });
  });

  it('refuses bad specs with exit 125', () => {
    for (const bad of ['', 'a:b:c:d', '/h:relative', 'vol:/x:bogus', './rel:/x', 'v:/../etc', '/h:/', 'bad name:/x', 'v:/x:rslave']) {
      expect(exitCodeOf(() => parseVolumeFlag(bad)), bad).toBe(125);
    }
  });
});

describe('--mount and --tmpfs', () => {
  it('parses the key=value form', () => {
    expect(parseMountFlag('type=bind,source=/a,target=/b,readonly')).toMatchObject({ type: 'bind', source: '/a', target: '/b', readonly: true });
    expect(parseMountFlag('type=volume,src=v1,dst=/d,volume-nocopy')).toMatchObject({ type: 'volume', source: 'v1', target: '/d', nocopy: true });
    expect(parseMountFlag('type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1770')).toEqual({ type: 'tmpfs', target: '/t', options: ['size=1048576', 'mode=1770'] });
    expect(exitCodeOf(() => parseMountFlag('type=bind,target=/x'))).toBe(125);
    expect(exitCodeOf(() => parseMountFlag('type=nfs,target=/x'))).toBe(125);
    expect(exitCodeOf(() => parseMountFlag('type=volume,target=/x,colour=red'))).toBe(125);
  });

  it('parses --tmpfs options', () => {
    expect(parseTmpfsFlag('/run:size=64m,mode=755,noexec')).toEqual({ type: 'tmpfs', target: '/run', options: ['size=67108864', 'mode=755', 'noexec'] });
    expect(exitCodeOf(() => parseTmpfsFlag('/run:size=lots'))).toBe(125);
    expect(parseSize('1.5k')).toBe(1536);
  });

  it('keeps targets inside the container', () => {
    expect(containerPath('/a//b/')).toBe('/a/b');
    expect(exitCodeOf(() => containerPath('/a/../../etc'))).toBe(125);
    expect(exitCodeOf(() => containerPath('a'))).toBe(125);
  });
});

describe('env, labels, names, signals', () => {
  it('reads -e and env files as docker does', () => {
    expect(parseEnvFlags(['A=1', 'FROM_HOST', 'UNSET_ONE'], { FROM_HOST: 'h' })).toEqual(['A=1', 'FROM_HOST=h']);
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'hull-env-')), 'e');
    fs.writeFileSync(file, '# c\n\nA=1\n  B=two words\nC\n');
    expect(parseEnvFile(file, { C: 'c' })).toEqual(['A=1', 'B=two words', 'C=c']);
    fs.writeFileSync(file, 'BAD KEY=1\n');
    expect(exitCodeOf(() => parseEnvFile(file))).toBe(125);
    expect(exitCodeOf(() => parseEnvFile(`${file}.missing`))).toBe(125);
    fs.rmSync(path.dirname(file), { recursive: true });
  });

  it('labels, names and signals', () => {
    expect(parseLabels(['a=1', 'b', 'c=x=y'])).toEqual({ a: '1', b: '', c: 'x=y' });
    expect(validateContainerName('/web-1')).toBe('web-1');
    expect(exitCodeOf(() => validateContainerName('-bad'))).toBe(125);
    expect(normalizeSignal('term')).toBe('SIGTERM');
    expect(normalizeSignal('9')).toBe('SIGKILL');
    expect(exitCodeOf(() => normalizeSignal('NOPE'))).toBe(125);
  });
});

describe('logs and formatting', () => {
  it('reads json-file lines and plain text', () => {
    expect(parseLogLine('{"log":"hi\\n","stream":"stderr","time":"2026-01-01T00:00:00.5Z"}')).toEqual({ stream: 'stderr', time: '2026-01-01T00:00:00.5Z', text: 'hi\n' });
    expect(parseLogLine('plain')).toEqual({ stream: 'stdout', text: 'plain\n' });
    expect(parseLogTime('10m', 1_000_000)).toBe(1_000_000 - 600_000);
    expect(parseLogTime('1700000000')).toBe(1_700_000_000_000);
  });

  it('renders templates and tables', () => {
    expect(renderTemplate('{{.ID}}\\t{{json .Labels}} {{.State.Status}} {{index .M "k"}}', { ID: 'x', Labels: { a: 'b' }, State: { Status: 'up' }, M: { k: 'v' } })).toBe('x\t{"a":"b"} up v');
    expect(table(['A', 'LONG HEADER'], [['value', 'x']])).toBe('A       LONG HEADER\nvalue   x\n');
  });
});
