// hull-oci: runc's command line over hull's runtime API. One module per verb, loaded only when used,
// so `hull-oci state` doesn't pay for `exec`'s code.
import { UsageError, parseArgs, type FlagSpec } from './args';
import { log, parseVerb, type Globals, type Verb } from './cli';
import { writeOut, writeErr } from './output';

export const VERSION = '0.1.0';
const SPEC_VERSION = '1.2.0';

const VERBS: Record<string, () => Verb> = {
  create: () => require('./create').default,
  start: () => require('./start').default,
  state: () => require('./state').default,
  kill: () => require('./kill').default,
  delete: () => require('./delete').default,
  run: () => require('./run').default,
  exec: () => require('./exec').default,
  ps: () => require('./ps').default,
  list: () => require('./list').default,
  pause: () => require('./pause').default,
  resume: () => require('./resume').default,
  spec: () => require('./spec').default,
  features: () => require('./features').default,
  update: () => require('./update').default,
  events: () => require('./events').default,
};

const GLOBAL_FLAGS: FlagSpec[] = [
  { name: 'root', type: 'string', description: 'root directory for container state', valueName: 'dir' },
  { name: 'log', type: 'string', description: 'log file (default: stderr)', valueName: 'file' },
  { name: 'log-format', type: 'string', description: 'log format: text or json', valueName: 'format' },
  { name: 'debug', type: 'boolean', description: 'debug output (helper step trace)' },
  { name: 'systemd-cgroup', type: 'boolean', description: 'use systemd for cgroups (not supported)' },
  { name: 'rootless', type: 'string', description: 'rootless mode: auto, true or false', valueName: 'mode' },
  { name: 'criu', type: 'string', description: 'ignored (checkpoint/restore is not supported)' },
  { name: 'version', alias: 'v', type: 'boolean', description: 'print the version' },
  { name: 'help', alias: 'h', type: 'boolean', description: 'show help' },
];

function usage(): string {
  return [
    'Usage: hull-oci [global options] command [command options] [arguments...]',
    '',
    'An OCI runtime with runc\'s command line, built on hull.',
    '',
    `Commands: ${Object.keys(VERBS).join(', ')}`,
    '',
    'Global options:',
    ...GLOBAL_FLAGS.map((f) => `  ${(`--${f.name}` + (f.type === 'boolean' ? '' : ` ${f.valueName ?? 'value'}`)).padEnd(26)} ${f.description}`),
    '',
  ].join('\n');
}

/** How bin/hull-oci ends the process once main() has settled (see exitNow). */
export { exitNow as exit } from '../native';

export async function main(argv: string[]): Promise<void> {
  const globals: Globals = { root: '/run/hull-oci', logFormat: 'text', debug: false, systemdCgroup: false };
  let code = 1;
  try {
    const { flags, positionals } = parseArgs(argv, GLOBAL_FLAGS);
    if (typeof flags.root === 'string') globals.root = flags.root;
    if (typeof flags.log === 'string') globals.log = flags.log;
    if (flags['log-format'] === 'json' || flags['log-format'] === 'text') globals.logFormat = flags['log-format'];
    else if (flags['log-format'] !== undefined) throw new UsageError(`unknown log-format ${flags['log-format']}`);
    globals.debug = flags.debug === true;
    globals.systemdCgroup = flags['systemd-cgroup'] === true;
    if (typeof flags.rootless === 'string') globals.rootless = flags.rootless;
    if (flags.version) {
      writeOut(`hull-oci version ${VERSION}\nspec: ${SPEC_VERSION}\n`);
      process.exitCode = 0;
      return;
    }
    const [name, ...rest] = positionals;
    if (flags.help || !name || name === 'help') {
      writeOut(usage());
      process.exitCode = flags.help || name === 'help' ? 0 : 1;
      return;
    }
    const load = VERBS[name];
    if (!load) throw new UsageError(`No help topic for '${name}'`);
    if (globals.systemdCgroup) throw new Error('--systemd-cgroup is not supported: hull manages cgroups through cgroupfs only');
    if (globals.rootless === 'true') throw new Error('--rootless=true is not supported: hull-oci must run as root');
    const verb = load();
    const parsed = parseVerb(name, verb, rest);
    code = parsed ? ((await verb.run(parsed, globals)) ?? 0) : 0;
  } catch (err) {
    const msg = (err as Error).message;
    writeErr(`hull-oci: ${msg}\n`);
    log(globals, 'error', msg);
    code = 1;
  }
  process.exitCode = code;
}
