// Shared pieces of the container verbs in src/cli: the manager for the global --root, the flags
// `run` and `create` share, and signal forwarding for foreground containers.
import type { Command } from 'commander';
import { createExplainer, explainEnabled } from '../trace/explain';
import { ContainerManager, type CreateContainerOptions } from './manager';

export function managerFor(cmd: Command): ContainerManager {
  const opts = cmd.optsWithGlobals() as { root?: string; explain?: boolean };
  // `--explain` (run, start, exec) or HULL_TRACE=1: every kernel step in plain words on stderr.
  const onTrace = opts.explain || explainEnabled() ? createExplainer((line) => process.stderr.write(`${line}\n`)) : undefined;
  return new ContainerManager({ root: opts.root, onWarning: (m) => process.stderr.write(`WARNING: ${m}\n`), onTrace });
}


const collect = (value: string, previous: string[] = []) => [...previous, value];

/** The flags of `run` and `create` (docker's names). */
export function addCreateFlags(cmd: Command): Command {
  return cmd
    .helpOption('--help', 'display help for command') // -h is --hostname, as in docker
    .option('--name <name>', 'assign a name to the container')
    .option('-e, --env <KEY=VALUE>', 'set environment variables', collect, [])
    .option('--env-file <file>', 'read in a file of environment variables', collect, [])
    .option('-w, --workdir <dir>', 'working directory inside the container')
    .option('-u, --user <user[:group]>', 'username or UID (format: <name|uid>[:<group|gid>])')
    .option('--entrypoint <cmd>', "overwrite the image's default ENTRYPOINT")
    .option('-h, --hostname <name>', 'container host name')
    .option('-v, --volume <spec>', 'bind mount a volume ([SOURCE:]TARGET[:OPTIONS])', collect, [])
    .option('--mount <spec>', 'attach a filesystem mount (type=bind|volume|tmpfs,…)', collect, [])
    .option('--tmpfs <spec>', 'mount a tmpfs directory (PATH[:OPTIONS])', collect, [])
    .option('--read-only', "mount the container's root filesystem as read only")
    .option('--network <mode>', 'network mode: none (own namespace) or host', 'none')
    .option('-l, --label <k=v>', 'set metadata on a container', collect, [])
    .option('--stop-signal <signal>', 'signal to stop the container')
    .option('--stop-timeout <seconds>', 'timeout (in seconds) to stop a container', (v) => parseIntStrict(v, '--stop-timeout'))
    .option('--pull <policy>', 'pull image before running ("always", "missing", "never")', 'missing')
    .option('-i, --interactive', 'keep STDIN open')
    .option('-t, --tty', 'allocate a pseudo-TTY')
    .option('--rm', 'automatically remove the container when it exits')
    .option('--privileged', 'give extended privileges to this container')
    .option('--cap-add <cap>', 'add Linux capabilities', collect, [])
    .option('--cap-drop <cap>', 'drop Linux capabilities', collect, [])
    .option('--security-opt <opt>', 'security options', collect, [])
    .option('--log-opt <opt>', 'log driver options (max-size, max-file)', collect, [])
    .option('-m, --memory <bytes>', 'memory limit (e.g. 32m)');
}

export function parseIntStrict(value: string, what: string): number {
  if (!/^-?\d+$/.test(value)) {
    const err = new Error(`invalid ${what}: "${value}" is not an integer`) as Error & { exitCode: number };
    err.exitCode = 125;
    throw err;
  }
  return Number(value);
}

interface CreateFlags {
  name?: string;
  env: string[];
  envFile: string[];
  workdir?: string;
  user?: string;
  entrypoint?: string;
  hostname?: string;
  volume: string[];
  mount: string[];
  tmpfs: string[];
  readOnly?: boolean;
  network: string;
  label: string[];
  stopSignal?: string;
  stopTimeout?: number;
  pull: string;
  interactive?: boolean;
  tty?: boolean;
  rm?: boolean;
  privileged?: boolean;
  capAdd: string[];
  capDrop: string[];
  securityOpt: string[];
  logOpt: string[];
  memory?: string;
}

export function createOptionsFrom(image: string, command: string[], f: CreateFlags): CreateContainerOptions {
  if (!['missing', 'always', 'never'].includes(f.pull)) {
    throw Object.assign(new Error(`invalid pull option: '${f.pull}': must be one of "always", "missing", "never"`), { exitCode: 125 });
  }
  return {
    image,
    command,
    name: f.name,
    env: f.env,
    envFiles: f.envFile,
    workdir: f.workdir,
    user: f.user,
    entrypoint: f.entrypoint,
    hostname: f.hostname,
    volumes: f.volume,
    mounts: f.mount,
    tmpfs: f.tmpfs,
    readOnly: f.readOnly,
    network: f.network,
    labels: f.label,
    stopSignal: f.stopSignal,
    stopTimeout: f.stopTimeout,
    pull: f.pull as CreateContainerOptions['pull'],
    tty: f.tty,
    interactive: f.interactive,
    autoRemove: f.rm,
    privileged: f.privileged,
    capAdd: f.capAdd,
    capDrop: f.capDrop,
    securityOpt: f.securityOpt,
    logOpts: f.logOpt,
    memory: f.memory,
  };
}

/** docker's sig-proxy: signals sent to the CLI go to the foreground container. */
export function forwardSignals(send: (signal: NodeJS.Signals) => void): () => void {
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
  const handlers = signals.map((sig) => {
    const h = () => send(sig);
    process.on(sig, h);
    return [sig, h] as const;
  });
  return () => {
    for (const [sig, h] of handlers) process.off(sig, h);
  };
}

/** Prints one line per argument result; errors go to stderr and set exit code 1 (docker's multi-target verbs). */
export async function forEachTarget(targets: string[], fn: (t: string) => Promise<string | void>): Promise<void> {
  let failed = false;
  for (const t of targets) {
    try {
      const out = await fn(t);
      if (out !== undefined) process.stdout.write(`${out}\n`);
    } catch (err) {
      failed = true;
      process.stderr.write(`Error response from daemon: ${(err as Error).message}\n`);
    }
  }
  if (failed) process.exitCode = 1;
}
