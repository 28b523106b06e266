// The teaching trace: turns the helper's `trace` messages (step index, op, syscall text; see
// docs/internals/plan.md "Messages from the helper") into one plain-word line per kernel step,
// in the style of "Linux containers in 500 lines" (REFERENCE §11):
//
//   => creating namespaces: clone3({flags=CLONE_NEWPID|CLONE_NEWNS|..., exit_signal=SIGCHLD})
//   => joining cgroup: echo 1234 > /sys/fs/cgroup/memory/hull-oci/abc/cgroup.procs
//   => mounting proc on /proc: mount("proc", "/proc", "proc", 0, NULL)
//   => pivoting root: fchdir(rootfs); pivot_root(".", "."); ...
//
// Pure string work: no system calls, so every phrase is unit-tested (test/unit/explain-*.test.ts).
// `HULL_TRACE=1` turns it on for any command (see explainEnabled); docs/workshop/ uses its output.
import { CAPABILITIES } from '../runtime/flags';

/** The callback shape of RuntimeOptions.onTrace. */
export type TraceCallback = (step: number, op: string, text: string) => void;

/** One syscall (or pseudo-call such as `skip "/x" (missing)`) taken apart from the trace text. */
export interface Call {
  /** `mount`, `write`, `clone3`… or the first word of a pseudo-call (`skip`, `env`, `newuidmap`). */
  name: string;
  /** Arguments with quotes removed (`"proc"` → `proc`); NULL stays `NULL`. Empty for pseudo-calls. */
  args: string[];
  /** The call exactly as the helper wrote it. */
  raw: string;
}

/** `HULL_TRACE=1` in the environment: print the explain trace. */
export function explainEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.HULL_TRACE === '1';
}

// ---------------------------------------------------------------- parsing the helper's text

