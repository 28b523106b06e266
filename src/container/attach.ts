// `hull attach`: the client side of a detached container's attach socket (plan op
// `attach-socket`). With -t the monitor keeps the pty master and stays its only reader; we get a
// copy of the output as plain bytes. Without -t it reads the stdout and stderr pipes (for the log)
// and we get each chunk in docker's attach stream format: 8-byte header (stream 1 or 2, three zero
// bytes, big-endian u32 length), then the bytes. Either way we send input and window sizes as
// frames (type byte, big-endian u16 length, payload): 'd' + bytes typed, 'w' + u16 rows + u16 columns.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { usageError } from './errors';

/** The socket's name in the runtime's state directory of the container. */
export const ATTACH_SOCKET = 'attach.sock';

/** docker's default detach keys: ctrl-p ctrl-q. */
export const DEFAULT_DETACH_KEYS = 'ctrl-p,ctrl-q';

/** docker's `--detach-keys` syntax: comma-separated `ctrl-<x>` or single characters. */
export function parseDetachKeys(spec: string): number[] {
  if (spec === '') return [];
  return spec.split(',').map((key) => {
    const ctrl = /^ctrl-(.)$/i.exec(key);
    if (ctrl) {
      const c = ctrl[1].toLowerCase();
      if (/[a-z@[\\\]^_]/.test(c)) return c.toUpperCase().charCodeAt(0) & 0x1f;
    } else if (key.length === 1) {
      return key.charCodeAt(0);
    }
    throw usageError(`invalid detach keys (${spec}): ${key}`);
  });
}

function frame(type: 'd' | 'w', payload: Buffer): Buffer {
  const header = Buffer.from([type.charCodeAt(0), payload.length >> 8, payload.length & 0xff]);
  return Buffer.concat([header, payload]);
}

function sizeFrame(rows: number, columns: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt16BE(Math.min(rows, 0xffff), 0);
  payload.writeUInt16BE(Math.min(columns, 0xffff), 2);
  return frame('w', payload);
}

/**
 * Connects to `socketPath` through its directory's fd (a unix socket path holds 107 bytes, state
 * roots can be longer than that leaves) and relays until the container ends ('ended': the
 * monitor closed the connection after writing exit.json) or the detach keys are typed ('detached').
 */
export async function attachToSocket(
  socketPath: string,
  opts: {
    input?: NodeJS.ReadStream;
    output: NodeJS.WriteStream;
    /** Set: the container has no terminal, output comes framed and stream 2 goes here. */
    errorOutput?: NodeJS.WritableStream;
    detachKeys: number[];
  },
): Promise<'ended' | 'detached'> {
  const dirFd = fs.openSync(path.dirname(socketPath), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  let socket: net.Socket;
  try {
    socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.createConnection(`/proc/self/fd/${dirFd}/${path.basename(socketPath)}`);
      s.once('connect', () => resolve(s));
      s.once('error', reject);
    });
  } finally {
    fs.closeSync(dirFd);
  }
  const { input, output, errorOutput, detachKeys } = opts;
  return new Promise((resolve) => {
    let matched = 0; // how many detach keys in a row were typed (held back until we know)
    let rawMode = false;
    let done = false;
    const finish = (how: 'ended' | 'detached') => {
      if (done) return;
      done = true;
      input?.off('data', onInput);
      input?.pause();
      if (rawMode) input?.setRawMode(false);
      output.off('resize', onResize);
      socket.destroy();
      resolve(how);
    };
    const onInput = (chunk: Buffer) => {
      const pass: number[] = [];
      for (const byte of chunk) {
        if (detachKeys.length && byte === detachKeys[matched]) {
          if (++matched === detachKeys.length) {
            if (pass.length) socket.write(frame('d', Buffer.from(pass)));
            finish('detached');
            return;
          }
          continue;
        }
        // Not the sequence after all: what was held back is input too.
        pass.push(...detachKeys.slice(0, matched));
        matched = 0;
        if (detachKeys.length && byte === detachKeys[0]) matched = 1;
        else pass.push(byte);
      }
      for (let i = 0; i < pass.length; i += 0xffff) socket.write(frame('d', Buffer.from(pass.slice(i, i + 0xffff))));
    };
    const onResize = () => {
      if (output.rows && output.columns) socket.write(sizeFrame(output.rows, output.columns));
    };
    const write = (to: NodeJS.WritableStream, chunk: Buffer) => {
      if (!to.write(chunk)) {
        socket.pause();
        to.once('drain', () => socket.resume());
      }
    };
    let pending: Buffer = Buffer.alloc(0); // framed output: an incomplete header or payload
    socket.on('data', (chunk: Buffer) => {
      if (!errorOutput) return write(output, chunk);
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      while (pending.length >= 8) {
        const length = pending.readUInt32BE(4);
        if (pending.length < 8 + length) break;
        write(pending[0] === 2 ? errorOutput : output, pending.subarray(8, 8 + length));
        pending = pending.subarray(8 + length);
      }
    });
    socket.on('close', () => finish('ended'));
    socket.on('error', () => finish('ended'));
    if (output.isTTY && !errorOutput) {
      onResize();
      output.on('resize', onResize);
    }
    if (input) {
      if (input.isTTY && !errorOutput) {
        input.setRawMode(true);
        rawMode = true;
      }
      input.on('data', onInput);
      input.resume();
    }
  });
}
