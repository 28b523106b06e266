// Kernel numbers the runtime speaks in: mount flags, mount option words, capabilities, signals,
// resource limits. Pure tables and lookups; nothing here touches the system.

/** mount(2) flags (include/uapi/linux/mount.h). */
export const MS = {
  RDONLY: 0x1,
  NOSUID: 0x2,
  NODEV: 0x4,
  NOEXEC: 0x8,
  SYNCHRONOUS: 0x10,
  REMOUNT: 0x20,
  MANDLOCK: 0x40,
  DIRSYNC: 0x80,
  NOSYMFOLLOW: 0x100,
  NOATIME: 0x400,
  NODIRATIME: 0x800,
  BIND: 0x1000,
  MOVE: 0x2000,
  REC: 0x4000,
  SILENT: 0x8000,
  POSIXACL: 0x10000,
  UNBINDABLE: 0x20000,
  PRIVATE: 0x40000,
  SLAVE: 0x80000,
  SHARED: 0x100000,
  RELATIME: 0x200000,
  I_VERSION: 0x800000,
  STRICTATIME: 0x1000000,
  LAZYTIME: 0x2000000,
} as const;

/** Propagation flags are applied by a separate mount(2) call, never mixed with the others. */
export const PROPAGATION_MASK = MS.SHARED | MS.SLAVE | MS.PRIVATE | MS.UNBINDABLE;

interface OptionEffect {
  set?: number;
  clear?: number;
  propagation?: number;
}

/** OCI/fstab mount option words → flag changes. Words not listed are filesystem data ("mode=755"). */
export const MOUNT_OPTIONS: Record<string, OptionEffect> = {
  defaults: {},
  ro: { set: MS.RDONLY },
  rw: { clear: MS.RDONLY },
  nosuid: { set: MS.NOSUID },
  suid: { clear: MS.NOSUID },
  nodev: { set: MS.NODEV },
  dev: { clear: MS.NODEV },
  noexec: { set: MS.NOEXEC },
  exec: { clear: MS.NOEXEC },
  sync: { set: MS.SYNCHRONOUS },
  async: { clear: MS.SYNCHRONOUS },
  dirsync: { set: MS.DIRSYNC },
  remount: { set: MS.REMOUNT },
  mand: { set: MS.MANDLOCK },
  nomand: { clear: MS.MANDLOCK },
  bind: { set: MS.BIND },
  rbind: { set: MS.BIND | MS.REC },
  private: { propagation: MS.PRIVATE },
  rprivate: { propagation: MS.PRIVATE | MS.REC },
  shared: { propagation: MS.SHARED },
  rshared: { propagation: MS.SHARED | MS.REC },
  slave: { propagation: MS.SLAVE },
  rslave: { propagation: MS.SLAVE | MS.REC },
  unbindable: { propagation: MS.UNBINDABLE },
  runbindable: { propagation: MS.UNBINDABLE | MS.REC },
  relatime: { set: MS.RELATIME },
  norelatime: { clear: MS.RELATIME },
  strictatime: { set: MS.STRICTATIME },
  nostrictatime: { clear: MS.STRICTATIME },
  noatime: { set: MS.NOATIME },
  atime: { clear: MS.NOATIME },
  nodiratime: { set: MS.NODIRATIME },
  diratime: { clear: MS.NODIRATIME },
  iversion: { set: MS.I_VERSION },
  noiversion: { clear: MS.I_VERSION },
  lazytime: { set: MS.LAZYTIME },
  nolazytime: { clear: MS.LAZYTIME },
  acl: { set: MS.POSIXACL },
  noacl: { clear: MS.POSIXACL },
  silent: { set: MS.SILENT },
  loud: { clear: MS.SILENT },
  nosymfollow: { set: MS.NOSYMFOLLOW },
  symfollow: { clear: MS.NOSYMFOLLOW },
};

/** mount_setattr(2) attributes (include/uapi/linux/mount.h). The atime modes are a 3-bit field, not bits. */
export const MOUNT_ATTR = {
  RDONLY: 0x1,
  NOSUID: 0x2,
  NODEV: 0x4,
  NOEXEC: 0x8,
  _ATIME: 0x70,
  RELATIME: 0x0,
  NOATIME: 0x10,
  STRICTATIME: 0x20,
  NODIRATIME: 0x80,
  NOSYMFOLLOW: 0x200000,
} as const;