/** Split at `sep` outside quotes and brackets. */
function splitTop(text: string, sep: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
      continue;
    }
    if (c === '"') quoted = true;
    else if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') depth--;
    else if (depth === 0 && text.startsWith(sep, i)) {
      parts.push(text.slice(start, i));
      start = i + sep.length;
      i += sep.length - 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

/** `"a\"b"` → `a"b`; anything else unchanged. */
function unquote(s: string): string {
  const t = s.trim();
  if (t.length >= 2 && t.startsWith('"') && t.endsWith('"')) return t.slice(1, -1).replace(/\\(.)/gs, '$1');
  return t;
}

/** The trace text of one step, split into its calls (the helper joins them with "; "). */
export function parseCalls(text: string): Call[] {
  if (!text) return [];
  return splitTop(text, '; ').map((raw) => {
    const m = /^([A-Za-z_][\w]*)\((.*)\)$/s.exec(raw);
    if (m) return { name: m[1], args: m[2] === '' ? [] : splitTop(m[2], ', ').map(unquote), raw };
    return { name: raw.split(' ')[0], args: [], raw };
  });
}

// ---------------------------------------------------------------- small phrases

/** Capability names in a hex mask ("0x20000420" → CAP_KILL, CAP_NET_BIND_SERVICE, CAP_AUDIT_WRITE). */
export function capabilityNames(mask: string): string[] {
  let value: bigint;
  try {
    value = BigInt(mask.startsWith('0x') ? mask : `0x${mask}`);
  } catch {
    return [];
  }
  const names: string[] = [];
  for (let bit = 0; bit < 64; bit++) {
    if ((value >> BigInt(bit)) & 1n) names.push(CAPABILITIES[bit] ?? `cap_${bit}`);
  }
  return names;
}

function capList(mask: string): string {
  const names = capabilityNames(mask);
  return names.length ? names.join(', ') : 'none';
}

const CLONE_WORDS: Record<string, string> = {
  CLONE_NEWUSER: 'user', CLONE_NEWPID: 'pid', CLONE_NEWNS: 'mount', CLONE_NEWUTS: 'uts', CLONE_NEWIPC: 'ipc',
  CLONE_NEWNET: 'net', CLONE_NEWCGROUP: 'cgroup', CLONE_NEWTIME: 'time',
};

function namespaceWords(flags: string): string {
  return flags
    .split('|')
    .map((f) => CLONE_WORDS[f.trim()])
    .filter(Boolean)
    .join(', ');
}

/** `write("/p", "v\n")` as the shell command that does the same: `echo v > /p`. */
function echo(call: Call): string {
  const [file, value = ''] = call.args;
  return `echo ${value.replace(/\n+$/, '').replace(/\n/g, ', ')} > ${file}`;
}

/** An id map write as the brief's workshop form: `0 100000 65536 > /proc/1234/uid_map`. */
function mapLine(call: Call): string {
  const [file, value = ''] = call.args;
  return `${value.replace(/\n+$/, '').replace(/\n/g, ', ')} > ${file}`;
}

function hasFlag(flags: string | undefined, flag: string): boolean {
  return (flags ?? '').split('|').includes(flag);
}

function propagationWords(flags: string): string {
  const rec = hasFlag(flags, 'MS_REC') ? 'every mount' : 'this mount';
  if (hasFlag(flags, 'MS_SLAVE')) return `making ${rec} a slave (host mounts come in, ours never go out)`;
  if (hasFlag(flags, 'MS_PRIVATE')) return `making ${rec} private (no mount events in or out)`;
  if (hasFlag(flags, 'MS_SHARED')) return `making ${rec} shared (mount events go both ways)`;
  if (hasFlag(flags, 'MS_UNBINDABLE')) return `making ${rec} unbindable`;
  return 'changing mount propagation';
}

/** What one mount(2) call does, in words. */
function mountWords(call: Call): string {
  const [source, target, fstype, flags] = call.args;
  if (hasFlag(flags, 'MS_REMOUNT')) {
    const ro = hasFlag(flags, 'MS_RDONLY') ? ' read-only' : '';
    return `remounting ${target}${ro}`;
  }
  if (hasFlag(flags, 'MS_BIND')) return `bind-mounting ${source} on ${target}`;
  if (hasFlag(flags, 'MS_MOVE')) return `moving ${source} to ${target}`;
  if (source === 'NULL' && fstype === 'NULL') return propagationWords(flags ?? '');
  return `mounting ${fstype} on ${target}`;
}

/** mount_setattr(2) attributes in words: what setting (or clearing) each one does. */
const MOUNT_ATTR_WORDS: Record<string, [set: string, clear: string]> = {
  MOUNT_ATTR_RDONLY: ['read-only', 'writable'],
  MOUNT_ATTR_NOSUID: ['setuid bits ignored', 'setuid bits honoured'],
  MOUNT_ATTR_NODEV: ['device files unusable', 'device files usable'],
  MOUNT_ATTR_NOEXEC: ['no programs run', 'programs run'],
  MOUNT_ATTR_RELATIME: ['relatime', ''],
  MOUNT_ATTR_NOATIME: ['no atime updates', ''],
  MOUNT_ATTR_STRICTATIME: ['atime on every access', ''],
  MOUNT_ATTR_NODIRATIME: ['no directory atime updates', 'directory atime updates'],
  MOUNT_ATTR_NOSYMFOLLOW: ['symlinks not followed', 'symlinks followed'],
};

/** `mount_setattr("/data", AT_RECURSIVE, {attr_set=MOUNT_ATTR_RDONLY, attr_clr=0})` in words. */
function mountAttrWords(call: Call | undefined, fallbackTarget: string): string {
  const target = call?.args[0] ?? fallbackTarget;
  const field = (name: string) => (new RegExp(`${name}=([^,}]*)`).exec(call?.raw ?? '')?.[1] ?? '0').split('|');
  const words = [
    ...field('attr_set').map((a) => MOUNT_ATTR_WORDS[a]?.[0]),
    ...field('attr_clr').map((a) => MOUNT_ATTR_WORDS[a]?.[1]),
  ].filter(Boolean);
  return `making ${target} and every mount under it ${words.length ? words.join(', ') : 'as it was'}`;
}

/** "0:100000:65536,…" (the userns= of a `mount-idmap` trace) as "uid 0 is host uid 100000 (65536 ids)". */
function idRangeWords(kind: string, ranges: string): string[] {
  return ranges.split(',').filter(Boolean).map((r) => {
    const [inside, outside, size] = r.split(':');
    return `${kind} ${inside} is host ${kind} ${outside} (${size} ids)`;
  });
}

/** `mount-idmap`: open_tree + mount_setattr(MOUNT_ATTR_IDMAP) by the monitor, move_mount by the container. */
function idmapWords(calls: Call[], fallbackTarget: string): string {
  const tree = calls.find((c) => c.name === 'open_tree');
  const setattr = calls.find((c) => c.name === 'mount_setattr');
  const move = calls.find((c) => c.name === 'move_mount');
  const source = tree?.args[0] ?? '?';
  const target = move?.args[1] ?? fallbackTarget;
  const maps = /userns="uid ([^ ]*) gid ([^"]*)"/.exec(setattr?.raw ?? '');
  const ranges = maps ? [...idRangeWords('uid', maps[1]), ...idRangeWords('gid', maps[2])] : [];
  const attrs = (/attr_set=([^,}]*)/.exec(setattr?.raw ?? '')?.[1] ?? '')
    .split('|')
    .map((a) => MOUNT_ATTR_WORDS[a]?.[0])
    .filter(Boolean);
  const every = setattr?.args[1] === 'AT_RECURSIVE' ? ', every mount under it too' : '';
  return `bind-mounting ${source} on ${target} with ids mapped${ranges.length ? ` (${ranges.join(', ')})` : ''}${every}${attrs.length ? `, ${attrs.join(', ')}` : ''}`;
}

