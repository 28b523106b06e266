// native/sock.cc: socketpairs, SCM_RIGHTS send/receive and the console-socket receiver.
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { once } from 'node:events';
import { native, type NativeError } from '../../src/native';
import { O_CLOEXEC, caught, fdFlags, readFd } from '../setup/native-fds';

/** Connects to a unix socket path and sends one SCM_RIGHTS message, like a runtime's console client. */
async function sendOverPath(socketPath: string, data: Buffer, fds: number[]): Promise<void> {
  const client = net.createConnection(socketPath);
  await once(client, 'connect');
  // The libuv handle's fd; the addon does the sendmsg.
  const fd = (client as unknown as { _handle: { fd: number } })._handle.fd;
  native().sendFds(fd, data, fds);
  client.end();
  await once(client, 'close');
}

let work: string;
const opened: number[] = [];

beforeEach(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'hull-native-sock-'));
});

afterEach(() => {
  for (const fd of opened.splice(0)) fs.closeSync(fd);
  fs.rmSync(work, { recursive: true, force: true });
});

describe('socketpair + sendFds/recvFds', () => {
  for (const type of ['seqpacket', 'stream'] as const) {
    it(`passes a file fd over a ${type} pair`, () => {
      const [a, b] = native().socketpair(type);
      opened.push(a, b);
      expect(fdFlags(a) & O_CLOEXEC).toBe(O_CLOEXEC);
      const file = path.join(work, 'payload');
      fs.writeFileSync(file, 'passed along');
      const fileFd = fs.openSync(file, 'r');
      opened.push(fileFd);

      native().sendFds(a, Buffer.from('hello'), [fileFd]);
      const { data, fds } = native().recvFds(b, 100, 4);
      opened.push(...fds);
      expect(data.toString()).toBe('hello');
      expect(fds).toHaveLength(1);
      expect(fds[0]).not.toBe(fileFd);
      expect(readFd(fds[0])).toBe('passed along');
      expect(fdFlags(fds[0]) & O_CLOEXEC).toBe(O_CLOEXEC);
    });
  }

  it('sends one NUL byte when data is empty (stream sockets drop fd-only messages)', () => {
    const [a, b] = native().socketpair('stream');
    opened.push(a, b);
    native().sendFds(a, Buffer.alloc(0), [a]);
    const { data, fds } = native().recvFds(b, 16, 4);
    opened.push(...fds);
    expect([...data]).toEqual([0]);
    expect(fds).toHaveLength(1);
  });

  it('passes several fds and plain data', () => {
    const [a, b] = native().socketpair('seqpacket');
    opened.push(a, b);
    native().sendFds(a, Buffer.from('three'), [a, b, a]);
    const received = native().recvFds(b, 16, 8);
    opened.push(...received.fds);
    expect(received.fds).toHaveLength(3);
    native().sendFds(a, Buffer.from('no fds'), []);
    expect(native().recvFds(b, 16, 8)).toEqual({ data: Buffer.from('no fds'), fds: [] });
  });

  it('fails with EMSGSIZE (closing what arrived) when more fds come than fit', () => {
    const [a, b] = native().socketpair('seqpacket');
    opened.push(a, b);
    native().sendFds(a, Buffer.from('x'), [a, b]);
    expect(caught(() => native().recvFds(b, 16, 1))).toMatchObject({ code: 'EMSGSIZE', syscall: 'recvmsg' });
  });

  it('validates arguments', () => {
    expect(() => native().socketpair('dgram' as 'stream')).toThrow(TypeError);
    expect(() => native().sendFds(0, 'x' as unknown as Buffer, [])).toThrow(TypeError);
    expect(caught(() => native().sendFds(999999, Buffer.from('x'), []))).toMatchObject({ code: 'EBADF' });
  });
});

