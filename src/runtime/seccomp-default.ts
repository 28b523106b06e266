// The default seccomp profile: the same behaviour as Docker's (moby/profiles seccomp/default.json),
// written as data. An allowlist with default EPERM; a few calls allowed only with certain arguments;
// the namespace, mount, module, clock… calls allowed only when the container holds the capability
// that would make them useful. See docs/internals/seccomp.md for how the helper compiles it to BPF.

/** OCI `linux.seccomp.syscalls[].args[]`: `value` (and `valueTwo` for masked-eq) compared with an argument. */
export interface LinuxSeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: 'SCMP_CMP_NE' | 'SCMP_CMP_LT' | 'SCMP_CMP_LE' | 'SCMP_CMP_EQ' | 'SCMP_CMP_GE' | 'SCMP_CMP_GT' | 'SCMP_CMP_MASKED_EQ';
}

/** OCI `linux.seccomp.syscalls[]`: rules for the same syscall are tried in order. */
export interface LinuxSyscall {
  names: string[];
  action: LinuxSeccompAction;
  errnoRet?: number;
  args?: LinuxSeccompArg[];
}

export type LinuxSeccompAction =
  | 'SCMP_ACT_KILL'
  | 'SCMP_ACT_KILL_PROCESS'
  | 'SCMP_ACT_KILL_THREAD'
  | 'SCMP_ACT_TRAP'
  | 'SCMP_ACT_ERRNO'
  | 'SCMP_ACT_TRACE'
  | 'SCMP_ACT_ALLOW'
  | 'SCMP_ACT_LOG'
  | 'SCMP_ACT_NOTIFY';

/** OCI `linux.seccomp`. */
export interface LinuxSeccomp {
  defaultAction: LinuxSeccompAction;
  defaultErrnoRet?: number;
  architectures?: string[];
  flags?: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: LinuxSyscall[];
}

const EPERM = 1;
const ENOSYS = 38;

/** The flags `clone` may not carry without CAP_SYS_ADMIN: every CLONE_NEW* except CLONE_NEWTIME. */
export const CLONE_NAMESPACE_FLAGS =
  0x00020000 | // CLONE_NEWNS
  0x04000000 | // CLONE_NEWUTS
  0x08000000 | // CLONE_NEWIPC
  0x10000000 | // CLONE_NEWUSER
  0x20000000 | // CLONE_NEWPID
  0x40000000 | // CLONE_NEWNET
  0x02000000; // CLONE_NEWCGROUP  (together 0x7E020000)