function isConsoleSetup(calls: Call[]): boolean {
  return calls.some((c) => c.raw.includes('/dev/pts/ptmx') || c.raw.includes('TIOCGPTPEER'));
}

// ---------------------------------------------------------------- one line per step

/** What the step did, in plain words (the part before the colon). */
function describe(op: string, calls: Call[], text: string): string {
  const first = calls[0];
  const find = (name: string) => calls.find((c) => c.name === name);
  const plainFields = text.startsWith(`${op} `) ? text.slice(op.length + 1) : text;

  if (isConsoleSetup(calls)) return 'setting up the console (a pty from the container\'s own /dev/pts)';

  switch (op) {
    case 'mode':
      return `mode ${plainFields}`;
    case 'detach':
      return plainFields === '1' ? 'running detached (the monitor outlives its caller)' : 'running in the foreground';
    case 'monitor':
      return plainFields === '0' ? 'leaving the container to the caller\'s subreaper' : 'staying behind as the monitor';
    case 'trace':
      return 'tracing every step';
    case 'id':
      return find('keyctl') ? 'joining a new session keyring' : `container id ${plainFields}`;
    case 'state-dir':
      return 'opening the state directory';
    case 'exec-fifo':
      return 'noting the exec fifo (create mode waits on it)';
    case 'console-socket':
      return 'connecting to the console socket';
    case 'terminal':
      return 'relaying a terminal';
    case 'console-size': {
      const [rows, columns] = plainFields.split(' ');
      return `giving the terminal ${rows} rows and ${columns} columns`;
    }
    case 'log-file': {
      const file = find('openat')?.args[1];
      const pipes = calls.some((c) => c.name === 'pipe2') ? ' through pipes' : '';
      return `opening the json-file log${file ? ` ${file}` : ''} (the monitor writes the container's output${pipes})`;
    }
    case 'oom-check':
      return `watching the cgroup's OOM kill counter (${plainFields.slice(plainFields.lastIndexOf('/') + 1)})`;
    case 'setns': {
      const call = find('setns');
      const kind = call ? namespaceWords(call.args[1] ?? '') : plainFields.split(' ')[0];
      return `joining the ${kind} namespace of ${(call?.args[0] ?? '').replace(/^open\("?|"?\)$/g, '') || plainFields}`;
    }
    case 'clone': {
      const parts: string[] = [];
      const clone = find('clone3');
      if (clone) {
        const flags = /flags=([^,}]*)/.exec(clone.raw)?.[1] ?? '';
        parts.push(`creating namespaces (${namespaceWords(flags) || 'none'})`);
      }
      const unshare = find('unshare');
      if (unshare) parts.push(`creating the ${namespaceWords(unshare.args[0] ?? '')} namespace from inside`);
      if (calls.some((c) => c.name === 'ioctl' && c.raw.includes('"lo"'))) parts.push('bringing up the loopback interface');
      return parts.length ? parts.join(', ') : 'creating namespaces';
    }
    case 'setgroups':
      return first?.name === 'write' && first.args[1] === 'deny'
        ? 'denying setgroups (required before an unprivileged gid map)'
        : 'allowing setgroups';
    case 'uid-map':
    case 'gid-map': {
      const which = op === 'uid-map' ? 'uid' : 'gid';
      return find(`new${which}map`) ? `writing ${which} map with new${which}map (direct write refused)` : `writing ${which} map`;
    }
    case 'cgroup-join':
      // v1: the container process writes 0 (itself) into `tasks`, which skips the attach lock's wait.
      return find('write')?.args[0]?.endsWith('/tasks') ? 'moving itself into its cgroup' : 'joining cgroup';
    case 'cgroup-clone-into':
      // A write here means the kernel refused CLONE_INTO_CGROUP: the helper joined the usual way.
      return find('write') ? 'joining cgroup (clone3 refused CLONE_INTO_CGROUP)' : 'placed in its cgroup at birth (no cgroup.procs write)';
    case 'time-offset': {
      // The helper's evidence holds the offsets line it wrote ("boottime 86400 0").
      const [clock, secs] = (find('write')?.args[1] ?? plainFields).split(' ');
      return `creating the time namespace with the ${clock} clock moved by ${secs} s (offsets are written before anyone enters it)`;
    }
    case 'start-hook':
      return `noting startContainer hook ${plainFields.split(' ')[0]} (run inside the container right before its program)`;
    case 'exit-command':
      return 'noting the exit command the monitor runs once the container has exited (like conmon\'s --exit-command)';
    case 'attach-socket':
      return 'listening for attach clients (the monitor relays the container\'s output and input)';
    case 'rlimit': {
      const call = find('prlimit');
      return `setting resource limit ${call?.args[1] ?? plainFields.split(' ')[0]}`;
    }
    case 'oom-score-adj':
      return 'setting the OOM score';
    case 'sync':
      return `pausing for the ${plainFields} hooks`;
    case 'cgroup-wait': {
      // The monitor joined the cgroups meanwhile (its own trace lines), the CLI wrote the limits.
      const unshare = find('unshare');
      return `waiting until it sits in its cgroups with their limits written${unshare ? ', then creating the cgroup namespace from inside' : ''}`;
    }
    case 'propagation':
    case 'rootfs-propagation':
      return first?.name === 'mount' ? propagationWords(first.args[3] ?? '') : 'changing mount propagation';
    case 'rootfs':
      return 'binding the root filesystem onto itself';
    case 'mount': {
      const mounts = calls.filter((c) => c.name === 'mount');
      const words = mounts.length ? mountWords(mounts[0]) : 'mounting';
      return mounts.length > 1 && hasFlag(mounts[0].args[3], 'MS_BIND') ? `${words} (then setting its flags)` : words;
    }
    case 'mount-setattr':
      return mountAttrWords(find('mount_setattr'), plainFields.split(' ')[0]);
    case 'mount-idmap':
      return idmapWords(calls, plainFields.split(' ')[1] ?? '');
    case 'mkdev': {
      const mknod = find('mknodat');
      const bind = find('mount');
      if (bind) return `binding the host's ${bind.args[1]} (mknod is not allowed in a user namespace)`;
      if (mknod) {
        const type = mknod.args[1]?.startsWith('S_IFBLK') ? 'block' : mknod.args[1]?.startsWith('S_IFIFO') ? 'fifo' : 'char';
        const dev = /makedev\((\d+), (\d+)\)/.exec(mknod.raw);
        return `creating device ${mknod.args[0]} (${type}${dev ? ` ${dev[1]}:${dev[2]}` : ''})`;
      }
      return `creating device ${plainFields.split(' ')[0]}`;
    }
    case 'symlink': {
      const link = find('symlinkat');
      return link ? `linking ${link.args[1]} -> ${link.args[0]}` : 'creating a symlink';
    }
    case 'pivot':
      if (find('pivot_root')) return 'pivoting root';
      if (find('chroot')) return 'moving the root and chrooting (no pivot_root)';
      return 'changing root';
    case 'readonly-root':
      return 'making / read-only';
    case 'mask': {
      if (first?.name === 'skip') return `not hiding ${unquote(first.raw.split(' ')[1] ?? '')} (missing)`;
      const m = find('mount');
      return `hiding ${m?.args[1] ?? plainFields}`;
    }
    case 'readonly': {
      if (first?.name === 'skip') return `not making ${unquote(first.raw.split(' ')[1] ?? '')} read-only (missing)`;
      const m = find('mount');
      return `making ${m?.args[1] ?? plainFields} read-only`;
    }
    case 'hostname':
      return 'setting hostname';
    case 'domainname':
      return 'setting domain name';
    case 'sysctl': {
      const w = calls.find((c) => c.name === 'write');
      const key = w ? w.args[0].replace(/^\/proc\/sys\//, '').replace(/\//g, '.') : plainFields.split(' ')[0];
      return `setting sysctl ${key}`;
    }
    case 'umask':
      return 'setting umask';
    case 'nnp':
      return 'forbidding new privileges (setuid files stop granting more)';
    case 'seccomp': {
      const [action] = plainFields.split(' ');
      return `starting a seccomp filter (default action: ${action})`;
    }
    case 'seccomp-rule': {
      const [action, , names] = plainFields.split(' ');
      return `seccomp rule: ${action} for ${(names ?? '').split(',').join(', ')}`;
    }
    case 'seccomp-load':
    case 'seccomp-bpf': {
      const n = /(\d+) instructions/.exec(text)?.[1];
      return n ? `installing seccomp filter (${n} instructions)` : 'installing seccomp filter';
    }
    case 'caps': {
      const drop = calls.find((c) => c.raw.startsWith('prctl(PR_CAPBSET_DROP'));
      if (drop) {
        const keep = /not in (0x[0-9a-f]+)/i.exec(drop.raw)?.[1] ?? '0x0';
        return `dropping capabilities (the bounding set keeps ${capList(keep)})`;
      }
      if (first?.name === 'caps') return 'reading the capability sets (applied with the user step)';
      const capset = find('capset');
      if (capset) return `setting capabilities (effective: ${capList(/effective=(0x[0-9a-f]+)/i.exec(capset.raw)?.[1] ?? '0')})`;
      return 'setting capabilities';
    }
    case 'user': {
      const uid = find('setresuid')?.args[0];
      const gid = find('setresgid')?.args[0];
      const who = uid !== undefined ? `becoming uid ${uid}, gid ${gid ?? '?'}` : `becoming ${plainFields}`;
      const capset = find('capset');
      if (!capset) return who;
      const eff = /effective=(0x[0-9a-f]+)/i.exec(capset.raw)?.[1] ?? '0';
      return `${who} with capabilities ${capList(eff)}`;
    }
    case 'preserve-fds':
      return `passing ${plainFields} extra fds`;
    case 'cwd': {
      const chdir = find('chdir');
      return `changing directory to ${chdir?.args[0] ?? plainFields}`;
    }
    case 'env':
      return 'environment';
    case 'arg':
      return 'argument';
    case 'exec': {
      const execve = find('execve');
      if (execve) return `executing ${execve.args[0]}`;
      if (calls.some((c) => c.raw.includes('exec fifo'))) return 'waiting for `start` (blocked on the exec fifo)';
      return 'executing';
    }
    default:
      return op;
  }
}

