// The phrasing of every plan op (docs/internals/plan.md) in the explain trace. Inputs are trace
// texts as build/Release/hull-helper really sends them (captured with `trace 1` on Linux 6.18).
import { describe, expect, it } from 'vitest';
import { V2_DEVICE_FILTER } from '../../src/cgroup';
import {
  capabilityNames, createExplainer, explainEnabled, explainHostStep, explainStep, isBookkeeping, parseCalls,
} from '../../src/trace/explain';

const x = (op: string, text: string) => explainStep(0, op, text);

describe('parseCalls', () => {
  it('splits calls at "; " outside quotes and brackets, and unquotes arguments', () => {
    const calls = parseCalls('mkdirat("/a; b", 0755); mount("x", "/a; b", NULL, MS_BIND, NULL)');
    expect(calls.map((c) => c.name)).toEqual(['mkdirat', 'mount']);
    expect(calls[1].args).toEqual(['x', '/a; b', 'NULL', 'MS_BIND', 'NULL']);
  });
  it('keeps escaped quotes inside strings', () => {
    expect(parseCalls('sethostname("a\\"b")')[0].args).toEqual(['a"b']);
  });
  it('treats plain lines as pseudo-calls', () => {
    expect(parseCalls('skip "/proc/asound" (missing)')[0].name).toBe('skip');
    expect(parseCalls('')).toEqual([]);
  });
});

