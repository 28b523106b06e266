// `hull`: the docker-style CLI. A thin shell over the typed API in src/index.ts.
// Each verb lives in its own file exporting `register(program)`. Only the verb being run is
// loaded (startup cost matters: a container run is dominated by Node's own start).
import { Command } from 'commander';

/** verb -> module under src/cli (a module may register several verbs, e.g. `image`). */
const VERBS: Record<string, string> = {
  // images (issue 3)
  pull: 'pull', push: 'push', images: 'images', rmi: 'rmi', tag: 'tag', image: 'image',
  history: 'history', save: 'save', load: 'load', import: 'import', login: 'login', logout: 'logout',
  system: 'system',
  // containers (issue 4)
  run: 'run', create: 'create', start: 'start', stop: 'stop', kill: 'kill', restart: 'restart',
  pause: 'pause', unpause: 'unpause', rm: 'rm', ps: 'ps', logs: 'logs', exec: 'exec', wait: 'wait',
  inspect: 'inspect', top: 'top', diff: 'diff', commit: 'commit', export: 'export', cp: 'cp',
  rename: 'rename', attach: 'attach', container: 'container', volume: 'volume', update: 'update', stats: 'stats',
};

function loadVerb(program: Command, moduleName: string): boolean {
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    // The explicit .js lets the bundler (npm run build:bundle) map this to the bundled module.
    const mod = require(`./${moduleName}.js`) as { register?: (p: Command) => void };
    mod.register?.(program);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' && String((err as Error).message).includes(`./${moduleName}.js`)) {
      return false; // verb not implemented yet
    }
    throw err;
  }
}

/** Global options that take a value: their value is not the verb (`hull --root /x pull`). */
const GLOBAL_OPTIONS_WITH_VALUE = new Set(['--root']);

function firstVerb(argv: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (GLOBAL_OPTIONS_WITH_VALUE.has(arg)) i++;
    else if (!arg.startsWith('-')) return arg;
  }
  return undefined;
}

export function main(argv: string[]): void {
  const program = new Command('hull')
    .description('Linux containers: images, containers, volumes')
    .version(require('../../package.json').version, '-v, --version')
    .option('--root <dir>', 'state root (default /var/lib/hull, or $HULL_ROOT)')
    .option('--debug', 'print stack traces for errors')
    .enablePositionalOptions()
    .exitOverride();

  const verb = firstVerb(argv);
  const loaded = new Set<string>();
  if (verb && VERBS[verb]) {
    if (loadVerb(program, VERBS[verb])) loaded.add(VERBS[verb]);
  }
  const versionOnly = !verb && argv.some((a) => a === '-v' || a === '--version');
  if (loaded.size === 0 && !versionOnly) {
    for (const mod of new Set(Object.values(VERBS))) loadVerb(program, mod);
  }

  program.parseAsync(argv, { from: 'user' }).catch((err: unknown) => {
    const e = err as { code?: string; exitCode?: number; message?: string; stack?: string };
    if (e.code?.startsWith('commander.')) {
      // help and version exit 0; usage errors are hull's own failure: 125 like docker
      process.exit(e.exitCode === 0 ? 0 : 125);
    }
    process.stderr.write(`hull: ${program.opts().debug ? e.stack : e.message}\n`);
    process.exit(typeof e.exitCode === 'number' ? e.exitCode : 125);
  });
}
