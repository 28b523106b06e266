// What every verb shares: the global flags, the runtime object, error reporting in runc's style
// (message on stderr, exit 1) and logrus-shaped JSON lines in the --log file (containerd reads them).
import * as fs from 'node:fs';
import type { Runtime } from '../runtime/container';
import { type FlagSpec, UsageError, formatHelp, parseArgs, type ParsedArgs } from './args';
import { writeOut, writeErr } from './output';
import { isoTime } from '../util/time';

export interface Globals {
  root: string;
  log?: string;
  logFormat: 'text' | 'json';
  debug: boolean;
  systemdCgroup: boolean;
  rootless?: string;
}

export interface Verb {
  usage: string;
  description: string;
  flags: FlagSpec[];
  /** Positional argument count: [min, max] (max Infinity for commands). */
  args: [number, number];
  run(args: ParsedArgs, globals: Globals): Promise<number | void> | number | void;
}

export function log(globals: Globals, level: 'error' | 'warning' | 'info' | 'debug', msg: string): void {
  if (level === 'debug' && !globals.debug) return;
  if (!globals.log) {
    if (level !== 'error') writeErr(`${level}: ${msg}\n`);
    return;
  }
  const time = isoTime();
  const line =
    globals.logFormat === 'json'
      ? JSON.stringify({ level, msg, time }) + '\n'
      : `time="${time}" level=${level} msg=${JSON.stringify(msg)}\n`;
  try {
    fs.appendFileSync(globals.log, line);
  } catch {
    /* logging must never turn a success into a failure */
  }
}

export function runtimeFor(globals: Globals): Runtime {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Runtime } = require('../runtime/container') as typeof import('../runtime/container');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { createExplainer, explainEnabled } = require('../trace/explain') as typeof import('../trace/explain');
  // HULL_TRACE=1: the teaching trace, one plain-word line per kernel step on stderr (docs/workshop);
  // otherwise --debug logs the raw steps.
  const onTrace = explainEnabled()
    ? createExplainer((line) => writeErr(`${line}\n`))
    : globals.debug
      ? (step: number, op: string, text: string) => log(globals, 'debug', `step ${step} ${op}: ${text}`)
      : undefined;
  return new Runtime({
    root: globals.root,
    detachedMonitor: 'exit', // as runc: the caller's subreaper (shim, conmon) reaps the container
    onWarning: (m) => log(globals, 'warning', m),
    onTrace,
  });
}

/** Parse a verb's argv, handle --help, check the positional count. */
export function parseVerb(name: string, verb: Verb, argv: string[]): ParsedArgs | undefined {
  const helpSpec: FlagSpec = { name: 'help', alias: 'h', type: 'boolean', description: 'show help' };
  const parsed = parseArgs(argv, [...verb.flags, helpSpec]);
  if (parsed.flags.help) {
    writeOut(formatHelp(verb.usage, verb.description, verb.flags));
    return undefined;
  }
  const [min, max] = verb.args;
  if (parsed.positionals.length < min) {
    throw new UsageError(`"${name}" requires ${min === max ? 'exactly' : 'a minimum of'} ${min} argument(s)`);
  }
  if (parsed.positionals.length > max) throw new UsageError(`"${name}" requires a maximum of ${max} argument(s)`);
  return parsed;
}

export const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Reads a file argument where "-" means stdin. */
export function readFileOrStdin(file: string): string {
  return fs.readFileSync(file === '-' ? 0 : file, 'utf8');
}
