// `-t`: the container opens a pty from its own /dev/pts and sends the master over a console socket
// (plan op `console-socket`); this relays it to our terminal in raw mode until the container ends.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { native } from '../native';

export class ConsoleRelay {
  /** Short path: unix socket paths are limited to 108 bytes, state roots can be long. */
  readonly socketPath = path.join(os.tmpdir(), `hull-console-${process.pid}-${crypto.randomBytes(4).toString('hex')}.sock`);
  private master = -1;
  private readonly received: Promise<void>;
  private readLoop: Promise<void> = Promise.resolve();
  private rawMode = false;
  private readonly onInput = (chunk: Buffer) => {
    if (this.master < 0) return;
    try {
      fs.writeSync(this.master, chunk);
    } catch {
      /* container gone */
    }
  };

  constructor(
    private readonly interactive: boolean,
    private readonly output: NodeJS.WriteStream = process.stdout,
    private readonly input: NodeJS.ReadStream = process.stdin,
  ) {
    // Listening starts now (bind is synchronous), before the helper connects.
    this.received = native()
      .receiveFdOnce(this.socketPath, 60_000)
      .then(({ fds }) => {
        this.master = fds[0];
        for (const extra of fds.slice(1)) fs.closeSync(extra);
        this.attach();
      });
    this.received.catch(() => undefined);
  }

  private attach(): void {
    if (this.interactive) {
      if (this.input.isTTY) {
        this.input.setRawMode(true);
        this.rawMode = true;
      }
      this.input.on('data', this.onInput);
      this.input.resume();
    }
    this.readLoop = this.pump();
  }

  /** master → our stdout until the slave side is closed (EIO) or the master is closed. */
  private async pump(): Promise<void> {
    const buf = Buffer.alloc(65536);
    for (;;) {
      const n = await new Promise<number>((resolve) => {
        fs.read(this.master, buf, 0, buf.length, null, (err, bytes) => resolve(err ? 0 : bytes));
      });
      if (n <= 0) return;
      await new Promise<void>((resolve) => this.output.write(buf.subarray(0, n), () => resolve()));
    }
  }

  /** After the container ended: drain the output, restore the terminal, close everything. */
  async finish(): Promise<void> {
    await Promise.race([this.received.catch(() => undefined), new Promise((r) => setTimeout(r, 100))]);
    await Promise.race([this.readLoop, new Promise((r) => setTimeout(r, 2000))]);
    this.input.off('data', this.onInput);
    if (this.interactive) this.input.pause();
    if (this.rawMode) this.input.setRawMode(false);
    if (this.master >= 0) {
      try {
        fs.closeSync(this.master);
      } catch {
        /* closed */
      }
      this.master = -1;
    }
    fs.rmSync(this.socketPath, { force: true });
  }
}
