// hull-oci's output: straight write(2)s. containerd and podman read `state`, `list` and `ps`
// through pipes, and the first process.stdout.write to a pipe loads Node's whole stream stack
// (~6 ms of a ~15 ms `state`).
import * as fs from 'node:fs';

function writeAll(fd: number, text: string): void {
  let data = Buffer.from(text);
  while (data.length) {
    try {
      data = data.subarray(fs.writeSync(fd, data));
    } catch (err) {
      // A non-blocking pipe that is full: wait a little for the reader.
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
}

export function writeOut(text: string): void {
  writeAll(1, text);
}

export function writeErr(text: string): void {
  try {
    writeAll(2, text);
  } catch {
    /* nowhere left to complain */
  }
}