/** The evidence after the colon: the syscalls, with file writes shown as the shell command. */
function evidence(op: string, calls: Call[], text: string): string {
  if (op === 'env' || op === 'arg') return text.replace(/^(env|arg) /, '');
  if (op === 'cgroup-clone-into' && !calls.some((c) => c.name === 'write')) {
    // The plan line names the directory; the work was the flag on the clone3 of the `clone` step.
    return `clone3({flags=...|CLONE_INTO_CGROUP, cgroup=open("${text.slice(op.length + 1)}")})`;
  }
  // A step without syscalls reports its plan line ("seccomp allow 1"): the words say it all.
  if (text === op || text.startsWith(`${op} `)) return '';
  if (op === 'uid-map' || op === 'gid-map') {
    return calls.map((c) => (c.name === 'write' && c.args.length === 2 ? mapLine(c) : c.raw)).join('; ');
  }
  return calls
    .map((c) => (c.name === 'write' && c.args.length === 2 && !c.raw.includes('exec fifo') ? echo(c) : c.raw))
    .join('; ');
}

/**
 * One trace message as a plain-word line:
 * `explainStep(7, 'uid-map', 'write("/proc/1234/uid_map", "0 100000 65536\n")')`
 * → `=> writing uid map: 0 100000 65536 > /proc/1234/uid_map`.
 * The step index is not printed (container steps arrive interleaved with the monitor's); it is part
 * of the signature so callers can pass the message straight through.
 */
