// Reading a container's log: docker's json-file lines ({"log","stream","time"}), with rotated files
// PATH.N … PATH.1 before PATH, and plain text (what detached containers wrote before the monitor
// owned the log) shown as stdout lines without times.
import * as fs from 'node:fs';
import * as net from 'node:net';

export interface LogEntry {
  stream: 'stdout' | 'stderr';
  /** RFC 3339 with nanoseconds, or undefined for plain-text lines. */
  time?: string;
  text: string;
}

export interface LogReadOptions {
  follow?: boolean;
  /** Last N lines (undefined/'all' = everything). */
  tail?: number;
  timestamps?: boolean;
  /** Only entries at or after this time (ms since epoch). */
  since?: number;
  until?: number;
}

/** Parse one log line; plain text comes back as a stdout entry. */
export function parseLogLine(line: string): LogEntry {
  if (line.startsWith('{"log":') || line.startsWith('{"stream":')) {
    try {
      const j = JSON.parse(line) as { log?: string; stream?: string; time?: string };
      if (typeof j.log === 'string') {
        return { stream: j.stream === 'stderr' ? 'stderr' : 'stdout', time: j.time, text: j.log };
      }
    } catch {
      /* plain text that looks like JSON */
    }
  }
  return { stream: 'stdout', text: `${line}\n` };
}

/** docker's --since/--until: RFC 3339, a Unix timestamp, or a duration ("10m", "1h30m") before now. */
export function parseLogTime(text: string, now = Date.now()): number {
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  const dur = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$/.exec(text);
  if (dur && text) return now - ((Number(dur[1] ?? 0) * 60 + Number(dur[2] ?? 0)) * 60 + Number(dur[3] ?? 0)) * 1000;
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw Object.assign(new Error(`invalid value for "since": ${text}`), { exitCode: 125 });
  return t;
}

function logFiles(logPath: string): string[] {
  const rotated: string[] = [];
  for (let i = 1; fs.existsSync(`${logPath}.${i}`); i++) rotated.push(`${logPath}.${i}`);
  return [...rotated.reverse(), logPath];
}

function splitLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

function keep(entry: LogEntry, opts: LogReadOptions): boolean {
  if (opts.since === undefined && opts.until === undefined) return true;
  if (!entry.time) return opts.since === undefined; // plain text has no time to compare
  const t = Date.parse(entry.time);
  if (opts.since !== undefined && t < opts.since) return false;
  if (opts.until !== undefined && t > opts.until) return false;
  return true;
}

function format(entry: LogEntry, timestamps: boolean): string {
  return timestamps && entry.time ? `${entry.time} ${entry.text}` : entry.text;
}

/**
 * Write the log to `out`/`err`; with `follow`, keep reading new lines until `isRunning()` turns
 * false (checked between polls).
 */
export async function readLogs(
  logPath: string,
  opts: LogReadOptions,
  out: (s: string) => void,
  err: (s: string) => void,
  isRunning: () => Promise<boolean> | boolean,
): Promise<void> {
  const emit = (e: LogEntry) => (e.stream === 'stderr' ? err : out)(format(e, opts.timestamps ?? false));
  let entries: LogEntry[] = [];
  // How much of the live file was shown: following goes on from there, so a line the monitor
  // appends between this read and the first poll is neither lost nor shown twice.
  let offset = 0;
  for (const file of logFiles(logPath)) {
    let data: Buffer;
    try {
      data = fs.readFileSync(file);
    } catch {
      continue;
    }
    if (file === logPath) offset = data.length;
    for (const line of splitLines(data.toString('utf8'))) entries.push(parseLogLine(line));
  }
  entries = entries.filter((e) => keep(e, opts));
  if (opts.tail !== undefined && opts.tail >= 0) entries = opts.tail === 0 ? [] : entries.slice(-opts.tail);
  for (const e of entries) emit(e);
  if (!opts.follow) return;

  let partial = '';
  for (;;) {
    const running = await isRunning();
    let size = 0;
    try {
      size = fs.statSync(logPath).size;
    } catch {
      size = 0;
    }
    if (size < offset) offset = 0; // rotated
    if (size > offset) {
      const fd = fs.openSync(logPath, 'r');
      try {
        const buf = Buffer.alloc(size - offset);
        fs.readSync(fd, buf, 0, buf.length, offset);
        offset = size;
        partial += buf.toString('utf8');
      } finally {
        fs.closeSync(fd);
      }
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const e = parseLogLine(line);
        if (keep(e, opts)) emit(e);
      }
    }
    if (!running) {
      if (partial) emit({ stream: 'stdout', text: partial });
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** One json-file line, as docker writes it. */
export function jsonLogLine(stream: 'stdout' | 'stderr', text: string, time = new Date()): string {
  return `${JSON.stringify({ log: text, stream, time: time.toISOString() })}\n`;
}

/**
 * A foreground container's stdout/stderr go through socket pairs we read: each chunk is copied to
 * our own stdout/stderr and appended to the log as json-file lines, so `logs` shows a foreground
 * run's output too (docker keeps it as well).
 */
export class OutputTee {
  /** The container's ends, to pass as its stdout and stderr. */
  readonly containerFds: [number, number];
  private readonly done: Promise<void>[] = [];
  private readonly log: number;

  constructor(logPath: string, socketpair: () => [number, number]) {
    this.log = fs.openSync(logPath, 'a', 0o640);
    const out = socketpair();
    const err = socketpair();
    this.containerFds = [out[1], err[1]];
    this.done.push(this.relay(out[0], 'stdout', process.stdout), this.relay(err[0], 'stderr', process.stderr));
  }

  private relay(fd: number, stream: 'stdout' | 'stderr', to: NodeJS.WriteStream): Promise<void> {
    const socket = new net.Socket({ fd, readable: true, writable: false });
    let partial = '';
    return new Promise<void>((resolve) => {
      socket.on('data', (chunk: Buffer) => {
        to.write(chunk);
        const text = partial + chunk.toString('utf8');
        const lines = text.split('\n');
        partial = lines.pop() ?? '';
        const now = new Date();
        const out = lines.map((l) => jsonLogLine(stream, `${l}\n`, now)).join('');
        if (out) fs.writeSync(this.log, out);
      });
      const finish = () => {
        if (partial) fs.writeSync(this.log, jsonLogLine(stream, partial));
        partial = '';
        resolve();
      };
      socket.on('end', finish);
      socket.on('close', finish);
      socket.on('error', finish);
    });
  }

  /** Our copies of the container's ends must go once the helper has its own. */
  releaseContainerEnds(): void {
    for (const fd of this.containerFds) {
      try {
        fs.closeSync(fd);
      } catch {
        /* closed already */
      }
    }
  }

  async finish(): Promise<void> {
    this.releaseContainerEnds();
    await Promise.race([Promise.all(this.done), new Promise((r) => setTimeout(r, 2000))]);
    fs.closeSync(this.log);
  }
}