/** Allowed for everyone. Names unknown to an architecture are skipped when the filter is compiled. */
const ALWAYS_ALLOWED = [
  'accept', 'accept4', 'access', 'adjtimex', 'alarm', 'bind', 'brk', 'cachestat', 'capget', 'capset',
  'chdir', 'chmod', 'chown', 'chown32', 'clock_adjtime', 'clock_adjtime64', 'clock_getres',
  'clock_getres_time64', 'clock_gettime', 'clock_gettime64', 'clock_nanosleep', 'clock_nanosleep_time64',
  'close', 'close_range', 'connect', 'copy_file_range', 'creat', 'dup', 'dup2', 'dup3', 'epoll_create',
  'epoll_create1', 'epoll_ctl', 'epoll_ctl_old', 'epoll_pwait', 'epoll_pwait2', 'epoll_wait',
  'epoll_wait_old', 'eventfd', 'eventfd2', 'execve', 'execveat', 'exit', 'exit_group', 'faccessat',
  'faccessat2', 'fadvise64', 'fadvise64_64', 'fallocate', 'fanotify_mark', 'fchdir', 'fchmod', 'fchmodat',
  'fchmodat2', 'fchown', 'fchown32', 'fchownat', 'fcntl', 'fcntl64', 'fdatasync', 'fgetxattr', 'flistxattr',
  'flock', 'fork', 'fremovexattr', 'fsetxattr', 'fstat', 'fstat64', 'fstatat64', 'fstatfs', 'fstatfs64',
  'fsync', 'ftruncate', 'ftruncate64', 'futex', 'futex_requeue', 'futex_time64', 'futex_wait', 'futex_waitv',
  'futex_wake', 'futimesat', 'getcpu', 'getcwd', 'getdents', 'getdents64', 'getegid', 'getegid32', 'geteuid',
  'geteuid32', 'getgid', 'getgid32', 'getgroups', 'getgroups32', 'getitimer', 'getpeername', 'getpgid',
  'getpgrp', 'getpid', 'getppid', 'getpriority', 'getrandom', 'getresgid', 'getresgid32', 'getresuid',
  'getresuid32', 'getrlimit', 'get_robust_list', 'getrusage', 'getsid', 'getsockname', 'getsockopt',
  'get_thread_area', 'gettid', 'gettimeofday', 'getuid', 'getuid32', 'getxattr', 'getxattrat',
  'inotify_add_watch', 'inotify_init', 'inotify_init1', 'inotify_rm_watch', 'io_cancel', 'ioctl',
  'io_destroy', 'io_getevents', 'io_pgetevents', 'io_pgetevents_time64', 'ioprio_get', 'ioprio_set',
  'io_setup', 'io_submit', 'ipc', 'kill', 'landlock_add_rule', 'landlock_create_ruleset',
  'landlock_restrict_self', 'lchown', 'lchown32', 'lgetxattr', 'link', 'linkat', 'listen', 'listmount',
  'listxattr', 'listxattrat', 'llistxattr', '_llseek', 'lremovexattr', 'lseek', 'lsetxattr', 'lstat',
  'lstat64', 'madvise', 'map_shadow_stack', 'membarrier', 'memfd_create', 'memfd_secret', 'mincore', 'mkdir',
  'mkdirat', 'mknod', 'mknodat', 'mlock', 'mlock2', 'mlockall', 'mmap', 'mmap2', 'mprotect', 'mq_getsetattr',
  'mq_notify', 'mq_open', 'mq_timedreceive', 'mq_timedreceive_time64', 'mq_timedsend', 'mq_timedsend_time64',
  'mq_unlink', 'mremap', 'mseal', 'msgctl', 'msgget', 'msgrcv', 'msgsnd', 'msync', 'munlock', 'munlockall',
  'munmap', 'name_to_handle_at', 'nanosleep', 'newfstatat', '_newselect', 'open', 'openat', 'openat2',
  'pause', 'pidfd_open', 'pidfd_send_signal', 'pipe', 'pipe2', 'pkey_alloc', 'pkey_free', 'pkey_mprotect',
  'poll', 'ppoll', 'ppoll_time64', 'prctl', 'pread64', 'preadv', 'preadv2', 'prlimit64', 'process_mrelease',
  'pselect6', 'pselect6_time64', 'pwrite64', 'pwritev', 'pwritev2', 'read', 'readahead', 'readlink',
  'readlinkat', 'readv', 'recv', 'recvfrom', 'recvmmsg', 'recvmmsg_time64', 'recvmsg', 'remap_file_pages',
  'removexattr', 'removexattrat', 'rename', 'renameat', 'renameat2', 'restart_syscall', 'riscv_hwprobe',
  'rmdir', 'rseq', 'rt_sigaction', 'rt_sigpending', 'rt_sigprocmask', 'rt_sigqueueinfo', 'rt_sigreturn',
  'rt_sigsuspend', 'rt_sigtimedwait', 'rt_sigtimedwait_time64', 'rt_tgsigqueueinfo', 'sched_getaffinity',
  'sched_getattr', 'sched_getparam', 'sched_get_priority_max', 'sched_get_priority_min',
  'sched_getscheduler', 'sched_rr_get_interval', 'sched_rr_get_interval_time64', 'sched_setaffinity',
  'sched_setattr', 'sched_setparam', 'sched_setscheduler', 'sched_yield', 'seccomp', 'select', 'semctl',
  'semget', 'semop', 'semtimedop', 'semtimedop_time64', 'send', 'sendfile', 'sendfile64', 'sendmmsg',
  'sendmsg', 'sendto', 'setfsgid', 'setfsgid32', 'setfsuid', 'setfsuid32', 'setgid', 'setgid32', 'setgroups',
  'setgroups32', 'setitimer', 'setpgid', 'setpriority', 'setregid', 'setregid32', 'setresgid', 'setresgid32',
  'setresuid', 'setresuid32', 'setreuid', 'setreuid32', 'setrlimit', 'set_robust_list', 'setsid',
  'setsockopt', 'set_thread_area', 'set_tid_address', 'setuid', 'setuid32', 'setxattr', 'setxattrat',
  'shmat', 'shmctl', 'shmdt', 'shmget', 'shutdown', 'sigaltstack', 'signalfd', 'signalfd4', 'sigprocmask',
  'sigreturn', 'socketcall', 'socketpair', 'splice', 'stat', 'stat64', 'statfs', 'statfs64', 'statmount',
  'statx', 'symlink', 'symlinkat', 'sync', 'sync_file_range', 'syncfs', 'sysinfo', 'tee', 'tgkill', 'time',
  'timer_create', 'timer_delete', 'timer_getoverrun', 'timer_gettime', 'timer_gettime64', 'timer_settime',
  'timer_settime64', 'timerfd_create', 'timerfd_gettime', 'timerfd_gettime64', 'timerfd_settime',
  'timerfd_settime64', 'times', 'tkill', 'truncate', 'truncate64', 'ugetrlimit', 'umask', 'uname', 'unlink',
  'unlinkat', 'uretprobe', 'utime', 'utimensat', 'utimensat_time64', 'utimes', 'vfork', 'vmsplice', 'wait4',
  'waitid', 'waitpid', 'write', 'writev',
  // Docker gates these on kernel >= 4.8 (before it, seccomp ran before ptrace and could be bypassed);
  // hull needs a newer kernel anyway.
  'process_vm_readv', 'process_vm_writev', 'ptrace',
];