export function explainStep(_step: number, op: string, text: string): string {
  const calls = parseCalls(text);
  // Host steps reported by TypeScript itself (step -1), e.g. src/sandbox/cgroup.ts:
  // `cgroup` with `mkdir("/sys/fs/cgroup/...")` or `write("/sys/fs/cgroup/.../pids.max", "20")`.
  if (op === 'cgroup' && calls.length === 1 && ['mkdir', 'rmdir', 'write'].includes(calls[0].name)) {
    const [file, value] = calls[0].args;
    return explainHostStep(calls[0].name as 'mkdir' | 'rmdir' | 'write', file ?? '', value);
  }
  const words = describe(op, calls, text);
  const shown = evidence(op, calls, text);
  return shown && shown !== words ? `=> ${words}: ${shown}` : `=> ${words}`;
}

/**
 * Messages that are no kernel step on their own: settings, the container's argv/env, each seccomp
 * rule (the load step counts them) and the parse-only report of the caps op. createExplainer hides
 * them unless `all` is set.
 */
export function isBookkeeping(op: string, text: string): boolean {
  const settings = ['mode', 'detach', 'monitor', 'trace', 'terminal', 'console-size', 'oom-check', 'exec-fifo'];
  if ([...settings, 'env', 'arg', 'start-hook-arg', 'start-hook-env', 'seccomp', 'seccomp-rule', 'preserve-fds'].includes(op)) {
    return true;
  }
  if (op === 'caps' && text.startsWith('caps ')) return true;
  if (op === 'id' && !text.includes('keyctl')) return true;
  return false;
}