describe('receiveFdOnce', () => {
  it('receives one message with an fd and removes the socket file', async () => {
    const socketPath = path.join(work, 'console.sock');
    const received = native().receiveFdOnce(socketPath, 20_000);
    expect(fs.statSync(socketPath).isSocket()).toBe(true);

    const file = path.join(work, 'pty-stand-in');
    fs.writeFileSync(file, 'master side');
    const fileFd = fs.openSync(file, 'r');
    opened.push(fileFd);
    await sendOverPath(socketPath, Buffer.from('/dev/pts/7'), [fileFd]);

    const { data, fds } = await received;
    opened.push(...fds);
    expect(data.toString()).toBe('/dev/pts/7');
    expect(fds).toHaveLength(1);
    expect(readFd(fds[0])).toBe('master side');
    expect(fdFlags(fds[0]) & O_CLOEXEC).toBe(O_CLOEXEC);
    expect(fs.existsSync(socketPath)).toBe(false);
  });

  it('rejects with ETIMEDOUT when nobody connects, and cleans up', async () => {
    const socketPath = path.join(work, 'idle.sock');
    const err = (await native().receiveFdOnce(socketPath, 50).catch((e) => e)) as NativeError;
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({ code: 'ETIMEDOUT', errno: 110, syscall: 'accept', path: socketPath });
    expect(fs.existsSync(socketPath)).toBe(false);
  });

  it('rejects with ETIMEDOUT when a client connects but sends nothing', async () => {
    const socketPath = path.join(work, 'silent.sock');
    const received = native().receiveFdOnce(socketPath, 300);
    const client = net.createConnection(socketPath);
    await once(client, 'connect');
    const err = (await received.catch((e) => e)) as NativeError;
    client.destroy();
    expect(err).toMatchObject({ code: 'ETIMEDOUT', syscall: 'recvmsg' });
  });

  it('rejects bind failures without touching an existing file', async () => {
    const missingDir = path.join(work, 'no-such-dir', 'x.sock');
    expect(await native().receiveFdOnce(missingDir, 1000).catch((e) => e)).toMatchObject({
      code: 'ENOENT',
      syscall: 'bind',
    });
    const taken = path.join(work, 'taken');
    fs.writeFileSync(taken, 'keep me');
    expect(await native().receiveFdOnce(taken, 1000).catch((e) => e)).toMatchObject({ code: 'EADDRINUSE' });
    expect(fs.readFileSync(taken, 'utf8')).toBe('keep me');
  });
});

describe('writeSome/readSome (the helper control channel)', () => {
  it('writes until the socket is full and hands back the rest, exactly', () => {
    const [a, b] = native().socketpair('stream');
    opened.push(a, b);
    native().setNonblocking(a, true);
    native().setNonblocking(b, true);
    expect(native().readSome(b, 64)).toBeNull(); // nothing yet: no thrown EAGAIN
    expect(native().writeSome(a, 'grüße\n')).toBeNull();
    expect(native().readSome(b, 64)).toBe('grüße\n');

    // More than the socket takes: the rest comes back, and goes once the reader made room.
    const big = 'line of the plan\n'.repeat(1 << 16); // 1 MiB
    let rest: Buffer | string | null = big;
    let got = '';
    let rounds = 0;
    while (rest !== null) {
      rest = native().writeSome(a, rest);
      if (rest) expect(rest).toBeInstanceOf(Buffer);
      for (let chunk = native().readSome(b, 1 << 16); chunk !== null; chunk = native().readSome(b, 1 << 16)) got += chunk;
      rounds++;
    }
    expect(rounds).toBeGreaterThan(1);
    expect(got).toBe(big);
  });

  it('reads "" at end of file, and fails like write(2) once the reader is gone', () => {
    const [a, b] = native().socketpair('stream');
    opened.push(b);
    fs.closeSync(a);
    expect(native().readSome(b, 16)).toBe('');
    const [c, d] = native().socketpair('stream');
    opened.push(c);
    fs.closeSync(d);
    expect(caught(() => native().writeSome(c, 'x'))).toMatchObject({ code: 'EPIPE', syscall: 'write' });
    expect(caught(() => native().writeSome(c, 42 as unknown as string))).toBeInstanceOf(TypeError);
    expect(caught(() => native().readSome(c, 0))).toBeInstanceOf(RangeError);
  });
});
