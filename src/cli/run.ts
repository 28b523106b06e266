// `hull run [OPTIONS] IMAGE [COMMAND] [ARG...]`: create + start; foreground passes the exit code through.
import type { Command } from 'commander';
import { addCreateFlags, createOptionsFrom, forwardSignals, managerFor } from '../container/cli-support';
import type { LimitFlags } from '../container/options';

const collect = (value: string, previous: string[] = []) => [...previous, value];

/**
 * docker's resource-limit flags of `run` and `create` (beside -m in addCreateFlags). They are parsed
 * and checked by the manager (parseLimitFlags) before anything is created: bad values exit 125.
 */
export function addLimitFlags(cmd: Command): Command {
  return cmd
    .option('--memory-swap <bytes>', 'swap limit equal to memory plus swap: -1 to enable unlimited swap')
    .option('--memory-reservation <bytes>', 'memory soft limit')
    .option('--cpus <number>', 'number of CPUs (CFS quota over a 100ms period)')
    .option('-c, --cpu-shares <n>', 'CPU shares (relative weight)')
    .option('--cpuset-cpus <list>', 'CPUs in which to allow execution (0-3, 0,1)')
    .option('--pids-limit <n>', 'tune container pids limit (-1 for unlimited)')
    .option('--ulimit <name=soft[:hard]>', 'ulimit options (nofile, nproc, core, …)', collect, [])
    .option('--oom-score-adj <n>', "tune the host's OOM preferences (-1000 to 1000)")
    .option('--sysctl <name=value>', 'namespaced kernel parameters (net.*, kernel.shm*/msg*/sem, fs.mqueue.*)', collect, [])
    .option('--device <host[:container][:rwm]>', 'add a host device to the container', collect, [])
    .option('--userns <mode>', 'user namespace: host (default) or remap (subordinate ids from /etc/subuid, /etc/subgid)');
}

/** The limit flags commander parsed, in the manager's shape. */
export function limitFlagsFrom(f: LimitFlags & { ulimit?: string[]; sysctl?: string[]; device?: string[] }): LimitFlags {
  return {
    memorySwap: f.memorySwap,
    memoryReservation: f.memoryReservation,
    cpus: f.cpus,
    cpuShares: f.cpuShares,
    cpusetCpus: f.cpusetCpus,
    pidsLimit: f.pidsLimit,
    ulimit: f.ulimit,
    oomScoreAdj: f.oomScoreAdj,
    sysctl: f.sysctl,
    device: f.device,
  };
}

export function register(program: Command): void {
  const cmd = program
    .command('run')
    .description('Create and run a new container from an image')
    .argument('<image>')
    .argument('[command...]')
    .option('-d, --detach', 'run container in background and print container ID')
    .option('--explain', 'print every kernel step in plain words on stderr (as HULL_TRACE=1)')
    .passThroughOptions();
  addLimitFlags(addCreateFlags(cmd)).action(async (image: string, command: string[], flags, self: Command) => {
    const manager = managerFor(self);
    const options = { ...createOptionsFrom(image, command, flags), limits: limitFlagsFrom(flags), userns: flags.userns as string | undefined };
    if (flags.detach) {
      const { record } = await manager.run({ ...options, detach: true });
      process.stdout.write(`${record.Id}\n`);
      return;
    }
    let id = '';
    const stopForwarding = forwardSignals((sig) => {
      if (id) manager.kill(id, sig).catch(() => undefined);
    });
    try {
      const { exitCode } = await manager.run({ ...options, onCreated: (rec) => (id = rec.Id) });
      process.exit(exitCode);
    } finally {
      stopForwarding();
    }
  });
}