// ---------------------------------------------------------------- host-side steps

/** What a cgroup file controls, for host-side writes done by TypeScript (src/cgroup). */
const CGROUP_FILES: [RegExp, string][] = [
  [/^memory\.(limit_in_bytes|max)$/, 'setting the memory limit'],
  [/^memory\.memsw\.limit_in_bytes$|^memory\.swap\.max$/, 'setting the memory+swap limit'],
  [/^memory\.(soft_limit_in_bytes|low|high)$/, 'setting a memory reservation'],
  [/^pids\.max$/, 'setting the pids limit'],
  [/^cpu\.(cfs_quota_us|max)$/, 'setting the CPU quota'],
  [/^cpu\.cfs_period_us$/, 'setting the CPU period'],
  [/^cpu\.(shares|weight)$/, 'setting the CPU weight'],
  [/^cpuset\.(cpus|mems)$/, 'choosing CPUs/memory nodes'],
  [/^devices\.(allow|deny)$/, 'setting a device rule'],
  [/^cgroup\.procs$/, 'joining cgroup'],
  [/^cgroup\.subtree_control$/, 'enabling controllers'],
  [/^(freezer\.state|cgroup\.freeze)$/, 'freezing or thawing'],
  [/^cgroup\.kill$/, 'killing every process in the cgroup'],
];

