// Pull/push progress like docker's: one line per layer with a bar on a terminal
// ("a1b2c3d4e5f6: Downloading [=====>      ]  1.2MB/3.4MB"), plain status lines otherwise.

export interface ProgressOutput {
  write(text: string): unknown;
  isTTY?: boolean;
}

/** Receives layer status changes; the renderer draws them, tests record them. */
export interface ProgressReporter {
  /** A line not tied to a layer ("latest: Pulling from library/busybox"). */
  message(text: string): void;
  /** Status of one item (a short layer ID): Waiting, Downloading, Extracting, Pull complete… */
  update(id: string, status: string, current?: number, total?: number): void;
  /** Stop redrawing (final state stays on screen). */
  finish(): void;
}

export const silentProgress: ProgressReporter = { message() {}, update() {}, finish() {} };

export function humanSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${value}B` : `${value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : value.toFixed(0)}${units[unit]}`;
}

function bar(current: number, total: number, width = 50): string {
  const filled = total > 0 ? Math.min(width, Math.floor((current / total) * width)) : 0;
  return `[${'='.repeat(Math.max(0, filled - 1))}${filled > 0 ? '>' : ''}${' '.repeat(width - filled)}]`;
}

export class ProgressRenderer implements ProgressReporter {
  private readonly items = new Map<string, { status: string; current?: number; total?: number }>();
  private readonly order: string[] = [];
  private drawnLines = 0;
  private lastDraw = 0;
  private timer: NodeJS.Timeout | null = null;
  private finished = false;
  private readonly tty: boolean;

  constructor(private readonly out: ProgressOutput, tty?: boolean) {
    this.tty = tty ?? Boolean(out.isTTY);
  }

  message(text: string): void {
    if (this.tty && !this.finished && this.drawnLines > 0) {
      // While layers are drawn, a message goes above their block: clear it, print, redraw below.
      this.out.write(`\x1b[${this.drawnLines}A\x1b[J${text}\n`);
      this.drawnLines = 0;
      this.redraw(true);
    } else {
      this.out.write(text + '\n');
    }
  }

  update(id: string, status: string, current?: number, total?: number): void {
    const previous = this.items.get(id);
    if (!previous) this.order.push(id);
    this.items.set(id, { status, current, total });
    if (!this.tty) {
      if (previous?.status !== status) this.out.write(`${id}: ${status}\n`);
      return;
    }
    this.redraw(previous?.status !== status);
  }

  finish(): void {
    if (this.tty && !this.finished) this.redraw(true);
    this.finished = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private redraw(force: boolean): void {
    if (this.finished) return;
    const now = Date.now();
    if (!force && now - this.lastDraw < 100) {
      // Byte counters change constantly: draw at most ten times a second.
      this.timer ??= setTimeout(() => {
        this.timer = null;
        this.redraw(true);
      }, 100);
      return;
    }
    this.lastDraw = now;
    let text = this.drawnLines > 0 ? `\x1b[${this.drawnLines}A` : '';
    for (const id of this.order) {
      const item = this.items.get(id)!;
      let line = `${id}: ${item.status}`;
      if (item.total && item.current !== undefined && /Downloading|Extracting|Pushing/.test(item.status)) {
        line += ` ${bar(item.current, item.total)} ${humanSize(item.current)}/${humanSize(item.total)}`;
      }
      text += `\x1b[2K${line}\n`;
    }
    this.drawnLines = this.order.length;
    this.out.write(text);
  }
}
