// Streams over our end of a pipe to a helper, driven by the addon's watchFd (uv_poll) instead of
// net.Socket: `net` costs milliseconds to load, and fs.createReadStream on a pipe would park a
// threadpool thread in a blocking read per stream. The fd is made non-blocking (only our end).
// node:stream is loaded on the first call of fdStreams(), when a helper gets a 'pipe' stdio slot
// (sandboxes): `hull-oci run` never pays for it.
import * as fs from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { native, type FdWatch } from '../native';

export interface FdReadable extends Readable {
  readonly fd: number;
  ref(): this;
  unref(): this;
}

export interface FdWritable extends Writable {
  readonly fd: number;
  ref(): this;
  unref(): this;
}

interface FdStreams {
  FdReadable: new (fd: number) => FdReadable;
  FdWritable: new (fd: number) => FdWritable;
}

let classes: FdStreams | undefined;

/** The stream classes, defined on first use. */
export function fdStreams(): FdStreams {
  classes ??= defineStreams(require('node:stream') as typeof import('node:stream'));
  return classes;
}

const READABLE = 1;
const WRITABLE = 2;
const CHUNK = 64 * 1024;

function isAgain(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'EAGAIN' || code === 'EWOULDBLOCK';
}

function defineStreams({ Readable, Writable }: typeof import('node:stream')): FdStreams {
  /** Reads `fd` until EOF; closes it when destroyed. */
  class FdReadableImpl extends Readable {
    private readonly watch: FdWatch;

    constructor(readonly fd: number) {
      super({ highWaterMark: CHUNK });
      native().setNonblocking(fd, true);
      this.watch = native().watchFd(fd, (status) => this.onReady(status));
      // Read ahead without a consumer, as net.Socket does: EOF on a pipe nobody reads (a warm
      // helper killed unused) still ends and closes the stream, so the helper's 'close' comes.
      this.read(0);
    }

    override _read(): void {
      this.watch.start(READABLE);
    }

    private onReady(status: number): void {
      if (status < 0) {
        this.destroy(Object.assign(new Error(`read fd ${this.fd}: poll error ${status}`), { code: 'EIO' }));
        return;
      }
      const buffer = Buffer.allocUnsafe(CHUNK);
      let n: number;
      try {
        n = fs.readSync(this.fd, buffer, 0, CHUNK, null);
      } catch (err) {
        if (!isAgain(err)) this.destroy(err as Error);
        return;
      }
      if (n === 0) {
        this.watch.stop();
        this.push(null);
        this.read(0); // 'end' now if nothing is buffered, even without a consumer (as net.Socket)
      } else if (!this.push(buffer.subarray(0, n))) {
        this.watch.stop(); // backpressure: _read starts it again
      }
    }

    override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
      this.watch.close();
      fs.closeSync(this.fd);
      callback(err);
    }

    ref(): this {
      this.watch.ref();
      return this;
    }

    unref(): this {
      this.watch.unref();
      return this;
    }
  }

  /** Writes to `fd`, waiting for room when the pipe is full; closes it at end() or destroy(). */
  class FdWritableImpl extends Writable {
    private readonly watch: FdWatch;
    private pending?: { data: Buffer; callback: (err?: Error | null) => void };

    constructor(readonly fd: number) {
      super({ highWaterMark: CHUNK, decodeStrings: true });
      native().setNonblocking(fd, true);
      this.watch = native().watchFd(fd, () => this.flush());
    }

    override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
      this.pending = { data: chunk, callback };
      this.flush();
    }

    /** Write as much of the pending chunk as the pipe takes; wait for room for the rest. */
    private flush(): void {
      const pending = this.pending;
      if (!pending) {
        this.watch.stop();
        return;
      }
      while (pending.data.length) {
        let n: number;
        try {
          n = fs.writeSync(this.fd, pending.data);
        } catch (err) {
          if (isAgain(err)) {
            this.watch.start(WRITABLE);
            return;
          }
          this.pending = undefined;
          this.watch.stop();
          pending.callback(err as Error); // EPIPE: nobody reads
          return;
        }
        pending.data = pending.data.subarray(n);
      }
      this.pending = undefined;
      this.watch.stop();
      pending.callback();
    }

    override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
      this.watch.close();
      fs.closeSync(this.fd);
      callback(err);
    }

    ref(): this {
      this.watch.ref();
      return this;
    }

    unref(): this {
      this.watch.unref();
      return this;
    }
  }

  return { FdReadable: FdReadableImpl, FdWritable: FdWritableImpl };
}
