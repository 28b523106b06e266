// hull-helper: executes a plan (docs/internals/plan.md) and stays as the container's monitor.
//
// Two processes run this code:
//   the monitor    = the helper itself. Reads the plan from fd 3, does what needs the host's view
//                    (cgroups, id maps, rlimits), clones the container process, relays its
//                    messages, and when it exits writes exit.json and exits with its status.
//   the container  = the clone3 child, born in the new namespaces. Runs the mount phase and the
//     process        process attributes step by step, then execve()s the container's program.
// They talk over a SOCK_SEQPACKET socketpair ("the channel"), one message per packet. The child's
// end is CLOEXEC: EOF after `ready` means execve succeeded.
// This file is the monitor; helper-container.cc the container process; helper-report.cc the
// messages both send. docs/internals/helper.md walks through them top to bottom.
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <string>
#include <vector>

#include "kernel.h"
#include "plan.h"

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U  // Linux 6.3; Debian 12's headers predate it
#endif

namespace hull {

// ===== Which process runs which op =====

// Settings only configure the helper.
bool IsSetting(const std::string& op) {
  return op == "mode" || op == "detach" || op == "monitor" || op == "trace" || op == "id" || op == "state-dir" ||
         op == "exec-fifo" || op == "console-socket" || op == "terminal" || op == "console-size" ||
         op == "log-file" || op == "oom-check" || op == "exit-command" || op == "attach-socket" ||
         op == "seccomp-listener";
}
// setns into a pid or time namespace changes only where our *children* go: the monitor does it.
bool IsMonitorSetns(const Step& step) {
  return step.op == "setns" && (step.fields[0] == "pid" || step.fields[0] == "time");
}
bool IsAfterCloneMonitorOp(const std::string& op) {
  return op == "setgroups" || op == "uid-map" || op == "gid-map" || op == "cgroup-join" || op == "cgroup-clone-into" ||
         op == "rlimit" || op == "oom-score-adj";
}
bool IsMonitorOp(const Step& step) {
  return IsSetting(step.op) || IsMonitorSetns(step) || step.op == "clone" || IsAfterCloneMonitorOp(step.op);
}
// The "process attributes" table of plan.md: the console is set up right before the first of them.
bool IsProcessAttribute(const std::string& op) {
  return op == "hostname" || op == "domainname" || op == "sysctl" || op == "umask" || op == "nnp" ||
         op == "seccomp" || op == "seccomp-rule" || op == "seccomp-load" || op == "seccomp-bpf" || op == "user" || op == "caps" ||
         op == "preserve-fds" || op == "cwd" || op == "env" || op == "arg" || op == "exec";
}

namespace {

// ===== Before the clone =====

void ApplySetting(const Step& step, Settings& settings) {
  const std::string& value = step.fields[0];
  if (step.op == "mode") {
    if (value != "create" && value != "run" && value != "exec") Fail(EINVAL, "plan", "", "unknown mode " + value);
    settings.mode = value;
  } else if (step.op == "detach") {
    settings.detach = value == "1";
  } else if (step.op == "monitor") {
    settings.monitor = value != "0";
  } else if (step.op == "trace") {
    gTracing = value == "1";
  } else if (step.op == "id") {
    settings.id = value;
  } else if (step.op == "state-dir") {
    Trace("open(" + Quote(value) + ", O_RDONLY|O_DIRECTORY)");
    settings.stateDir = value;
    settings.stateDirFd = open(value.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (settings.stateDirFd < 0) FailErrno("open", value);
  } else if (step.op == "exec-fifo") {
    settings.execFifo = value;
  } else if (step.op == "console-socket") {
    settings.consoleSocket = value;
    settings.consoleSocketFd = ConnectConsoleSocket(value);
  } else if (step.op == "terminal") {
    settings.terminal = value == "1";
  } else if (step.op == "console-size") {
    settings.consoleRows = static_cast<unsigned short>(Number(step.fields[0]));
    settings.consoleColumns = static_cast<unsigned short>(Number(step.fields[1]));
  } else if (step.op == "oom-check") {
    settings.oomCheckPath = value;
  }
}

// `log-file`, run after the other settings because it depends on them: the log file, and output
// pipes for fds 1 and 2. With a terminal the pty is the output (the monitor logs what it relays);
// with a console socket the output belongs to whoever holds the master: nothing for us to log.
void OpenLog(const Step& step, Settings& settings) {
  if (!settings.monitor) Fail(EINVAL, "plan", "", "log-file needs a monitor (not with monitor 0)");
  settings.log.Open(step.fields[0], Number(step.fields[1]), static_cast<unsigned>(Number(step.fields[2])));
  if (settings.terminal || !settings.consoleSocket.empty()) return;
  settings.log.MakePipes();
}

// The oom_kill counter of the container's cgroup ("oom_kill N" in cgroup v2's memory.events and
// in v1's memory.oom_control), or -1 if there is none to read.
long long ReadOomKillCount(const std::string& path) {
  if (path.empty()) return -1;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char text[4096];
  ssize_t n = read(fd, text, sizeof text - 1);
  close(fd);
  if (n <= 0) return -1;
  text[n] = '\0';
  const char* line = strstr(text, "oom_kill ");
  if (line != text && line && line[-1] != '\n') line = nullptr;
  return line ? atoll(line + strlen("oom_kill ")) : -1;
}

// Which namespaces clone3 creates and which the container process unshares itself later.
void DecideNamespaces(const std::vector<Step>& plan, const Step& clone, Settings& settings) {
  settings.cloneFlags = CloneFlagsFromList(clone.fields[0]);
  // The cgroup namespace waits until the monitor has moved the child into its cgroups.
  settings.unshareFlags = settings.cloneFlags & CLONE_NEWCGROUP;
  bool joinsUserNs = false;
  for (const Step& step : plan) joinsUserNs |= step.op == "setns" && step.fields[0] == "user";
  if (joinsUserNs) {
    // New namespaces belong to the user namespace of the process that creates them: with a
    // joined user namespace the child creates them itself, after its setns. A pid or time
    // namespace cannot be made that way without a second fork, which the helper does not do.
    const uint64_t later = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET;
    settings.unshareFlags |= settings.cloneFlags & later;
    if (settings.cloneFlags & (CLONE_NEWPID | CLONE_NEWTIME | CLONE_NEWUSER)) {
      Fail(EINVAL, "clone3", "", "cannot create a pid, time or user namespace while joining a user namespace");
    }
  }
  settings.cloneFlags &= ~settings.unshareFlags;
}

// ===== The monitor, after clone =====

struct RlimitName {
  const char* name;
  int resource;
};
const RlimitName kRlimits[] = {
    {"RLIMIT_CPU", RLIMIT_CPU},       {"RLIMIT_FSIZE", RLIMIT_FSIZE},   {"RLIMIT_DATA", RLIMIT_DATA},
    {"RLIMIT_STACK", RLIMIT_STACK},   {"RLIMIT_CORE", RLIMIT_CORE},     {"RLIMIT_RSS", RLIMIT_RSS},
    {"RLIMIT_NPROC", RLIMIT_NPROC},   {"RLIMIT_NOFILE", RLIMIT_NOFILE}, {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},
    {"RLIMIT_AS", RLIMIT_AS},         {"RLIMIT_LOCKS", RLIMIT_LOCKS},   {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
    {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", RLIMIT_NICE}, {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},
    {"RLIMIT_RTTIME", RLIMIT_RTTIME},
};

// "-1" or 18446744073709551615 (OCI's uint64 max) mean unlimited.
rlim_t RlimitValue(const std::string& text) {
  if (!text.empty() && text[0] == '-') return SignedNumber(text) < 0 ? RLIM_INFINITY : 0;
  return static_cast<rlim_t>(Number(text));
}

// prlimit from outside: raising a hard limit needs CAP_SYS_RESOURCE in the initial user namespace,
// which the container process no longer has.
void ApplyRlimit(pid_t pid, const Step& step) {
  const std::string& name = step.fields[0];
  for (const RlimitName& limit : kRlimits) {
    if (name != limit.name) continue;
    struct rlimit value = {RlimitValue(step.fields[1]), RlimitValue(step.fields[2])};
    Trace("prlimit(" + std::to_string(pid) + ", " + name + ", {" + step.fields[1] + ", " + step.fields[2] + "})");
    if (prlimit(pid, static_cast<__rlimit_resource>(limit.resource), &value, nullptr) < 0) FailErrno("prlimit", name);
    return;
  }
  Fail(EINVAL, "prlimit", "", "unknown rlimit " + name);
}

// v1 hierarchies: the container process moves itself with `echo 0 > <dir>/tasks`. For a thread
// moving itself the kernel skips cgroup_threadgroup_rwsem, whose write side first waits for an
// RCU grace period (5-20 ms) unless another writer passed just before; a pid written into
// cgroup.procs always takes it. cgroup2 directories have no `tasks` (and move whole processes
// only): those are born there (`cgroup-clone-into`) or joined by the monitor as before.
// Opened before the clone (inherited), or with `cgroup-wait` once our caller has made the
// directories (LetIntoCgroups passes them on).
void OpenSelfJoins(const std::vector<Step>& plan, Settings& settings) {
  for (const Step& step : plan) {
    if (step.op != "cgroup-join") continue;
    PrepareStep(step, [&] {
      const std::string tasks = step.fields[0] + "/tasks";
      int fd = open(tasks.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd >= 0) settings.selfJoins.emplace_back(&step, fd);
      else if (errno != ENOENT) FailErrno("open", tasks);
    });
  }
}

// "0:100000:65536,1:2:3" (a `mount-idmap` field) -> the kernel's map lines "0 100000 65536\n1 2 3\n".
std::string IdMapLines(const std::string& field) {
  std::string lines;
  for (const std::string& range : SplitList(field)) {
    std::vector<std::string> parts = SplitList(range, ':');
    if (parts.size() != 3) Fail(EINVAL, "plan", "", "mount-idmap: bad id range \"" + range + "\" (containerID:hostID:size)");
    lines += std::to_string(Number(parts[0])) + " " + std::to_string(Number(parts[1])) + " " + std::to_string(Number(parts[2])) + "\n";
  }
  if (lines.empty()) Fail(EINVAL, "plan", "", "mount-idmap needs both uid and gid mappings");
  return lines;
}

// `mount-idmap`: before the clone, as host root, for each idmapped mount a user namespace with
// exactly its maps and a detached idmapped copy of its source (the container process, maybe in a
// user namespace of its own, could do neither). The namespace fd is closed at once (the mount keeps
// the namespace); the tree fd (CLOEXEC) is inherited by the container process, which moves it into
// place at its step and closes it. Our copies are closed after the clone.
void OpenIdmappedTrees(const std::vector<Step>& plan, Settings& settings) {
  for (const Step& step : plan) {
    if (step.op != "mount-idmap") continue;
    PrepareStep(step, [&] {
      const std::vector<std::string>& f = step.fields;
      if ((f[2] != "bind" && f[2] != "rbind") || (f[3] != "idmap" && f[3] != "ridmap")) {
        Fail(EINVAL, "plan", "", "mount-idmap: fields 3 and 4 are bind|rbind and idmap|ridmap");
      }
      const std::string uidLines = IdMapLines(f[7]), gidLines = IdMapLines(f[8]);
      const size_t traced = gTraceLines.size();
      int userns = MakeIdmapUserNamespace(uidLines, gidLines);
      int tree = -1;
      try {
        tree = OpenIdmappedTree(f[0], f[2] == "rbind", f[3] == "ridmap", Number(f[4], 16), Number(f[5], 16), userns,
                                "uid " + f[7] + " gid " + f[8]);
      } catch (...) {
        close(userns);
        throw;
      }
      close(userns);
      settings.idmappedTrees.push_back({&step, tree, {gTraceLines.begin() + static_cast<long>(traced), gTraceLines.end()}});
      gTraceLines.resize(traced);
    });
  }
}

// A `cgroup-join` (or a `cgroup-clone-into` the kernel refused) that the monitor writes into
// cgroup.procs: every one the container process does not do itself (OpenSelfJoins).
bool IsMonitorCgroupJoin(const Step& step, const Settings& settings) {
  if (step.op != "cgroup-join" && (step.op != "cgroup-clone-into" || settings.clonedIntoCgroup)) return false;
  for (const auto& join : settings.selfJoins) {
    if (join.first == &step) return false;
  }
  return true;
}

void JoinCgroup(const Step& step, pid_t pid) {
  RunStep(step, [&] { WriteProcFile(step.fields[0] + "/cgroup.procs", std::to_string(pid)); });
}

// The monitor's part between clone and "go": id maps first (the kernel wants setgroups before
// gid_map, and the child cannot do anything as root before its uid is mapped), then cgroups,
// rlimits and the OOM score, in plan order. With `cgroup-wait` in the plan the cgroup.procs writes
// are left for RunLateCgroupJoins, at that step.
void RunAfterCloneOps(const std::vector<Step>& plan, pid_t pid, const Settings& settings) {
  std::string uidLines, gidLines;
  for (const Step& step : plan) {
    std::string line = step.fields.size() >= 3 ? step.fields[0] + " " + step.fields[1] + " " + step.fields[2] + "\n" : "";
    if (step.op == "uid-map") uidLines += line;
    if (step.op == "gid-map") gidLines += line;
  }
  bool uidWritten = false, gidWritten = false;
  for (const char* op : {"setgroups", "uid-map", "gid-map"}) {
    for (const Step& step : plan) {
      if (step.op != op) continue;
      RunStep(step, [&] {
        if (step.op == "setgroups") WriteSetgroups(pid, step.fields[0]);
        // All ranges go in one write: the kernel accepts a single write per map.
        if (step.op == "uid-map" && !uidWritten) WriteIdMap(pid, "uid_map", uidLines), uidWritten = true;
        if (step.op == "gid-map" && !gidWritten) WriteIdMap(pid, "gid_map", gidLines), gidWritten = true;
      });
    }
  }
  for (const Step& step : plan) {
    if (IsMonitorCgroupJoin(step, settings)) {
      if (!settings.cgroupWait) JoinCgroup(step, pid);
    } else if (step.op == "cgroup-clone-into" && settings.clonedIntoCgroup) {
      RunStep(step, [] {});  // clone3 put it there (CLONE_INTO_CGROUP)
    } else if (step.op == "rlimit") {
      RunStep(step, [&] { ApplyRlimit(pid, step); });
    } else if (step.op == "oom-score-adj") {
      RunStep(step, [&] { WriteProcFile("/proc/" + std::to_string(pid) + "/oom_score_adj", step.fields[0]); });
    }
  }
}

// `cgroup-wait`: the container process runs the first part of its mount phase while our caller
// makes its cgroup directories and writes the limits. It stops at `cgroup-wait`; we ask the caller
// with `sync cgroups`, and on its "go" (LetIntoCgroups) write the cgroup.procs left.
void RunLateCgroupJoins(const std::vector<Step>& plan, pid_t pid, const Settings& settings) {
  for (const Step& step : plan) {
    if (IsMonitorCgroupJoin(step, settings)) JoinCgroup(step, pid);
  }
}

// ===== exit.json =====

std::string Rfc3339Now() {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  struct tm utc;
  gmtime_r(&now.tv_sec, &utc);
  char text[64];
  size_t len = strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  snprintf(text + len, sizeof text - len, ".%09ldZ", now.tv_nsec);
  return text;
}

// temp + fsync + rename + fsync(dir): a reader sees the old state or the whole new file.
void WriteExitJson(int dirFd, int exitCode, int signal, bool oomKilled = false) {
  if (dirFd < 0) return;
  std::string json = "{\"exitCode\":" + std::to_string(exitCode) + ",\"signal\":" + std::to_string(signal) +
                     ",\"finishedAt\":\"" + Rfc3339Now() + "\",\"oomKilled\":" + (oomKilled ? "true" : "false") + "}\n";
  int fd = openat(dirFd, "exit.json.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  bool ok = write(fd, json.data(), json.size()) == static_cast<ssize_t>(json.size()) && fsync(fd) == 0;
  close(fd);
  if (ok && renameat(dirFd, "exit.json.tmp", dirFd, "exit.json") == 0) fsync(dirFd);
}

// `exit-command`: what conmon's --exit-command does for podman. Once exit.json is written, run a
// command (hull's `container cleanup`, which removes a `run -d --rm` container) in a child of its
// own session with /dev/null for stdio, and do not wait for it: it outlives us, so the monitor
// stays small and exits as it always does. A failed fork or exec leaves the removal to the lazy
// path (the next hull command that sees the container exited).
void RunExitCommand(const std::vector<std::string>& command) {
  if (command.empty()) return;
  std::vector<char*> argv;
  for (const std::string& arg : command) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  if (fork() != 0) return;
  setsid();
  int devNull = open("/dev/null", O_RDWR | O_CLOEXEC);
  for (int fd = 0; fd <= 2 && devNull >= 0; fd++) dup2(devNull, fd);  // dup2'd copies lose CLOEXEC
  // Our blocked signals and ignored SIGPIPE would survive execve: the command gets a clean slate.
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  signal(SIGPIPE, SIG_DFL);
  execve(argv[0], argv.data(), environ);
  _exit(127);
}

// ===== `attach-socket`: `hull attach` to a detached container =====
//
// In terminal mode the monitor holds the pty master and is its only reader (a second reader
// would steal half of the output from the log). Attached clients connect to a unix socket in the
// container's state directory and get a copy of what the monitor reads, as plain bytes. Without
// a terminal the monitor reads the container's stdout and stderr pipes (`log-file`); clients get
// each chunk in docker's attach stream format: an 8-byte header (stream 1 stdout or 2 stderr,
// three zero bytes, big-endian u32 length) and the bytes. What clients send is framed: a type
// byte, a big-endian u16 length, the payload:
//   'd' <bytes>                 input for the pty, or for the container's stdin pipe (`-i`)
//   'w' <u16 rows> <u16 cols>   window size: TIOCSWINSZ on the master (the kernel sends SIGWINCH)
// A client that takes no output for 2 s is dropped rather than stall the container and its log.
// The stdin pipe (field 2 `1`, no terminal) stays open when a client leaves, as docker's
// `run -d -i` (no StdinOnce); input the pipe cannot take right now (64 KiB unread) is dropped
// rather than stall the monitor.
constexpr size_t kMaxAttachClients = 4;
constexpr size_t kMaxAttachFrame = 3 + 65535;

int ListenAttachSocket(const std::string& path) {
  Trace("socket(AF_UNIX, SOCK_STREAM); bind(" + Quote(path) + "); listen()");
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  int dirFd = open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dirFd < 0) FailErrno("open", dir);
  // sun_path holds 107 bytes and state roots can be longer: bind through the directory's fd.
  const std::string target = FdPath(dirFd) + "/" + name;
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (target.size() >= sizeof addr.sun_path) Fail(ENAMETOOLONG, "bind", path);
  memcpy(addr.sun_path, target.c_str(), target.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) FailErrno("socket", path);
  unlinkat(dirFd, name.c_str(), 0);  // left by an earlier run of the same container
  mode_t old = umask(0077);          // only root (the state directory's owner) may attach
  int rc = bind(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr);
  int err = errno;
  umask(old);
  close(dirFd);
  if (rc < 0) Fail(err, "bind", path);
  if (listen(fd, 4) < 0) FailErrno("listen", path);
  return fd;
}

// ===== The monitor's event loop =====

struct Monitor {
  Settings* settings;
  pid_t container = -1;
  int channel = -1;
  int signals = -1;  // signalfd: SIGCHLD and the signals we forward
  bool ready = false;
  bool awaitingSync = false;
  bool cgroupsPending = false;  // `cgroup-wait`: the caller's "go" first lets the container into its cgroups
  const std::vector<Step>* plan = nullptr;
  bool errorReported = false;
  long long oomKillsAtStart = -1;  // `oom-check`: the cgroup's oom_kill count before the container ran
  std::vector<std::string> exitCommand;  // `exit-command`: argv run after exit.json is written
  const Step* seccompListener = nullptr;  // `seccomp-listener`: where the container's notify fd goes
  // `attach-socket`: the listening socket and the attached clients (fd, input not yet a whole frame)
  int attachListener = -1;
  struct AttachClient {
    int fd;
    std::string input;
  };
  std::vector<AttachClient> attached;
  bool attachStdin = false;  // no terminal: the container's stdin is a pipe we keep the write end of
  int stdinWrite = -1;
  // terminal mode: the pty master, relayed to and from our stdio
  int master = -1;
  bool stdinOpen = true;
  bool inputEndedLine = true;  // the last byte relayed to the pty was "\n" (or none yet)
  bool restoreTerminal = false;
  struct termios savedTerminal;
};

// Copy what is available from one fd to another; false at EOF or error (EIO: the slave closed).
// `seen` also gets the bytes (terminal output for the log, input for the end-of-file rule).
bool Relay(int from, int to, const std::function<void(const char*, size_t)>& seen = nullptr) {
  char buffer[8192];
  ssize_t n = read(from, buffer, sizeof buffer);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
  if (n <= 0) return false;
  if (seen) seen(buffer, static_cast<size_t>(n));
  for (ssize_t done = 0; done < n;) {
    ssize_t w = write(to, buffer + done, static_cast<size_t>(n - done));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return true;  // the reader went away: drop output, keep running
    done += w;
  }
  return true;
}

void DropAttached(Monitor& m, size_t i) {
  close(m.attached[i].fd);
  m.attached.erase(m.attached.begin() + static_cast<long>(i));
}

// False: the client is gone, or took nothing for 2 s (SO_SNDTIMEO).
bool SendAll(int fd, const char* data, size_t length) {
  for (size_t done = 0; done < length;) {
    ssize_t n = send(fd, data + done, length - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// What the pty shows: the container's output, for the log (`log-file`) and attached clients.
std::function<void(const char*, size_t)> TerminalOutputLogger(Monitor& m) {
  if (!m.settings->log.enabled() && m.attached.empty()) return nullptr;
  return [&m](const char* data, size_t length) {
    if (m.settings->log.enabled()) m.settings->log.AddTerminalOutput(data, length);
    for (size_t i = m.attached.size(); i-- > 0;) {
      if (!SendAll(m.attached[i].fd, data, length)) DropAttached(m, i);
    }
  };
}

// No terminal: a chunk of the container's stdout (s 0) or stderr (s 1), framed for attached clients.
ContainerLog::OutputSeen PipeOutputRelay(Monitor& m) {
  if (m.attached.empty()) return nullptr;
  return [&m](int s, const char* data, size_t length) {
    const unsigned char header[8] = {static_cast<unsigned char>(s + 1), 0, 0, 0, static_cast<unsigned char>(length >> 24),
                                     static_cast<unsigned char>(length >> 16), static_cast<unsigned char>(length >> 8),
                                     static_cast<unsigned char>(length)};
    for (size_t i = m.attached.size(); i-- > 0;) {
      if (!SendAll(m.attached[i].fd, reinterpret_cast<const char*>(header), sizeof header) ||
          !SendAll(m.attached[i].fd, data, length)) {
        DropAttached(m, i);
      }
    }
  };
}

void AcceptAttached(Monitor& m) {
  int fd = accept4(m.attachListener, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) return;
  if (m.attached.size() >= kMaxAttachClients) {
    close(fd);
    return;
  }
  struct timeval timeout = {2, 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  m.attached.push_back({fd, std::string()});
}

// Input from an attached client: whole frames go to the pty. False: the client is gone.
bool ReadAttached(Monitor& m, Monitor::AttachClient& client) {
  char buffer[8192];
  ssize_t n = read(client.fd, buffer, sizeof buffer);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
  if (n <= 0) return false;
  client.input.append(buffer, static_cast<size_t>(n));
  while (client.input.size() >= 3) {
    const unsigned char* frame = reinterpret_cast<const unsigned char*>(client.input.data());
    const size_t length = (static_cast<size_t>(frame[1]) << 8) | frame[2];
    if (client.input.size() < 3 + length) break;
    const int input = m.master >= 0 ? m.master : m.stdinWrite;  // stdinWrite: non-blocking
    if (frame[0] == 'd' && input >= 0) {
      for (size_t done = 0; done < length;) {
        ssize_t w = write(input, frame + 3 + done, length - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        done += static_cast<size_t>(w);
      }
    } else if (frame[0] == 'w' && length == 4 && m.master >= 0) {
      struct winsize size = {};
      size.ws_row = static_cast<unsigned short>((frame[3] << 8) | frame[4]);
      size.ws_col = static_cast<unsigned short>((frame[5] << 8) | frame[6]);
      ioctl(m.master, TIOCSWINSZ, &size);
    } else if (frame[0] != 'd' && frame[0] != 'w') {
      return false;  // not our protocol
    }
    client.input.erase(0, 3 + length);
  }
  return client.input.size() < kMaxAttachFrame;
}

void CloseTerminal(Monitor& m) {
  if (m.master >= 0) {
    // What the container wrote just before exiting is still in the pty: flush it out.
    fcntl(m.master, F_SETFL, fcntl(m.master, F_GETFL) | O_NONBLOCK);
    struct pollfd p = {m.master, POLLIN, 0};
    while (poll(&p, 1, 0) > 0 && (p.revents & POLLIN) && Relay(m.master, 1, TerminalOutputLogger(m))) {
    }
    close(m.master);
    m.master = -1;
  }
  if (m.restoreTerminal) tcsetattr(0, TCSANOW, &m.savedTerminal);
  m.restoreTerminal = false;
}

[[noreturn]] void KillAndExit(Monitor& m, int code) {
  CloseTerminal(m);
  if (m.container > 0) {
    kill(m.container, SIGKILL);
    while (waitpid(m.container, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  _exit(code);
}

// The container process exited (or died during setup).
[[noreturn]] void ContainerEnded(Monitor& m, int status) {
  // Messages sent right before exiting are still queued: relay them first.
  std::vector<std::string> fields;
  while (m.channel >= 0 && !m.errorReported) {
    struct pollfd p = {m.channel, POLLIN, 0};
    if (poll(&p, 1, 0) <= 0 || !ReceivePacket(m.channel, fields)) break;
    if (fields[0] == "seccomp-listener") continue;  // its fd was closed: the container is gone anyway
    SendControl(fields);
    if (fields[0] == "error") m.errorReported = true;
    if (fields[0] == "ready") m.ready = true;
  }
  int signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  int code = WIFSIGNALED(status) ? 128 + signal : WEXITSTATUS(status);
  CloseTerminal(m);
  // Everything the container wrote is in the pipes by now: into the log before exit.json says
  // it is over, so a `logs` after `wait` is complete.
  m.settings->log.Drain(PipeOutputRelay(m));
  if (m.errorReported) _exit(125);
  if (!m.ready) {
    SendControl({"error", "-1", "", "EIO", "", "",
                 "container process died during setup (" + (signal ? "signal " + std::to_string(signal) : "exit " + std::to_string(code)) + ")"});
    _exit(125);
  }
  const long long oomKills = ReadOomKillCount(m.settings->oomCheckPath);
  const bool oomKilled = m.oomKillsAtStart >= 0 && oomKills > m.oomKillsAtStart;
  WriteExitJson(m.settings->stateDirFd, code, signal, oomKilled);
  RunExitCommand(m.exitCommand);
  SendControl({"exit", std::to_string(code), std::to_string(signal)});
  _exit(code);
}

// `seccomp-listener`: the container process loaded a filter with notify rules and passed us its
// notify fd. One connection to the listener path, one message: the container process state as
// JSON (runtime-spec config-linux.md "The Container Process State") with the fd as SCM_RIGHTS,
// then the connection and our copy of the fd are closed and the container process continues.
// Any failure fails the container's creation.
void DeliverSeccompListener(Monitor& m, int notifyFd) {
  try {
    if (!m.seccompListener) {
      const Step unexpected{0, "seccomp-listener", {}};
      RunStep(unexpected, [] { Fail(EINVAL, "plan", "", "a seccomp notify fd, but no seccomp-listener step"); });
    }
    const Step& step = *m.seccompListener;
    RunStep(step, [&] {
      if (notifyFd < 0) Fail(EPROTO, "recvmsg", "", "seccomp-listener: the container process sent no fd");
      const std::string& path = step.fields[0];
      const std::string pid = std::to_string(m.container);
      // The state as TypeScript wrote it, plus the pid: the container process' (exec mode: the
      // state already names the container's init, and `pid` below is the exec'd process).
      std::string state = step.fields[3];
      const size_t brace = state.find('{');
      if (m.settings->mode != "exec" && brace != std::string::npos) {
        const size_t next = state.find_first_not_of(" \t\r\n", brace + 1);
        state.insert(brace + 1, "\"pid\":" + pid + (next != std::string::npos && state[next] == '}' ? "" : ","));
      }
      const std::string json = "{\"ociVersion\":" + JsonString(step.fields[1]) + ",\"fds\":[\"seccompFd\"],\"pid\":" + pid +
                               (step.fields[2].empty() ? "" : ",\"metadata\":" + JsonString(step.fields[2])) +
                               ",\"state\":" + state + "}";
      int connection = ConnectConsoleSocket(path);  // a plain unix stream connect (long paths too)
      Trace("sendmsg(" + Quote(path) + ", container process state, SCM_RIGHTS [seccompFd]); close()");
      ssize_t sent = SendWithFd(connection, json, notifyFd);
      // A stream may take the message in parts; the runtime-spec lets the rest follow without fds.
      for (size_t done = sent < 0 ? 0 : static_cast<size_t>(sent); sent >= 0 && done < json.size();) {
        sent = send(connection, json.data() + done, json.size() - done, MSG_NOSIGNAL);
        if (sent > 0) done += static_cast<size_t>(sent);
        else if (sent < 0 && errno == EINTR) sent = 0;
        else if (sent == 0) sent = -1, errno = EPIPE;
      }
      int err = errno;
      close(connection);
      if (sent < 0) Fail(err, "sendmsg", path);
    });
  } catch (const StepAborted&) {
    if (notifyFd >= 0) close(notifyFd);
    m.errorReported = true;
    KillAndExit(m, 125);
  }
  close(notifyFd);
  send(m.channel, "go\n", 3, MSG_NOSIGNAL);
}

void OnChannelMessage(Monitor& m, const std::vector<std::string>& fields, int passedFd) {
  const std::string& kind = fields[0];
  if (kind == "seccomp-listener") return DeliverSeccompListener(m, passedFd);
  if (passedFd >= 0) close(passedFd);
  SendControl(fields);
  if (kind == "sync") {
    m.awaitingSync = true;
  } else if (kind == "ready") {
    m.ready = true;
    if (!m.settings->monitor) {
      // Under containerd-shim or conmon the container must become *their* child (they are
      // subreapers and wait for it themselves, as with runc): we step out of the way.
      _exit(0);
    }
    if (m.settings->detach) {
      // From now on we outlive our caller: own session, and do not hold its stdio open.
      setsid();
      int devNull = open("/dev/null", O_RDWR | O_CLOEXEC);
      for (int fd = 0; fd <= 2 && devNull >= 0; fd++) dup2(devNull, fd);
      if (devNull > 2) close(devNull);
      m.stdinOpen = false;  // nothing to relay any more, and no end-of-file to pass on
    }
  } else if (kind == "error") {
    m.errorReported = true;
    // After `ready` (execve failed after `start`) nobody may be listening on fd 3 any more: record
    // the failure in exit.json with the shell's codes, 127 "not found" and 126 "cannot execute".
    if (m.ready) {
      const std::string code = fields.size() > 3 ? fields[3] : "";
      WriteExitJson(m.settings->stateDirFd, code == "ENOENT" ? 127 : code == "EACCES" || code == "EPERM" ? 126 : 125, 0);
      RunExitCommand(m.exitCommand);
    }
    KillAndExit(m, 125);
  }
}

// `cgroup-wait`, on our caller's "go" for `sync cgroups` (it has made the cgroup directories and
// written every limit): each v1 `tasks` file goes to the container process in a `join` packet
// (SCM_RIGHTS), the joins it cannot do itself we write into cgroup.procs, then "go <n>": n joins
// sent, which the container process checks (a lost packet must not leave it outside a cgroup).
void LetIntoCgroups(Monitor& m) {
  Settings& settings = *m.settings;
  try {
    OpenSelfJoins(*m.plan, settings);
    RunLateCgroupJoins(*m.plan, m.container, settings);
    for (const auto& [step, fd] : settings.selfJoins) {
      ssize_t sent = SendWithFd(m.channel, FormatLine({"join", std::to_string(step->index)}), fd);
      int err = errno;
      close(fd);
      if (sent < 0) PrepareStep(*step, [&] { Fail(err, "sendmsg", step->fields[0] + "/tasks"); });
    }
  } catch (const StepAborted&) {
    m.errorReported = true;
    KillAndExit(m, 125);
  }
  m.oomKillsAtStart = ReadOomKillCount(settings.oomCheckPath);
  const std::string go = FormatLine({"go", std::to_string(settings.selfJoins.size())});
  settings.selfJoins.clear();
  send(m.channel, go.data(), go.size(), MSG_NOSIGNAL);
}

void OnControlLine(Monitor& m, const std::string& line) {
  if (!m.awaitingSync) return;
  if (line == "go") {
    m.awaitingSync = false;
    if (m.cgroupsPending) {
      m.cgroupsPending = false;
      LetIntoCgroups(m);  // sends the container process its "go"
      return;
    }
    send(m.channel, "go\n", 3, MSG_NOSIGNAL);
  } else if (line == "abort") {
    KillAndExit(m, 125);
  }
}

// A detached monitor spends its life in poll(); what is resident of the helper's text and rodata
// is mostly what setup touched (and the kernel's fault-around mapped next to it: ~930 kB of the
// 1 MB binary). Once the container runs and our caller is gone, unmap those pages so only what
// the loop touches comes back. Honest only because they are clean pages of a shared file (the
// page cache of the read-only bind, native/spawn.cc): MADV_DONTNEED frees no memory, it stops
// counting pages we no longer use in our RSS. Read-only PT_LOADs only: a written private page
// (relocations, .data) would be thrown away. Whole pages inside each segment only. Not from a
// memfd copy: its ~1 MB of shmem is this monitor's alone and stays allocated while we run from it,
// so unmapping would only hide that cost from VmRSS.
bool gExeIsSharedFile = false;  // set by AlreadyProtected: we run from the read-only mount case
void DropSetupTextPages() {
  const auto* phdr = reinterpret_cast<const ElfW(Phdr)*>(getauxval(AT_PHDR));
  const size_t count = getauxval(AT_PHNUM);
  if (!phdr) return;
  uintptr_t bias = 0;
  bool located = false;  // no PT_PHDR (our static non-PIE link): the headers must lie where linked
  for (size_t i = 0; i < count; i++) {
    if (phdr[i].p_type == PT_PHDR) bias = reinterpret_cast<uintptr_t>(phdr) - phdr[i].p_vaddr, located = true;
  }
  for (size_t i = 0; i < count && !located; i++) {
    const uintptr_t at = reinterpret_cast<uintptr_t>(phdr);
    located = phdr[i].p_type == PT_LOAD && at >= phdr[i].p_vaddr && at < phdr[i].p_vaddr + phdr[i].p_filesz;
  }
  if (!located) return;
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  for (size_t i = 0; i < count; i++) {
    if (phdr[i].p_type != PT_LOAD || (phdr[i].p_flags & PF_W)) continue;
    uintptr_t start = (bias + phdr[i].p_vaddr + page - 1) & ~(page - 1);
    uintptr_t end = (bias + phdr[i].p_vaddr + phdr[i].p_memsz) & ~(page - 1);
    if (end > start) madvise(reinterpret_cast<void*>(start), end - start, MADV_DONTNEED);
  }
}

[[noreturn]] void MonitorLoop(Monitor& m, LineReader& control) {
  std::string line;
  while (control.NextLine(line)) OnControlLine(m, line);  // sent together with the plan
  bool setupTextDropped = false;
  for (;;) {
    if (!setupTextDropped && gExeIsSharedFile && m.ready && m.settings->detach && !gControlOpen) {
      DropSetupTextPages();  // steady state: the container runs, our caller is gone
      setupTextDropped = true;
    }
    struct pollfd fds[9 + kMaxAttachClients] = {
        {m.channel, POLLIN, 0},
        {gControlOpen ? kControlFd : -1, POLLIN, 0},
        {m.signals, POLLIN, 0},
        {m.settings->terminalReceiver, POLLIN, 0},
        {m.master, POLLIN, 0},
        {m.master >= 0 && m.stdinOpen ? 0 : -1, POLLIN, 0},
        {m.settings->log.streams[0].readFd, POLLIN, 0},
        {m.settings->log.streams[1].readFd, POLLIN, 0},
        {m.attachListener, POLLIN, 0},
    };
    const size_t attachedPolled = m.attached.size();
    for (size_t i = 0; i < kMaxAttachClients; i++) fds[9 + i] = {i < attachedPolled ? m.attached[i].fd : -1, POLLIN, 0};
    if (poll(fds, 9 + kMaxAttachClients, -1) < 0) {
      if (errno == EINTR) continue;
      KillAndExit(m, 125);
    }
    if (fds[0].revents) {
      std::vector<std::string> fields;
      int passedFd = -1;
      if (ReceivePacket(m.channel, fields, &passedFd)) {
        OnChannelMessage(m, fields, passedFd);
      } else {
        close(m.channel);  // EOF: execve happened (CLOEXEC) or the process died; SIGCHLD tells which
        m.channel = -1;
      }
    }
    if (fds[1].revents) {
      int got = control.Fill();
      while (control.NextLine(line)) OnControlLine(m, line);
      if (got <= 0) {
        gControlOpen = false;
        // Foreground: our caller died, so does the container. Detached: only after `ready`.
        if (!m.settings->detach || !m.ready) kill(m.container, SIGKILL);
      }
    }
    if (fds[3].revents) {
      // terminal mode: the container process sent us its pty master.
      m.master = ReceivePtyMaster(m.settings->terminalReceiver);
      close(m.settings->terminalReceiver);
      m.settings->terminalReceiver = -1;
      if (m.master >= 0) {
        CopyWindowSize(0, m.master);
        m.restoreTerminal = MakeRaw(0, &m.savedTerminal);
      }
    }
    if (fds[4].revents && !Relay(m.master, 1, TerminalOutputLogger(m))) {
      close(m.master);  // EIO: every slave fd is closed
      m.master = -1;
    }
    if (fds[5].revents && !Relay(0, m.master, [&m](const char* data, size_t length) {
          m.inputEndedLine = data[length - 1] == '\n';
        })) {
      m.stdinOpen = false;
      // Our input ended (a pipe closed, `echo x | hull run -it`): type ^D for the container so
      // `cat` or a shell reading the pty sees its end too. Detached, stdin is not the user's.
      if (!m.settings->detach && m.master >= 0) SendEndOfFile(m.master, m.inputEndedLine);
    }
    for (int s = 0; s < 2; s++) {
      if (fds[6 + s].revents) m.settings->log.ReadStream(s, PipeOutputRelay(m));
    }
    // Attached clients (output above may have dropped some: match by fd, newest first).
    for (size_t i = attachedPolled; i-- > 0;) {
      if (!fds[9 + i].revents) continue;
      for (size_t k = 0; k < m.attached.size(); k++) {
        if (m.attached[k].fd != fds[9 + i].fd) continue;
        if (!ReadAttached(m, m.attached[k])) DropAttached(m, k);
        break;
      }
    }
    if (fds[8].revents) AcceptAttached(m);
    if (fds[2].revents) {
      struct signalfd_siginfo info;
      if (read(m.signals, &info, sizeof info) != sizeof info) continue;
      if (info.ssi_signo == SIGWINCH && m.master >= 0) {
        CopyWindowSize(0, m.master);  // the kernel signals the container's foreground group
        continue;
      }
      if (info.ssi_signo != SIGCHLD) {
        kill(m.container, static_cast<int>(info.ssi_signo));  // forward (hull run: Ctrl-C, docker stop)
        continue;
      }
      // We are a subreaper: reap everything, including re-parented grandchildren.
      int status;
      pid_t pid;
      while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid == m.container) ContainerEnded(m, status);
      }
    }
  }
}

}  // namespace

// ===== main: the monitor =====

// CVE-2019-5736: a container whose entrypoint is "#!/proc/self/exe" re-executes *this* binary
// inside the container, where a container process could then open it for writing through
// /proc/<pid>/exe. So the helper only runs from a binary nobody in a container can write: returns
// at once if /proc/self/exe already is one, else re-executes from a sealed in-memory copy of itself
// (and returns if the kernel cannot give us one, e.g. vm.memfd_noexec=2: then we run as we are).
//
// Already protected (the addon starts helpers this way, native/spawn.cc sealedHelper):
// * a memfd sealed at least WRITE|SHRINK|GROW. The seals are checked, not trusted: write alone is
//   not enough, a copy that may still shrink and grow can be truncated and refilled with zeros.
// * a file on a read-only mount (ST_RDONLY) that is not itself the root of a mount. Who could make
//   that mount writable again? mount_setattr, MS_REMOUNT|MS_BIND and open_tree clones act on a
//   mount root only, and on an attached mount only from its own mount namespace; the one path a
//   container has is /proc/self/exe, which is neither. So only host root (CAP_SYS_ADMIN in the
//   host's namespaces, who may write the file on disk anyway) can. A file bind-mounted on its own
//   *is* a mount root, and a detached one is open to mount_setattr from the root of any user
//   namespace: that is copied. STATX_ATTR_MOUNT_ROOT unknown to the kernel (< 5.8): copied too.
constexpr int kImmutableSeals = F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW;
bool AlreadyProtected(int self) {
  int seals = fcntl(self, F_GET_SEALS);
  if (seals >= 0) return (seals & kImmutableSeals) == kImmutableSeals;
  struct statvfs vfs;
  if (fstatvfs(self, &vfs) < 0 || !(vfs.f_flag & ST_RDONLY)) return false;
  struct statx stx;
  if (statx(self, "", AT_EMPTY_PATH, 0, &stx) < 0) return false;
  gExeIsSharedFile = (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) && !(stx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
  return gExeIsSharedFile;
}

void ReexecFromSealedCopy(char** argv, char** envp) {
  int self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (self < 0) return;
  if (AlreadyProtected(self)) {
    close(self);
    return;
  }
  int copy = memfd_create("hull-helper", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
  if (copy < 0) copy = memfd_create("hull-helper", MFD_CLOEXEC | MFD_ALLOW_SEALING);  // kernels before 6.3
  struct stat st;
  if (copy < 0 || fstat(self, &st) < 0) return;
  for (off_t done = 0; done < st.st_size;) {
    ssize_t n = sendfile(copy, self, nullptr, static_cast<size_t>(st.st_size - done));
    if (n <= 0) return;
    done += n;
  }
  close(self);
  if (fcntl(copy, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0) return;
  fexecve(copy, argv, envp);
  close(copy);  // exec failed: carry on unsealed
}

namespace {

// `cgroup-self <dir>...` before the plan: a warm sandbox helper moves itself into its pool slot's
// groups (src/sandbox/pool.ts), so Node makes no cgroup.procs writes of its own. The v1 move may
// wait for an RCU grace period (5-20 ms): the helper is idle then, Node is not blocked. Answers
// `attached`, or `error` with the failed write (the helper then exits).
bool JoinCgroupsSelf(const std::vector<std::string>& fields, std::string& error) {
  const std::string pid = std::to_string(getpid());
  for (size_t i = 1; i < fields.size(); i++) {
    // v1: `echo 0 > tasks` moves this (single) thread without the attach lock's grace period
    // (see OpenSelfJoins); cgroup2 has no `tasks`: our pid into cgroup.procs.
    std::string file = fields[i] + "/tasks";
    int fd = open(file.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
      if (write(fd, "0", 1) == 1) {
        close(fd);
        continue;
      }
      close(fd);
    }
    file = fields[i] + "/cgroup.procs";
    fd = open(file.c_str(), O_WRONLY | O_CLOEXEC);
    int err = fd < 0 ? errno : 0;
    if (fd >= 0 && write(fd, pid.data(), pid.size()) < 0) err = errno;
    if (fd >= 0) close(fd);
    if (err) {
      SendControl({"error", "0", "cgroup-self", ErrnoName(err), fd < 0 ? "open" : "write", file,
                   "cgroup-self: " + file + ": " + strerror(err)});
      error.clear();
      return false;
    }
  }
  SendControl({"attached"});
  return true;
}

}  // namespace

int HelperMain(char** argv, char** envp) {
  if (fcntl(kControlFd, F_GETFD) < 0) {
    fprintf(stderr, "hull-helper: expects a plan on fd 3 (docs/internals/plan.md); it is started by hull, not by hand\n");
    return 125;
  }
  ReexecFromSealedCopy(argv, envp);
  // Nothing of ours may leak into the container (CVE-2024-21626). fd 3 stays usable here.
  close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
  // Orphans inside the container re-parent to us, not to the host's init: we reap them.
  prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

  sigset_t handled;
  sigemptyset(&handled);
  for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH}) sigaddset(&handled, sig);
  sigprocmask(SIG_BLOCK, &handled, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a closed stdout or fd 3 is an error code for us, not death

  LineReader control(kControlFd);
  std::vector<Step> plan;
  std::string error;
  if (!ReadPlan(control, plan, error, "cgroup-self", JoinCgroupsSelf)) {
    // cgroup-self failures have reported themselves (error is empty then).
    if (!error.empty()) SendControl({"error", std::to_string(plan.size()), "plan", "EINVAL", "", "", error});
    return 125;
  }

  Settings settings;
  Monitor m;
  m.settings = &settings;
  m.plan = &plan;
  // Terminal mode relays our stdin to the pty. /dev/null means "not attached" (`-t` without
  // `-i`): no input and no end-of-file for the container, as docker.
  struct stat input;
  if (fstat(0, &input) < 0 || (S_ISCHR(input.st_mode) && input.st_rdev == makedev(1, 3))) m.stdinOpen = false;
  const Step* cloneStep = nullptr;
  try {
    // Before the container process exists: settings, console socket, pid/time namespaces to join.
    for (const Step& step : plan) {
      // `id` is traced by the container process, which joins the session keyring named after it.
      if (step.op == "id") settings.id = step.fields[0];
      else if (step.op == "cgroup-wait") settings.cgroupWait = true;
      else if (step.op == "exit-command") RunStep(step, [&] { m.exitCommand = step.fields; });
      else if (step.op == "attach-socket") RunStep(step, [&] {
        m.attachListener = ListenAttachSocket(step.fields[0]);
        m.attachStdin = step.fields[1] == "1";
      });
      else if (step.op == "seccomp-listener") RunStep(step, [&] {
        if (step.fields[0].empty() || step.fields[0][0] != '/') Fail(EINVAL, "plan", "", "seccomp-listener needs an absolute path");
        m.seccompListener = &step;  // used when the container process sends its notify fd
      });
      else if (IsSetting(step.op) && step.op != "log-file") RunStep(step, [&] { ApplySetting(step, settings); });
    }
    for (const Step& step : plan) {
      if (step.op == "log-file") RunStep(step, [&] { OpenLog(step, settings); });
    }
    for (const Step& step : plan) {
      if (IsMonitorSetns(step)) {
        RunStep(step, [&] {
          int fd = OpenNamespace(step.fields[1]);
          JoinNamespace(step.fields[0], fd, step.fields[1]);
          close(fd);
        });
      }
      if (step.op == "clone") cloneStep = &step;
    }
    if (settings.terminal && settings.consoleSocketFd < 0) {
      int pty[2];
      if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pty) < 0) FailErrno("socketpair");
      settings.terminalReceiver = pty[0];
      settings.consoleSocketFd = pty[1];
    }
    // `attach-socket PATH 1` without a terminal: the container reads a pipe only we write to.
    int stdinPipe[2] = {-1, -1};
    if (m.attachStdin && !settings.terminal && pipe2(stdinPipe, O_CLOEXEC) < 0) FailErrno("pipe2", "attach-socket stdin");
    if (settings.mode == "create" && settings.execFifo.empty()) {
      Fail(EINVAL, "plan", "", "create mode needs an exec-fifo step");
    }

    int pair[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) FailErrno("socketpair");
    m.signals = signalfd(-1, &handled, SFD_CLOEXEC);
    if (m.signals < 0) FailErrno("signalfd");

    // The clone itself is not a RunStep: both processes return from it, and only the monitor
    // may report the step.
    const Step cloneFallback{0, "clone", {""}};
    const Step& clone = cloneStep ? *cloneStep : cloneFallback;
    pid_t pid = 0;
    for (const Step& step : plan) {
      if (step.op == "cgroup-clone-into") PrepareStep(step, [&] { settings.cloneCgroupFd = OpenCloneCgroup(step.fields[0]); });
    }
    if (!settings.cgroupWait) OpenSelfJoins(plan, settings);  // else at `cgroup-wait` (LetIntoCgroups)
    OpenIdmappedTrees(plan, settings);
    gTraceLines.clear();
    try {
      DecideNamespaces(plan, clone, settings);
      pid = CloneContainerProcess(settings.cloneFlags, settings.cloneCgroupFd, &settings.clonedIntoCgroup);
    } catch (const StepFailure& failure) {
      FlushTrace(clone);
      SendControl(ErrorMessage(clone, failure));
      throw StepAborted();
    }
    if (pid == 0) {
      gTraceLines.clear();
      close(pair[0]);
      if (settings.terminalReceiver >= 0) close(settings.terminalReceiver);
      gChannel = pair[1];
      settings.log.AttachToContainerProcess();
      if (stdinPipe[0] >= 0) dup2(stdinPipe[0], 0);  // the copy lacks CLOEXEC: execve keeps it
      ContainerProcess(plan, settings, cloneStep);
    }
    if (cloneStep) FlushTrace(clone);
    close(pair[1]);
    if (settings.cloneCgroupFd >= 0) close(settings.cloneCgroupFd);
    for (const auto& join : settings.selfJoins) close(join.second);  // the container process's now
    for (const auto& tree : settings.idmappedTrees) close(tree.fd);  // moved into place by the container process
    settings.log.CloseWriteEnds();
    if (stdinPipe[0] >= 0) {
      close(stdinPipe[0]);  // only the container reads: when it is gone, writes fail (EPIPE)
      m.stdinWrite = stdinPipe[1];
      fcntl(m.stdinWrite, F_SETFL, O_NONBLOCK);
    }
    if (settings.terminalReceiver >= 0) close(settings.consoleSocketFd);  // the child's end
    m.container = pid;
    m.channel = pair[0];
    SendControl({"pid", std::to_string(pid)});

    RunAfterCloneOps(plan, pid, settings);
    if (settings.cgroupWait) {
      // The container process sets up its first mounts now, outside its v1 cgroups, while our
      // caller makes them and writes the limits. It waits at `cgroup-wait` until LetIntoCgroups.
      send(m.channel, "go\n", 3, MSG_NOSIGNAL);
      SendControl({"sync", "cgroups"});
      m.awaitingSync = m.cgroupsPending = true;
    } else {
      // The container sits in its cgroup now and has not run a single instruction of its own.
      m.oomKillsAtStart = ReadOomKillCount(settings.oomCheckPath);
      send(m.channel, "go\n", 3, MSG_NOSIGNAL);
    }
  } catch (const StepAborted&) {
    KillAndExit(m, 125);
  } catch (const StepFailure& failure) {
    SendControl(ErrorMessage({0, "", {}}, failure));
    KillAndExit(m, 125);
  }
  MonitorLoop(m, control);
}

}  // namespace hull

// libstdc++'s default terminate handler demangles the exception's type name: ~50 KB of demangler
// in every monitor's resident copy. A failure the helper did not catch is a bug; abort is enough.
namespace __gnu_cxx {
void __verbose_terminate_handler() { abort(); }
}  // namespace __gnu_cxx

int main(int, char** argv, char** envp) { return hull::HelperMain(argv, envp); }