/**
 * socket(2) domains containers may create. AF_ALG (38, kernel crypto API) and AF_VSOCK (40, host/guest
 * sockets that ignore network namespaces) are deliberately absent, as are domains the kernel removed.
 * (On i386 socket domains hide behind socketcall's pointer and cannot be filtered.)
 */
const ALLOWED_SOCKET_DOMAINS = [
  1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, // AF_UNIX … AF_ROSE
  13, 14, 15, 16, 17, 18, // AF_NETBEUI, AF_SECURITY, AF_KEY, AF_NETLINK, AF_PACKET, AF_ASH
  21, 22, 24, // AF_RDS, AF_SNA, AF_PPPOX
  26, 27, 28, 29, 30, 31, 32, 33, // AF_LLC, AF_IB, AF_MPLS, AF_CAN, AF_TIPC, AF_BLUETOOTH, AF_IUCV, AF_RXRPC
  35, 36, 39, // AF_PHONET, AF_IEEE802154, AF_NFC
  41, 42, 43, 44, 45, // AF_KCM, AF_QIPCRTR, AF_SMC, AF_XDP, AF_MCTP
];

/** Extra calls some architectures need (Docker's `includes.arches`), keyed by Node's process.arch. */
const ARCH_SPECIFIC: Record<string, string[]> = {
  x64: ['arch_prctl', 'modify_ldt'],
  ia32: ['modify_ldt'],
  arm: ['arm_fadvise64_64', 'arm_sync_file_range', 'sync_file_range2', 'breakpoint', 'cacheflush', 'set_tls'],
  arm64: ['arm_fadvise64_64', 'arm_sync_file_range', 'sync_file_range2', 'breakpoint', 'cacheflush', 'set_tls'],
  ppc64: ['sync_file_range2', 'swapcontext'],
  s390x: ['s390_pci_mmio_read', 's390_pci_mmio_write', 's390_runtime_instr'],
  riscv64: ['riscv_flush_icache'],
};

/** The seccomp architectures a filter must cover on each host (native first, then its compat ABIs). */
const ARCHITECTURES: Record<string, string[]> = {
  x64: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
  ia32: ['SCMP_ARCH_X86'],
  arm64: ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'],
  arm: ['SCMP_ARCH_ARM'],
  s390x: ['SCMP_ARCH_S390X', 'SCMP_ARCH_S390'],
  riscv64: ['SCMP_ARCH_RISCV64'],
  loong64: ['SCMP_ARCH_LOONGARCH64'],
  ppc64: ['SCMP_ARCH_PPC64LE'],
};