describe('process and monitor ops', () => {
  it('clone: the namespaces created, with the clone3 call', () => {
    expect(x('clone', 'clone3({flags=CLONE_NEWUSER|CLONE_NEWPID|CLONE_NEWNS|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWNET, exit_signal=SIGCHLD})')).toBe(
      '=> creating namespaces (user, pid, mount, uts, ipc, net): clone3({flags=CLONE_NEWUSER|CLONE_NEWPID|CLONE_NEWNS|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWNET, exit_signal=SIGCHLD})',
    );
  });
  it('clone, second report from inside: cgroup namespace and loopback', () => {
    expect(x('clone', 'unshare(CLONE_NEWCGROUP); ioctl(SIOCSIFFLAGS, "lo", IFF_UP)')).toBe(
      '=> creating the cgroup namespace from inside, bringing up the loopback interface: unshare(CLONE_NEWCGROUP); ioctl(SIOCSIFFLAGS, "lo", IFF_UP)',
    );
  });
  it('setns: which namespace and whose', () => {
    expect(x('setns', 'setns(open("/proc/42/ns/net"), CLONE_NEWNET)')).toBe(
      '=> joining the net namespace of /proc/42/ns/net: setns(open("/proc/42/ns/net"), CLONE_NEWNET)',
    );
  });
  it('setgroups: deny and allow, as the shell write', () => {
    expect(x('setgroups', 'write("/proc/9/setgroups", "deny")')).toBe(
      '=> denying setgroups (required before an unprivileged gid map): echo deny > /proc/9/setgroups',
    );
    expect(x('setgroups', 'write("/proc/9/setgroups", "allow")')).toBe('=> allowing setgroups: echo allow > /proc/9/setgroups');
  });
  it('uid-map and gid-map: the map lines into the file', () => {
    expect(x('uid-map', 'write("/proc/1234/uid_map", "0 100000 65536\n")')).toBe('=> writing uid map: 0 100000 65536 > /proc/1234/uid_map');
    expect(x('gid-map', 'write("/proc/1234/gid_map", "0 0 1\n1 100000 65535\n")')).toBe(
      '=> writing gid map: 0 0 1, 1 100000 65535 > /proc/1234/gid_map',
    );
  });
  it('uid-map through newuidmap when the direct write is refused', () => {
    expect(x('uid-map', 'write("/proc/7/uid_map", "0 1000 1\n"); newuidmap 7 0 1000 1')).toBe(
      '=> writing uid map with newuidmap (direct write refused): 0 1000 1 > /proc/7/uid_map; newuidmap 7 0 1000 1',
    );
  });
  it('cgroup-join: echo pid > cgroup.procs, or the process moving itself (echo 0 > tasks)', () => {
    expect(x('cgroup-join', 'write("/sys/fs/cgroup/memory/hull/abc/cgroup.procs", "1234")')).toBe(
      '=> joining cgroup: echo 1234 > /sys/fs/cgroup/memory/hull/abc/cgroup.procs',
    );
    expect(x('cgroup-join', 'write("/sys/fs/cgroup/memory/hull/abc/tasks", "0")')).toBe(
      '=> moving itself into its cgroup: echo 0 > /sys/fs/cgroup/memory/hull/abc/tasks',
    );
  });
  it('cgroup-clone-into: born in the cgroup2 directory by clone3, or joined when the kernel refused the flag', () => {
    expect(x('cgroup-clone-into', 'cgroup-clone-into /sys/fs/cgroup/unified/hull/abc')).toBe(
      '=> placed in its cgroup at birth (no cgroup.procs write): clone3({flags=...|CLONE_INTO_CGROUP, cgroup=open("/sys/fs/cgroup/unified/hull/abc")})',
    );
    expect(x('cgroup-clone-into', 'write("/sys/fs/cgroup/unified/hull/abc/cgroup.procs", "1234")')).toBe(
      '=> joining cgroup (clone3 refused CLONE_INTO_CGROUP): echo 1234 > /sys/fs/cgroup/unified/hull/abc/cgroup.procs',
    );
  });
  it('time-offset, startContainer hooks, the exit command and the attach socket', () => {
    expect(
      x('time-offset', 'unshare(CLONE_NEWTIME); write("/proc/self/timens_offsets", "boottime 86400 0"); setns(open("/proc/self/ns/time_for_children"), CLONE_NEWTIME)'),
    ).toBe(
      '=> creating the time namespace with the boottime clock moved by 86400 s (offsets are written before anyone enters it): unshare(CLONE_NEWTIME); echo boottime 86400 0 > /proc/self/timens_offsets; setns(open("/proc/self/ns/time_for_children"), CLONE_NEWTIME)',
    );
    expect(x('start-hook', 'start-hook /bin/hook 3 {}')).toBe('=> noting startContainer hook /bin/hook (run inside the container right before its program)');
    expect(isBookkeeping('start-hook-arg', 'start-hook-arg -v')).toBe(true);
    expect(x('exit-command', 'exit-command')).toBe("=> noting the exit command the monitor runs once the container has exited (like conmon's --exit-command)");
    expect(x('attach-socket', 'socket(AF_UNIX, SOCK_STREAM); bind("/r/attach.sock"); listen()')).toBe(
      `=> listening for attach clients (the monitor relays the container's output and input): socket(AF_UNIX, SOCK_STREAM); bind("/r/attach.sock"); listen()`,
    );
  });
  it('rlimit and oom-score-adj', () => {
    expect(x('rlimit', 'prlimit(22683, RLIMIT_NOFILE, {1024, 1024})')).toBe(
      '=> setting resource limit RLIMIT_NOFILE: prlimit(22683, RLIMIT_NOFILE, {1024, 1024})',
    );
    expect(x('oom-score-adj', 'write("/proc/5/oom_score_adj", "100")')).toBe('=> setting the OOM score: echo 100 > /proc/5/oom_score_adj');
  });
  it('settings: trace, id (keyring), state-dir, console-socket, sync', () => {
    expect(x('trace', 'trace 1')).toBe('=> tracing every step');
    expect(x('id', 'keyctl(KEYCTL_JOIN_SESSION_KEYRING, "_ses.a"); keyctl(KEYCTL_SETPERM, "_ses.a", 0x3f1b0000)')).toMatch(
      /^=> joining a new session keyring: keyctl\(KEYCTL_JOIN_SESSION_KEYRING/,
    );
    expect(x('state-dir', 'open("/run/hull-oci/a", O_RDONLY|O_DIRECTORY)')).toBe(
      '=> opening the state directory: open("/run/hull-oci/a", O_RDONLY|O_DIRECTORY)',
    );
    expect(x('console-socket', 'connect("/tmp/c.sock")')).toBe('=> connecting to the console socket: connect("/tmp/c.sock")');
    expect(x('sync', 'sync create-runtime')).toBe('=> pausing for the create-runtime hooks');
    expect(x('mode', 'mode run')).toBe('=> mode run');
    expect(x('detach', 'detach 1')).toBe('=> running detached (the monitor outlives its caller)');
  });
  it('log-file, console-size, oom-check, monitor', () => {
    const log = 'open("/var/lib/hull/c/a", O_PATH|O_DIRECTORY); openat(dir, "a-json.log", O_WRONLY|O_APPEND|O_CREAT, 0640); pipe2(stdout, O_CLOEXEC); pipe2(stderr, O_CLOEXEC)';
    expect(x('log-file', log)).toBe(`=> opening the json-file log a-json.log (the monitor writes the container's output through pipes): ${log}`);
    const ttyLog = 'open("/l", O_PATH|O_DIRECTORY); openat(dir, "x.log", O_WRONLY|O_APPEND|O_CREAT, 0640)';
    expect(x('log-file', ttyLog)).toBe(`=> opening the json-file log x.log (the monitor writes the container's output): ${ttyLog}`);
    expect(x('console-size', 'console-size 40 120')).toBe('=> giving the terminal 40 rows and 120 columns');
    expect(x('oom-check', 'oom-check /sys/fs/cgroup/memory/hull/a/memory.oom_control')).toBe(
      "=> watching the cgroup's OOM kill counter (memory.oom_control)",
    );
    expect(x('monitor', 'monitor 0')).toBe("=> leaving the container to the caller's subreaper");
    for (const [op, text] of [['console-size', 'console-size 1 2'], ['oom-check', 'oom-check /x/memory.events'], ['monitor', 'monitor 0']]) {
      expect(isBookkeeping(op, text), op).toBe(true);
    }
    expect(isBookkeeping('log-file', log)).toBe(false); // it opens files and makes pipes
  });
});

describe('mount phase ops', () => {
  it('propagation: slave or private, recursively', () => {
    expect(x('propagation', 'mount(NULL, "/", NULL, MS_REC|MS_SLAVE, NULL)')).toBe(
      '=> making every mount a slave (host mounts come in, ours never go out): mount(NULL, "/", NULL, MS_REC|MS_SLAVE, NULL)',
    );
    expect(x('propagation', 'mount(NULL, "/", NULL, MS_REC|MS_PRIVATE, NULL)')).toMatch(/^=> making every mount private/);
    expect(x('rootfs-propagation', 'mount(NULL, "/", NULL, MS_SHARED, NULL)')).toMatch(/^=> making this mount shared/);
  });
  it('rootfs: bound onto itself', () => {
    expect(x('rootfs', 'mount(NULL, "/", NULL, MS_PRIVATE, NULL); mount("/b/rootfs", "/b/rootfs", NULL, MS_BIND|MS_REC, NULL); open("/b/rootfs", O_PATH|O_DIRECTORY)')).toMatch(
      /^=> binding the root filesystem onto itself: mount\(NULL, "\/", NULL, MS_PRIVATE, NULL\); mount\("\/b\/rootfs"/,
    );
  });
  it('mount: filesystem type and destination', () => {
    expect(x('mount', 'mount("proc", "/proc", "proc", MS_NOSUID|MS_NODEV|MS_NOEXEC, NULL)')).toBe(
      '=> mounting proc on /proc: mount("proc", "/proc", "proc", MS_NOSUID|MS_NODEV|MS_NOEXEC, NULL)',
    );
    expect(x('mount', 'mkdirat("/dev/shm", 0755); mount("shm", "/dev/shm", "tmpfs", MS_NOSUID|MS_NODEV|MS_NOEXEC, "mode=1777,size=65536k")')).toMatch(
      /^=> mounting tmpfs on \/dev\/shm: mkdirat/,
    );
  });
  it('mount: a bind with a flag remount', () => {
    expect(x('mount', 'mount("/srv/data", "/data", NULL, MS_BIND, NULL); mount(NULL, "/data", NULL, MS_RDONLY|MS_REMOUNT|MS_BIND, NULL)')).toBe(
      '=> bind-mounting /srv/data on /data (then setting its flags): mount("/srv/data", "/data", NULL, MS_BIND, NULL); mount(NULL, "/data", NULL, MS_RDONLY|MS_REMOUNT|MS_BIND, NULL)',
    );
    expect(x('mount', 'mount("tmpfs", "/sys/fs/cgroup", "tmpfs", MS_RDONLY|MS_REMOUNT, "mode=755")')).toMatch(/^=> remounting \/sys\/fs\/cgroup read-only: /);
  });
  it('mount-setattr: the recursive attributes in words', () => {
    const rro = 'mount_setattr("/data", AT_RECURSIVE, {attr_set=MOUNT_ATTR_RDONLY|MOUNT_ATTR_NOEXEC, attr_clr=0})';
    expect(x('mount-setattr', rro)).toBe(`=> making /data and every mount under it read-only, no programs run: ${rro}`);
    const atime = 'mount_setattr("/v", AT_RECURSIVE, {attr_set=MOUNT_ATTR_NOATIME, attr_clr=MOUNT_ATTR__ATIME|MOUNT_ATTR_NOSUID})';
    expect(x('mount-setattr', atime)).toBe(`=> making /v and every mount under it no atime updates, setuid bits honoured: ${atime}`);
    expect(x('mount-setattr', 'mount_setattr("/v", AT_RECURSIVE, {attr_set=0, attr_clr=0})')).toMatch(/^=> making \/v and every mount under it as it was: /);
  });
  it('mount-idmap: the source, the destination and the id ranges in words', () => {
    const text = [
      'clone3({flags=CLONE_NEWUSER, exit_signal=0})',
      'write("/proc/9/uid_map", "0 100000 65536\n")',
      'write("/proc/9/gid_map", "0 100000 65536\n")',
      'open("/proc/9/ns/user", O_RDONLY)',
      'open_tree("/srv/data", OPEN_TREE_CLONE)',
      'mount_setattr("/srv/data", 0, {attr_set=MOUNT_ATTR_IDMAP|MOUNT_ATTR_RDONLY, attr_clr=0, userns="uid 0:100000:65536 gid 0:100000:65536"})',
      'move_mount(tree, "/data", MOVE_MOUNT_F_EMPTY_PATH|MOVE_MOUNT_T_EMPTY_PATH)',
    ].join('; ');
    const line = x('mount-idmap', text);
    expect(line.startsWith(
      '=> bind-mounting /srv/data on /data with ids mapped (uid 0 is host uid 100000 (65536 ids), gid 0 is host gid 100000 (65536 ids)), read-only: ',
    )).toBe(true);
    expect(line).toContain('echo 0 100000 65536 > /proc/9/uid_map'); // the map writes as shell commands, as for uid-map
    expect(line).toContain('move_mount(tree, "/data", MOVE_MOUNT_F_EMPTY_PATH|MOVE_MOUNT_T_EMPTY_PATH)');
    const recursive = 'open_tree("/t", OPEN_TREE_CLONE|AT_RECURSIVE); mount_setattr("/t", AT_RECURSIVE, {attr_set=MOUNT_ATTR_IDMAP, attr_clr=0, userns="uid 1:2:3,4:5:6 gid 1:2:3"}); move_mount(tree, "/t", MOVE_MOUNT_F_EMPTY_PATH|MOVE_MOUNT_T_EMPTY_PATH)';
    expect(x('mount-idmap', recursive)).toMatch(
      /^=> bind-mounting \/t on \/t with ids mapped \(uid 1 is host uid 2 \(3 ids\), uid 4 is host uid 5 \(6 ids\), gid 1 is host gid 2 \(3 ids\)\), every mount under it too: /,
    );
  });
  it('mkdev: mknod, or the host node bound in a user namespace', () => {
    expect(x('mkdev', 'mknodat("/dev/null", S_IFCHR|0666, makedev(1, 3))')).toBe(
      '=> creating device /dev/null (char 1:3): mknodat("/dev/null", S_IFCHR|0666, makedev(1, 3))',
    );
    expect(x('mkdev', 'mknodat("/dev/null", S_IFCHR|0666, makedev(1, 3)); openat("/dev/null", O_CREAT|O_EXCL|O_NOFOLLOW, 0644); mount("/dev/null", "/dev/null", NULL, MS_BIND, NULL)')).toMatch(
      /^=> binding the host's \/dev\/null \(mknod is not allowed in a user namespace\): /,
    );
  });
  it('symlink', () => {
    expect(x('symlink', 'symlinkat("/proc/self/fd", "/dev/fd")')).toBe('=> linking /dev/fd -> /proc/self/fd: symlinkat("/proc/self/fd", "/dev/fd")');
  });
  it('pivot: pivot_root or chroot', () => {
    const pivot = 'fchdir(rootfs); pivot_root(".", "."); mount(NULL, "old root", NULL, MS_REC|MS_SLAVE, NULL); umount2(".", MNT_DETACH); chdir("/")';
    expect(x('pivot', pivot)).toBe(`=> pivoting root: ${pivot}`);
    expect(x('pivot', 'fchdir(rootfs); mount(".", "/", NULL, MS_MOVE, NULL); chroot("."); chdir("/")')).toMatch(
      /^=> moving the root and chrooting \(no pivot_root\): /,
    );
  });
  it('readonly-root, mask, readonly', () => {
    expect(x('readonly-root', 'mount(NULL, "/", NULL, MS_RDONLY|MS_REMOUNT|MS_BIND, NULL)')).toBe(
      '=> making / read-only: mount(NULL, "/", NULL, MS_RDONLY|MS_REMOUNT|MS_BIND, NULL)',
    );
    expect(x('mask', 'mount("/dev/null", "/proc/keys", NULL, MS_BIND, NULL)')).toBe('=> hiding /proc/keys: mount("/dev/null", "/proc/keys", NULL, MS_BIND, NULL)');
    expect(x('mask', 'skip "/proc/asound" (missing)')).toBe('=> not hiding /proc/asound (missing): skip "/proc/asound" (missing)');
    expect(x('readonly', 'mount("/proc/sys", "/proc/sys", NULL, MS_BIND|MS_REC, NULL); mount(NULL, "/proc/sys", NULL, MS_RDONLY|MS_REMOUNT|MS_BIND|MS_REC, NULL)')).toMatch(
      /^=> making \/proc\/sys read-only: /,
    );
  });
  it('the console, reported under the first process-attribute op', () => {
    expect(x('hostname', 'open("/dev/pts/ptmx", O_RDWR|O_NOCTTY); ioctl(master, TIOCGPTPEER, O_RDWR|O_NOCTTY) = "/dev/pts/0"')).toMatch(
      /^=> setting up the console/,
    );
  });
});

describe('process attribute ops', () => {
  it('hostname, domainname, sysctl, umask, nnp', () => {
    expect(x('hostname', 'sethostname("box")')).toBe('=> setting hostname: sethostname("box")');
    expect(x('domainname', 'setdomainname("lan")')).toBe('=> setting domain name: setdomainname("lan")');
    expect(x('sysctl', 'write("/proc/sys/net/ipv4/ip_forward", "1")')).toBe(
      '=> setting sysctl net.ipv4.ip_forward: echo 1 > /proc/sys/net/ipv4/ip_forward',
    );
    expect(x('umask', 'umask(0022)')).toBe('=> setting umask: umask(0022)');
    expect(x('nnp', 'prctl(PR_SET_NO_NEW_PRIVS, 1)')).toBe(
      '=> forbidding new privileges (setuid files stop granting more): prctl(PR_SET_NO_NEW_PRIVS, 1)',
    );
  });
  it('seccomp, seccomp-rule, seccomp-load', () => {
    expect(x('seccomp', 'seccomp errno 1  SCMP_ARCH_X86_64')).toBe('=> starting a seccomp filter (default action: errno)');
    expect(x('seccomp-rule', 'seccomp-rule errno 1 mkdir,mkdirat ')).toBe('=> seccomp rule: errno for mkdir, mkdirat');
    expect(x('seccomp-load', 'seccomp(SECCOMP_SET_MODE_FILTER, 1 rules, 11 instructions)')).toBe(
      '=> installing seccomp filter (11 instructions): seccomp(SECCOMP_SET_MODE_FILTER, 1 rules, 11 instructions)',
    );
    // A precompiled filter (sandboxes): the same words.
    expect(x('seccomp-bpf', 'close_range(3, ~0, CLOSE_RANGE_CLOEXEC); seccomp(SECCOMP_SET_MODE_FILTER, 35 rules, 679 instructions)')).toBe(
      '=> installing seccomp filter (679 instructions): close_range(3, ~0, CLOSE_RANGE_CLOEXEC); seccomp(SECCOMP_SET_MODE_FILTER, 35 rules, 679 instructions)',
    );
  });
  it('caps: the bounding set drop names what stays', () => {
    expect(x('caps', 'prctl(PR_CAPBSET_DROP, every capability not in 0x20000420)')).toBe(
      '=> dropping capabilities (the bounding set keeps CAP_KILL, CAP_NET_BIND_SERVICE, CAP_AUDIT_WRITE): prctl(PR_CAPBSET_DROP, every capability not in 0x20000420)',
    );
    expect(x('caps', 'caps 0x20000420 0x20000420 0x20000420 0x0 0x0')).toBe('=> reading the capability sets (applied with the user step)');
  });
  it('user: the ids and the capabilities kept', () => {
    const text =
      'prctl(PR_SET_KEEPCAPS, 1); setgroups(0, []); setresgid(1000, 1000, 1000); setresuid(1000, 1000, 1000); prctl(PR_SET_KEEPCAPS, 0); capset({effective=0x0, permitted=0x0, inheritable=0x0}); prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, 0x0)';
    expect(x('user', text)).toBe(`=> becoming uid 1000, gid 1000 with capabilities none: ${text}`);
  });
  it('preserve-fds, cwd, env, arg', () => {
    expect(x('preserve-fds', 'preserve-fds 2')).toBe('=> passing 2 extra fds');
    expect(x('cwd', 'chdir("/work")')).toBe('=> changing directory to /work: chdir("/work")');
    expect(x('cwd', 'chdir("/new"); mkdir -p "/new"')).toBe('=> changing directory to /new: chdir("/new"); mkdir -p "/new"');
    expect(x('env', 'env PATH=/bin')).toBe('=> environment: PATH=/bin');
    expect(x('arg', 'arg /bin/sh')).toBe('=> argument: /bin/sh');
  });
  it('exec: the program, and the create-mode wait on the fifo', () => {
    expect(x('exec', 'env HOME=/; close_range(3, ~0, CLOSE_RANGE_CLOEXEC); execve("/bin/sh", ["/bin/sh"], env)')).toBe(
      '=> executing /bin/sh: env HOME=/; close_range(3, ~0, CLOSE_RANGE_CLOEXEC); execve("/bin/sh", ["/bin/sh"], env)',
    );
    expect(x('exec', 'env HOME=/; close_range(3, ~0, CLOSE_RANGE_CLOEXEC); open(exec fifo, O_WRONLY); write("0")')).toMatch(
      /^=> waiting for `start` \(blocked on the exec fifo\): /,
    );
  });
  it('an op it does not know keeps its name and text', () => {
    expect(x('frobnicate', 'frob(1)')).toBe('=> frobnicate: frob(1)');
  });
});

describe('host-side steps (cgroup files written by TypeScript)', () => {
  it('names what each cgroup file controls', () => {
    expect(explainHostStep('write', '/sys/fs/cgroup/memory/hull-oci/a/memory.limit_in_bytes', '67108864')).toBe(
      '=> setting the memory limit: echo 67108864 > /sys/fs/cgroup/memory/hull-oci/a/memory.limit_in_bytes',
    );
    expect(explainHostStep('write', '/sys/fs/cgroup/hull/a/cpu.max', '50000 100000')).toBe(
      "=> setting the CPU quota: echo '50000 100000' > /sys/fs/cgroup/hull/a/cpu.max",
    );
    expect(explainHostStep('write', '/sys/fs/cgroup/pids/a/pids.max', '20')).toBe('=> setting the pids limit: echo 20 > /sys/fs/cgroup/pids/a/pids.max');
    expect(explainHostStep('mkdir', '/sys/fs/cgroup/pids/a')).toBe('=> creating cgroup: mkdir /sys/fs/cgroup/pids/a');
    expect(explainHostStep('write', '/sys/fs/cgroup/x/io.weight', '100')).toBe('=> writing io.weight: echo 100 > /sys/fs/cgroup/x/io.weight');
  });
  it('the v2 device filter is a bpf() program load and attach, not a file write', () => {
    const line = explainHostStep('write', '/sys/fs/cgroup/hull-oci/a/bpf(BPF_CGROUP_DEVICE)', 'deny a, allow c 1:3 rwm');
    expect(line).toBe(
      '=> filtering device access (eBPF program, 2 rules, the last match decides, no match = denied): ' +
        'bpf(BPF_PROG_LOAD, {prog_type=BPF_PROG_TYPE_CGROUP_DEVICE, rules=[deny a, allow c 1:3 rwm]}); ' +
        'bpf(BPF_PROG_ATTACH, {target_fd=open("/sys/fs/cgroup/hull-oci/a"), attach_type=BPF_CGROUP_DEVICE, attach_flags=BPF_F_ALLOW_MULTI})',
    );
    expect(line).not.toMatch(/echo|writing/);
    // The name the trace gives the filter is the one src/cgroup/v2.ts uses.
    expect(explainHostStep('write', `/x/${V2_DEVICE_FILTER}`, 'allow a')).toMatch(/^=> filtering device access \(eBPF program, 1 rule,/);
  });
});

describe('host steps traced as op "cgroup" (src/sandbox/cgroup.ts)', () => {
  it('mkdir and write, as the host-step phrases', () => {
    expect(explainStep(-1, 'cgroup', 'mkdir("/sys/fs/cgroup/pids/hull-sandbox/a")')).toBe('=> creating cgroup: mkdir /sys/fs/cgroup/pids/hull-sandbox/a');
    expect(explainStep(-1, 'cgroup', 'write("/sys/fs/cgroup/memory/hull-sandbox/a/memory.limit_in_bytes", "67108864")')).toBe(
      '=> setting the memory limit: echo 67108864 > /sys/fs/cgroup/memory/hull-sandbox/a/memory.limit_in_bytes',
    );
    expect(explainStep(-1, 'cgroup', 'write("/sys/fs/cgroup/hull-sandbox/a/cgroup.kill", "1")')).toBe(
      '=> killing every process in the cgroup: echo 1 > /sys/fs/cgroup/hull-sandbox/a/cgroup.kill',
    );
  });
});

describe('createExplainer and explainEnabled', () => {
  it('prints kernel steps and hides bookkeeping unless asked', () => {
    const lines: string[] = [];
    const onTrace = createExplainer((l) => lines.push(l));
    onTrace(2, 'trace', 'trace 1');
    onTrace(20, 'env', 'env PATH=/bin');
    onTrace(21, 'seccomp-rule', 'seccomp-rule allow 0 read ');
    onTrace(9, 'hostname', 'sethostname("a")');
    onTrace.host('write', '/sys/fs/cgroup/pids/a/pids.max', '5');
    expect(lines).toEqual(['=> setting hostname: sethostname("a")', '=> setting the pids limit: echo 5 > /sys/fs/cgroup/pids/a/pids.max']);

    const all: string[] = [];
    const verbose = createExplainer((l) => all.push(l), { all: true });
    verbose(20, 'env', 'env PATH=/bin');
    expect(all).toEqual(['=> environment: PATH=/bin']);
  });
  it('bookkeeping: settings, argv/env, seccomp rules, the parse-only caps report', () => {
    expect(isBookkeeping('arg', 'arg x')).toBe(true);
    expect(isBookkeeping('caps', 'caps 0x0 0x0 0x0 0x0 0x0')).toBe(true);
    expect(isBookkeeping('caps', 'prctl(PR_CAPBSET_DROP, every capability not in 0x0)')).toBe(false);
    expect(isBookkeeping('mount', 'mount("proc", "/proc", "proc", 0, NULL)')).toBe(false);
  });
  it('HULL_TRACE=1 turns it on, anything else does not', () => {
    expect(explainEnabled({ HULL_TRACE: '1' })).toBe(true);
    expect(explainEnabled({ HULL_TRACE: '0' })).toBe(false);
    expect(explainEnabled({})).toBe(false);
  });
  it('capabilityNames decodes masks', () => {
    expect(capabilityNames('0x00000000a80425fb')).toHaveLength(14);
    expect(capabilityNames('0x0')).toEqual([]);
  });
});