/**
 * Recursive options (runtime-spec 1.1): applied to the mount and every mount under it with
 * mount_setattr(AT_RECURSIVE) after the mount. `set` adds the attribute, `clear` removes it; an
 * atime word picks the whole atime mode.
 */
const RECURSIVE_OPTIONS: Record<string, { set?: number; clear?: number; atime?: number }> = {
  rro: { set: MOUNT_ATTR.RDONLY },
  rrw: { clear: MOUNT_ATTR.RDONLY },
  rnosuid: { set: MOUNT_ATTR.NOSUID },
  rsuid: { clear: MOUNT_ATTR.NOSUID },
  rnodev: { set: MOUNT_ATTR.NODEV },
  rdev: { clear: MOUNT_ATTR.NODEV },
  rnoexec: { set: MOUNT_ATTR.NOEXEC },
  rexec: { clear: MOUNT_ATTR.NOEXEC },
  rnodiratime: { set: MOUNT_ATTR.NODIRATIME },
  rdiratime: { clear: MOUNT_ATTR.NODIRATIME },
  rrelatime: { atime: MOUNT_ATTR.RELATIME },
  rnoatime: { atime: MOUNT_ATTR.NOATIME },
  rstrictatime: { atime: MOUNT_ATTR.STRICTATIME },
  // Leaving an atime mode means the kernel's default mode, relatime (as `atime` does for mount(2)).
  // The kernel takes no partial atime field in attr_clr (EINVAL), so these cannot be plain clears.
  ratime: { atime: MOUNT_ATTR.RELATIME },
  rnostrictatime: { atime: MOUNT_ATTR.RELATIME },
  // MOUNT_ATTR_RELATIME is 0: clearing it changes nothing (runc's clear of 0 does the same).
  rnorelatime: {},
  rnosymfollow: { set: MOUNT_ATTR.NOSYMFOLLOW },
  rsymfollow: { clear: MOUNT_ATTR.NOSYMFOLLOW },
};

/** The mount_setattr(2) attr_set/attr_clr pair of a mount's recursive options. */
export interface RecursiveAttributes {
  set: number;
  clear: number;
}

export interface ParsedMountOptions {
  flags: number;
  propagation: number;
  data: string;
  /** Present only when the options hold recursive words (`rro`, `rnosuid`…). */
  recursive?: RecursiveAttributes;
}

/** Split OCI mount options into mount(2) flags, propagation flags, the data string and recursive attributes. */
export function parseMountOptions(options: readonly string[] = []): ParsedMountOptions {
  let flags = 0;
  let propagation = 0;
  const data: string[] = [];
  let recursive: RecursiveAttributes | undefined;
  for (const option of options) {
    const effect = MOUNT_OPTIONS[option];
    const rec = RECURSIVE_OPTIONS[option];
    if (effect) {
      if (effect.set) flags |= effect.set;
      if (effect.clear) flags &= ~effect.clear;
      if (effect.propagation) propagation = effect.propagation;
    } else if (rec) {
      recursive ??= { set: 0, clear: 0 };
      // A later word wins over an earlier one for the same attribute, as for the plain words.
      if (rec.set) {
        recursive.set |= rec.set;
        recursive.clear &= ~rec.set;
      }
      if (rec.clear) {
        recursive.clear |= rec.clear;
        recursive.set &= ~rec.clear;
      }
      if (rec.atime !== undefined) {
        // mount_setattr(2): a new atime mode goes in attr_set with the whole field in attr_clr.
        recursive.set = (recursive.set & ~MOUNT_ATTR._ATIME) | rec.atime;
        recursive.clear |= MOUNT_ATTR._ATIME;
      }
    } else if (option === 'tmpcopyup') {
      // runc extension: copy the image's files into a fresh tmpfs. Not implemented; the mount still works.
    } else {
      data.push(option);
    }
  }
  const parsed: ParsedMountOptions = { flags: flags >>> 0, propagation, data: data.join(',') };
  if (recursive) parsed.recursive = { set: recursive.set >>> 0, clear: recursive.clear >>> 0 };
  return parsed;
}

/** Every recursive option word (hull-oci features lists them with the others). */
export const RECURSIVE_MOUNT_OPTIONS: readonly string[] = Object.keys(RECURSIVE_OPTIONS);