/**
 * A step TypeScript does on the host (not a plan op): `mkdir` of a cgroup directory, a `write` of a
 * cgroup file, an `rmdir`. `explainHostStep('write', '/sys/fs/cgroup/pids/hull-oci/a/pids.max', '20')`
 * → `=> setting the pids limit: echo 20 > /sys/fs/cgroup/pids/hull-oci/a/pids.max`.
 */
export function explainHostStep(kind: 'mkdir' | 'write' | 'rmdir', file: string, value = ''): string {
  if (kind === 'mkdir') return `=> creating cgroup: mkdir ${file}`;
  if (kind === 'rmdir') return `=> removing cgroup: rmdir ${file}`;
  const base = file.slice(file.lastIndexOf('/') + 1);
  if (base === DEVICE_FILTER) return deviceFilterStep(file.slice(0, file.lastIndexOf('/')), value);
  const words = CGROUP_FILES.find(([re]) => re.test(base))?.[1] ?? `writing ${base}`;
  const shown = value.includes(' ') || value.includes('\n') ? `'${value.replace(/\n+$/, '')}'` : value;
  return `=> ${words}: echo ${shown} > ${file}`;
}

/** The name src/cgroup/v2.ts gives the eBPF device filter in place of a file (V2_DEVICE_FILTER). */
const DEVICE_FILTER = 'bpf(BPF_CGROUP_DEVICE)';

/**
 * cgroup v2 has no devices.* files: the rules become an eBPF program attached to the directory
 * (src/cgroup/v2.ts, native/cgroup.cc); the program it replaces is detached after.
 */
function deviceFilterStep(dir: string, rules: string): string {
  const count = rules ? rules.split(', ').length : 0;
  return `=> filtering device access (eBPF program, ${count} rule${count === 1 ? '' : 's'}, the last match decides, no match = denied): ` +
    `bpf(BPF_PROG_LOAD, {prog_type=BPF_PROG_TYPE_CGROUP_DEVICE, rules=[${rules}]}); ` +
    `bpf(BPF_PROG_ATTACH, {target_fd=open("${dir}"), attach_type=BPF_CGROUP_DEVICE, attach_flags=BPF_F_ALLOW_MULTI})`;
}

// ---------------------------------------------------------------- the callback

export interface ExplainerOptions {
  /** Also print bookkeeping messages (settings, argv/env, each seccomp rule). */
  all?: boolean;
}

/** An onTrace callback that prints explain lines, plus `host` for TypeScript's own host steps. */
export interface Explainer extends TraceCallback {
  host(kind: 'mkdir' | 'write' | 'rmdir', file: string, value?: string): void;
}

/**
 * `new Runtime({ onTrace: createExplainer((line) => process.stderr.write(line + '\n')) })`:
 * every traced kernel step becomes one line, in the order the messages arrive.
 */
export function createExplainer(write: (line: string) => void, opts: ExplainerOptions = {}): Explainer {
  const explainer = ((step: number, op: string, text: string) => {
    if (!opts.all && isBookkeeping(op, text)) return;
    write(explainStep(step, op, text));
  }) as Explainer;
  explainer.host = (kind, file, value) => write(explainHostStep(kind, file, value));
  return explainer;
}