/** Calls that become allowed when the container holds a capability (Docker's `includes.caps`). */
const BY_CAPABILITY: [capability: string, names: string[]][] = [
  ['CAP_DAC_READ_SEARCH', ['open_by_handle_at']],
  ['CAP_SYS_ADMIN', [
    'bpf', 'clone', 'clone3', 'fanotify_init', 'fsconfig', 'fsmount', 'fsopen', 'fspick', 'lookup_dcookie',
    'lsm_get_self_attr', 'lsm_list_modules', 'lsm_set_self_attr', 'mount', 'mount_setattr', 'move_mount',
    'open_tree', 'perf_event_open', 'quotactl', 'quotactl_fd', 'setdomainname', 'sethostname', 'setns',
    'syslog', 'umount', 'umount2', 'unshare',
  ]],
  ['CAP_SYS_BOOT', ['reboot']],
  ['CAP_SYS_CHROOT', ['chroot']],
  ['CAP_SYS_MODULE', ['delete_module', 'init_module', 'finit_module']],
  ['CAP_SYS_PACCT', ['acct']],
  ['CAP_SYS_PTRACE', ['kcmp', 'pidfd_getfd', 'process_madvise', 'process_vm_readv', 'process_vm_writev', 'ptrace']],
  ['CAP_SYS_RAWIO', ['iopl', 'ioperm']],
  ['CAP_SYS_TIME', ['settimeofday', 'stime', 'clock_settime', 'clock_settime64']],
  ['CAP_SYS_TTY_CONFIG', ['vhangup']],
  ['CAP_SYS_NICE', ['get_mempolicy', 'mbind', 'set_mempolicy', 'set_mempolicy_home_node']],
  ['CAP_SYSLOG', ['syslog']],
  ['CAP_BPF', ['bpf']],
  ['CAP_PERFMON', ['perf_event_open']],
];

/** `sys_admin`, `SYS_ADMIN` and `CAP_SYS_ADMIN` all mean CAP_SYS_ADMIN. */
function normalizeCapability(name: string): string {
  const upper = name.trim().toUpperCase();
  return upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
}

/** socket(2) rules: one `<` for the leading run of domains, then one `==` per other domain. */
function socketRules(): LinuxSyscall[] {
  const domains = [...ALLOWED_SOCKET_DOMAINS].sort((a, b) => a - b);
  let runEnd = 1; // domains[0..runEnd) is contiguous from AF_UNIX (AF_UNSPEC, 0, is never creatable)
  while (runEnd < domains.length && domains[runEnd] === domains[runEnd - 1] + 1) runEnd++;
  const allow = (value: number, op: LinuxSeccompArg['op']): LinuxSyscall => ({
    names: ['socket'],
    action: 'SCMP_ACT_ALLOW',
    args: [{ index: 0, value, op }],
  });
  return [
    allow(domains[runEnd - 1] + 1, 'SCMP_CMP_LT'),
    ...domains.slice(runEnd).map((domain) => allow(domain, 'SCMP_CMP_EQ')),
  ];
}

/**
 * Docker's default seccomp profile for a container holding `caps` (names like `CAP_SYS_ADMIN`;
 * the `CAP_` prefix and case are optional), for the host architecture `arch` (Node's process.arch).
 */
export function defaultSeccompProfile(caps: string[], arch: string = process.arch): LinuxSeccomp {
  const held = new Set(caps.map(normalizeCapability));
  const syscalls: LinuxSyscall[] = [{ names: [...ALWAYS_ALLOWED], action: 'SCMP_ACT_ALLOW' }];
  syscalls.push(...socketRules());

  // personality(2): only the plain Linux persona, with or without UNAME26 (0x20000) and
  // PER_LINUX32 (0x8), and 0xffffffff, which only queries the current persona.
  for (const persona of [0x0, 0x8, 0x20000, 0x20008, 0xffffffff]) {
    syscalls.push({
      names: ['personality'],
      action: 'SCMP_ACT_ALLOW',
      args: [{ index: 0, value: persona, op: 'SCMP_CMP_EQ' }],
    });
  }

  const archSpecific = ARCH_SPECIFIC[arch];
  if (archSpecific) syscalls.push({ names: [...archSpecific], action: 'SCMP_ACT_ALLOW' });

  for (const [capability, names] of BY_CAPABILITY) {
    if (held.has(capability)) syscalls.push({ names: [...names], action: 'SCMP_ACT_ALLOW' });
  }

  if (!held.has('CAP_SYS_ADMIN')) {
    // clone(2) without any CLONE_NEW* flag (arg 1 holds the flags on s390).
    syscalls.push({
      names: ['clone'],
      action: 'SCMP_ACT_ALLOW',
      args: [{ index: arch === 's390x' ? 1 : 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }],
    });
    // clone3 passes its flags in memory, out of seccomp's reach: ENOSYS makes libc fall back to clone.
    syscalls.push({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS });
  }

  return {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: EPERM,
    architectures: [...(ARCHITECTURES[arch] ?? [])],
    syscalls,
  };
}
