// Helpers shared by the image verbs of the `hull` CLI (src/cli/*.ts): the store for --root,
// progress output, docker-style sizes, ages and tables.
import type { Command } from 'commander';
import { stateRoot } from '../config';
import { ProgressRenderer, ProgressReporter, humanSize, silentProgress } from './progress';
import { ImageStore } from './store';

/** The image store of the state root given by --root / $HULL_ROOT / the default. */
export function storeFor(cmd: Command): ImageStore {
  const root = (cmd.optsWithGlobals() as { root?: string }).root;
  return new ImageStore(stateRoot(root));
}

/** Bars on a terminal, plain lines otherwise, nothing with --quiet. */
export function progressFor(quiet: boolean, out: NodeJS.WriteStream = process.stdout): ProgressReporter {
  return quiet ? silentProgress : new ProgressRenderer(out);
}

/** docker's sizes: decimal units, 3 significant digits ("4.26MB"). */
export function dockerSize(bytes: number): string {
  return humanSize(bytes);
}

/** "3 days ago", "About an hour ago": docker's CREATED column (go-units HumanDuration). */
export function timeAgo(iso: string, now = Date.now()): string {
  const then = Date.parse(iso);
  if (!Number.isFinite(then) || then <= 0) return 'N/A';
  const s = Math.max(0, (now - then) / 1000);
  const m = s / 60;
  const h = m / 60;
  const d = h / 24;
  let text: string;
  if (s < 1) text = 'Less than a second';
  else if (s < 2) text = '1 second';
  else if (s < 60) text = `${Math.floor(s)} seconds`;
  else if (m < 2) text = 'About a minute';
  else if (m < 60) text = `${Math.floor(m)} minutes`;
  else if (h < 2) text = 'About an hour';
  else if (h < 48) text = `${Math.floor(h)} hours`;
  else if (d < 14) text = `${Math.floor(d)} days`;
  else if (d < 90) text = `${Math.floor(d / 7)} weeks`;
  else if (d < 730) text = `${Math.floor(d / 30)} months`;
  else text = `${Math.floor(d / 365)} years`;
  return `${text} ago`;
}

/** Left-aligned columns separated by at least three spaces (docker's tabwriter look). */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] + 3))).join('').trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

/** Read all of stdin (for --password-stdin and `load` without -i). */
export async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Collect repeated options (`-c A -c B`). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