/** Render MS_* flags as text for traces and tests: "MS_NOSUID|MS_NODEV". */
export function mountFlagsText(flags: number): string {
  const names = Object.entries(MS)
    .filter(([, bit]) => (flags & bit) !== 0)
    .map(([name]) => `MS_${name}`);
  return names.length ? names.join('|') : '0';
}

/** Capability names in bit order (include/uapi/linux/capability.h). */
export const CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT',
  'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE',
  'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG',
  'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
] as const;

export type CapabilityName = (typeof CAPABILITIES)[number];

/** Bit number of a capability; accepts "CAP_KILL", "kill" and "KILL". undefined if unknown. */
export function capabilityNumber(name: string): number | undefined {
  const upper = name.toUpperCase();
  const full = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  const index = (CAPABILITIES as readonly string[]).indexOf(full);
  return index < 0 ? undefined : index;
}

export function capabilityName(bit: number): string | undefined {
  return CAPABILITIES[bit];
}

/**
 * 64-bit hex mask of a capability list ("0x00000000a80425fb"). Unknown names go to `unknown`
 * (runc warns and ignores them, so a newer config still runs on an older kernel).
 */
export function capabilityMask(names: readonly string[] = [], unknown: string[] = []): string {
  let mask = 0n;
  for (const name of names) {
    const bit = capabilityNumber(name);
    if (bit === undefined) unknown.push(name);
    else mask |= 1n << BigInt(bit);
  }
  return '0x' + mask.toString(16).padStart(16, '0');
}

/** Linux signal numbers (x86-64, arm64 and most others share these). */
export const SIGNALS: Record<string, number> = {
  SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGIOT: 6, SIGBUS: 7, SIGFPE: 8,
  SIGKILL: 9, SIGUSR1: 10, SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15,
  SIGSTKFLT: 16, SIGCHLD: 17, SIGCLD: 17, SIGCONT: 18, SIGSTOP: 19, SIGTSTP: 20, SIGTTIN: 21,
  SIGTTOU: 22, SIGURG: 23, SIGXCPU: 24, SIGXFSZ: 25, SIGVTALRM: 26, SIGPROF: 27, SIGWINCH: 28,
  SIGIO: 29, SIGPOLL: 29, SIGPWR: 30, SIGSYS: 31,
};
const SIGRTMIN = 34;
const SIGRTMAX = 64;

/** "SIGTERM", "TERM", "term", "15", "RTMIN+2" → signal number; throws on anything else. */
export function parseSignal(input: string | number): number {
  if (typeof input === 'number' || /^\d+$/.test(input)) {
    const n = Number(input);
    if (!Number.isInteger(n) || n < 1 || n > SIGRTMAX) throw new Error(`invalid signal: ${input}`);
    return n;
  }
  const upper = input.toUpperCase();
  const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  if (name in SIGNALS) return SIGNALS[name];
  const rt = /^SIGRT(MIN|MAX)([+-]\d+)?$/.exec(name);
  if (rt) {
    const n = (rt[1] === 'MIN' ? SIGRTMIN : SIGRTMAX) + (rt[2] ? Number(rt[2]) : 0);
    if (n >= SIGRTMIN && n <= SIGRTMAX) return n;
  }
  throw new Error(`invalid signal: ${input}`);
}

export function signalName(n: number): string {
  for (const [name, num] of Object.entries(SIGNALS)) if (num === n) return name;
  if (n >= SIGRTMIN && n <= SIGRTMAX) return `SIGRTMIN+${n - SIGRTMIN}`;
  return `SIG${n}`;
}

/** setrlimit(2) resources by OCI name. */
export const RLIMITS = [
  'RLIMIT_CPU', 'RLIMIT_FSIZE', 'RLIMIT_DATA', 'RLIMIT_STACK', 'RLIMIT_CORE', 'RLIMIT_RSS', 'RLIMIT_NPROC',
  'RLIMIT_NOFILE', 'RLIMIT_MEMLOCK', 'RLIMIT_AS', 'RLIMIT_LOCKS', 'RLIMIT_SIGPENDING', 'RLIMIT_MSGQUEUE',
  'RLIMIT_NICE', 'RLIMIT_RTPRIO', 'RLIMIT_RTTIME',
] as const;

export function isRlimitName(name: string): boolean {
  return (RLIMITS as readonly string[]).includes(name);
}
