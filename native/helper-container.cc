// The container process: the clone3 child. Born in the new namespaces, it waits for the
// monitor's "go", enters the namespaces it still has to, runs the mount phase and the process
// attributes step by step, and finally execve()s the container's program (docs/internals/helper.md).
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "kernel.h"
#include "plan.h"
#include "seccomp.h"

namespace hull {

namespace {

// A startContainer hook (`start-hook`, `start-hook-arg`, `start-hook-env`).
struct StartHook {
  std::string path;
  uint64_t timeoutSeconds = 0;  // 0: none
  std::string state;            // the OCI state as a JSON object, without "pid"
  std::vector<std::string> args, env;
};

// What the container process accumulates while it runs the steps.
struct Container {
  const Settings* settings;
  int rootFd = -1;
  int execFifoFd = -1;
  bool consolePending = false;
  std::vector<std::string> env, argv;
  int preserveFds = 0;
  SeccompFilter seccomp;
  CapSets caps;
  bool haveCaps = false, boundingDropped = false, capsDeferred = false, userDone = false;
  bool fdsPrepared = false;  // preserved fds moved into place, the rest marked close-on-exec
  bool haveUserOp = false;
  bool haveSysctl = false;
  bool haveSeccompListener = false;  // a `seccomp-listener` step: the monitor delivers a notify fd
  NodeDir nodeDir;  // the directory of the last mkdev/symlink step, while they follow each other
  int procFd = -1;  // our own procfs instance for sysctls
  int timeOffsetsFd = -1, timeOffsetsErrno = 0;  // /proc/self/timens_offsets, opened while dumpable
  int failureExitCode = 125;
  std::vector<StartHook> startHooks;
};

// Wait for the monitor's "go" (after maps/cgroups, or after a sync hook). Anything else: stop.
void WaitForGo() {
  std::vector<std::string> fields;
  if (!ReceivePacket(gChannel, fields) || fields[0] != "go") _exit(125);
}

// Our v1 cgroups, moving ourselves in: `echo 0 > <dir>/tasks`, its own step (see OpenSelfJoins).
void WriteSelfJoin(const Step& join, int fd) {
  RunStep(join, [&] {
    const std::string tasks = join.fields[0] + "/tasks";
    Trace("write(" + Quote(tasks) + ", \"0\")");  // shown like every other file write
    if (write(fd, "0", 1) < 0) FailErrno("write", tasks);
  });
  close(fd);
}

// Before `cgroup-wait`: the monitor sends a `join` packet with the `tasks` file of each v1 cgroup
// (once our caller has made them and written the limits), then "go <how many it sent>".
void MoveIntoCgroups(const std::vector<Step>& plan, const Step& wait) {
  size_t joined = 0;
  for (;;) {
    std::vector<std::string> fields;
    int fd = -1;
    if (!ReceivePacket(gChannel, fields, &fd)) _exit(125);  // the monitor is gone: nobody to tell
    if (fields[0] == "go") {
      const size_t sent = fields.size() > 1 ? Number(fields[1]) : joined;
      if (sent != joined) {
        RunStep(wait, [&] { Fail(EPROTO, "recvmsg", "", "got " + std::to_string(joined) + " of " + fields[1] + " cgroup tasks files"); });
      }
      return;
    }
    const size_t index = fields[0] == "join" && fields.size() == 2 ? Number(fields[1]) : plan.size();
    if (index >= plan.size() || plan[index].op != "cgroup-join") {
      if (fd >= 0) close(fd);
      RunStep(wait, [&] { Fail(EPROTO, "recvmsg", "", "unexpected \"" + fields[0] + "\" before cgroup-wait"); });
    }
    if (fd < 0) {
      // The kernel drops a passed fd it cannot place (MSG_CTRUNC): RLIMIT_NOFILE, already ours.
      RunStep(plan[index], [&] { Fail(EMFILE, "recvmsg", plan[index].fields[0] + "/tasks", "its tasks file did not arrive (no fd free below RLIMIT_NOFILE)"); });
    }
    WriteSelfJoin(plan[index], fd);
    joined++;
  }
}

int RootFd(const Container& c, const std::string& op) {
  if (c.rootFd < 0) Fail(EINVAL, op, "", op + " needs a rootfs step before it");
  return c.rootFd;
}

std::string FindExecutable(const Container& c) {
  const std::string& name = c.argv[0];
  if (name.find('/') != std::string::npos) return name;
  std::string path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (const std::string& var : c.env) {
    if (var.compare(0, 5, "PATH=") == 0) path = var.substr(5);
  }
  for (const std::string& dir : SplitList(path, ':')) {
    std::string candidate = dir + "/" + name;
    struct stat st;
    if (stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  Fail(ENOENT, "execve", name, "exec: \"" + name + "\": executable file not found in $PATH");
}

// As runc: without HOME in the environment, use the user's home from the container's own
// /etc/passwd (as mounted now, volumes included), or "/".
void AddHomeIfMissing(Container& c) {
  for (const std::string& var : c.env) {
    if (var.compare(0, 5, "HOME=") == 0) return;
  }
  std::string home = "/";
  int root = c.rootFd >= 0 ? c.rootFd : open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  int fd = OpenInRoot(root, "/etc/passwd", O_RDONLY);
  if (fd >= 0) {
    std::string passwd;
    char chunk[4096];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof chunk)) > 0 && passwd.size() < (1 << 20)) passwd.append(chunk, static_cast<size_t>(n));
    close(fd);
    const std::string uid = std::to_string(getuid());
    for (const std::string& line : SplitList(passwd, '\n')) {
      std::vector<std::string> f;  // name:password:uid:gid:gecos:home:shell (empty fields kept)
      size_t start = 0;
      for (size_t colon; (colon = line.find(':', start)) != std::string::npos; start = colon + 1) f.push_back(line.substr(start, colon - start));
      f.push_back(line.substr(start));
      if (f.size() >= 6 && f[2] == uid && !f[5].empty()) {
        home = f[5];
        break;
      }
    }
  }
  Trace("env HOME=" + home);
  c.env.push_back("HOME=" + home);
}

// fds: preserved ones move from 4.. down to 3..; everything else >= 3 closes at execve. Done once,
// before seccomp-load when there is one: a strict profile may refuse close_range (runtime-tools'
// default allows close but not close_range), and the helper's own housekeeping must not depend
// on what the container's filter allows.
static void PrepareFdsForExec(Container& c) {
  if (c.fdsPrepared) return;
  for (int i = 0; i < c.preserveFds; i++) {
    if (dup2(4 + i, 3 + i) < 0) FailErrno("dup2", std::to_string(4 + i));
  }
  Trace("close_range(" + std::to_string(3 + c.preserveFds) + ", ~0, CLOSE_RANGE_CLOEXEC)");
  if (close_range(3 + c.preserveFds, ~0U, CLOSE_RANGE_CLOEXEC) < 0) FailErrno("close_range");
  c.fdsPrepared = true;
}

// Go's wording for errno and signal texts, as runc prints them: "no such file or directory".
std::string LowerFirst(std::string text) {
  if (!text.empty() && text[0] >= 'A' && text[0] <= 'Z') text[0] = static_cast<char>(text[0] - 'A' + 'a');
  return text;
}

// Run one startContainer hook to its end: the state on its stdin (with "pid" as we see it, as
// runc), its stdout and stderr collected for the error, SIGKILL once the timeout has passed. We are
// a single-threaded process, so a plain fork is safe. Returns "" on success, else what went wrong
// in runc's words ("exit status 1, stdout: , stderr: ...").
std::string RunStartHook(const StartHook& hook) {
  std::string state = hook.state;
  const std::string pid = "\"pid\":" + std::to_string(getpid());
  size_t open = state.find('{');
  if (open != std::string::npos) {
    size_t next = state.find_first_not_of(" \t\r\n", open + 1);
    state.insert(open + 1, next != std::string::npos && state[next] == '}' ? pid : pid + ",");
  }
  std::vector<std::string> args = hook.args.empty() ? std::vector<std::string>{hook.path} : hook.args;
  std::vector<std::string> env = hook.env;
  std::vector<char*> argv, envp;
  for (std::string& arg : args) argv.push_back(&arg[0]);
  for (std::string& var : env) envp.push_back(&var[0]);
  argv.push_back(nullptr);
  envp.push_back(nullptr);

  int input[2], output[2], errors[2], execStatus[2];
  if (pipe2(input, O_CLOEXEC) < 0 || pipe2(output, O_CLOEXEC) < 0 || pipe2(errors, O_CLOEXEC) < 0 ||
      pipe2(execStatus, O_CLOEXEC) < 0) {
    FailErrno("pipe2");
  }
  pid_t child = fork();
  if (child < 0) FailErrno("fork", hook.path);
  if (child == 0) {
    dup2(input[0], 0);
    dup2(output[1], 1);
    dup2(errors[1], 2);
    close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);  // preserved fds are the container's, not the hook's
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    execve(hook.path.c_str(), argv.data(), envp.data());
    int err = errno;
    ssize_t ignored = write(execStatus[1], &err, sizeof err);
    (void)ignored;
    _exit(127);
  }
  close(input[0]);
  close(output[1]);
  close(errors[1]);
  close(execStatus[1]);
  int execErrno = 0;
  ssize_t got;
  while ((got = read(execStatus[0], &execErrno, sizeof execErrno)) < 0 && errno == EINTR) {
  }
  close(execStatus[0]);
  if (got == static_cast<ssize_t>(sizeof execErrno)) {
    close(input[1]), close(output[0]), close(errors[0]);
    while (waitpid(child, nullptr, 0) < 0 && errno == EINTR) {
    }
    return "fork/exec " + hook.path + ": " + LowerFirst(strerror(execErrno));
  }

  // A pidfd wakes us when the hook exits even if something it started holds its stdout open; where
  // the container's seccomp profile refuses pidfd_open we look every 10 ms instead.
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, child, 0));
  fcntl(input[1], F_SETFL, O_NONBLOCK);
  fcntl(output[0], F_SETFL, O_NONBLOCK);
  fcntl(errors[0], F_SETFL, O_NONBLOCK);
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  const long long deadline = hook.timeoutSeconds ? now.tv_sec * 1000LL + now.tv_nsec / 1000000 + hook.timeoutSeconds * 1000LL : -1;
  size_t written = 0;
  std::string collected[2];
  int readers[2] = {output[0], errors[0]};
  int status = 0;
  bool exited = false, timedOut = false;
  auto drain = [&](int s) {
    char chunk[4096];
    ssize_t n;
    while ((n = read(readers[s], chunk, sizeof chunk)) > 0) {
      if (collected[s].size() < 16384) collected[s].append(chunk, static_cast<size_t>(n));
    }
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) close(readers[s]), readers[s] = -1;
  };
  while (!exited) {
    int wait = -1;
    if (deadline >= 0) {
      clock_gettime(CLOCK_MONOTONIC, &now);
      long long left = deadline - (now.tv_sec * 1000LL + now.tv_nsec / 1000000);
      if (left <= 0) {
        timedOut = true;
        break;
      }
      wait = static_cast<int>(left > 1000000 ? 1000000 : left);
    }
    if (pidfd < 0 && (wait < 0 || wait > 10)) wait = 10;
    struct pollfd fds[4] = {
        {input[1], POLLOUT, 0}, {readers[0], POLLIN, 0}, {readers[1], POLLIN, 0}, {pidfd, POLLIN, 0}};
    if (poll(fds, 4, wait) < 0 && errno != EINTR) FailErrno("poll", hook.path);
    if (input[1] >= 0 && fds[0].revents) {
      ssize_t n = write(input[1], state.data() + written, state.size() - written);
      if (n > 0) written += static_cast<size_t>(n);
      // Done, or the hook closed its stdin without reading it all (EPIPE: SIGPIPE is ignored here).
      if (written == state.size() || (n < 0 && errno != EAGAIN && errno != EINTR)) close(input[1]), input[1] = -1;
    }
    for (int s = 0; s < 2; s++) {
      if (readers[s] >= 0 && fds[1 + s].revents) drain(s);
    }
    exited = waitpid(child, &status, WNOHANG) == child;
  }
  if (input[1] >= 0) close(input[1]);
  if (pidfd >= 0) close(pidfd);
  if (timedOut) {
    kill(child, SIGKILL);
    while (waitpid(child, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  for (int s = 0; s < 2; s++) {
    if (readers[s] >= 0) drain(s);  // what is already in the pipe; a daemon it left may hold it open
    if (readers[s] >= 0) close(readers[s]);
  }
  if (timedOut) return "hook ran past specified timeout of " + std::to_string(hook.timeoutSeconds) + ".0s";
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "";
  std::string what = WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                                       : "signal: " + LowerFirst(strsignal(WTERMSIG(status)));
  return what + ", stdout: " + collected[0] + ", stderr: " + collected[1];
}

// startContainer hooks, in order; the first failure fails the start. In create mode `start` holds
// the exec fifo open until we execve or exit: it reads the error from there (`fifo`, -1 in run mode).
void RunStartHooks(const Container& c, int fifo) {
  for (size_t i = 0; i < c.startHooks.size(); i++) {
    const StartHook& hook = c.startHooks[i];
    std::string args;
    for (const std::string& arg : hook.args) args += (args.empty() ? "" : ", ") + Quote(arg);
    Trace("startContainer hook #" + std::to_string(i) + ": fork(); execve(" + Quote(hook.path) + ", [" + args + "], env)");
    std::string failure = RunStartHook(hook);
    if (failure.empty()) continue;
    const std::string message = "error running startContainer hook #" + std::to_string(i) + ": " + failure;
    if (fifo >= 0) {
      ssize_t ignored = write(fifo, message.data(), message.size());
      (void)ignored;
    }
    Fail(ECANCELED, "startContainer hook", hook.path, message);
  }
}

void RunExec(Container& c, const Step& step) {
  if (c.argv.empty()) Fail(EINVAL, "execve", "", "no arg steps: nothing to execute");
  AddHomeIfMissing(c);
  std::string path = FindExecutable(c);

  PrepareFdsForExec(c);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);  // the monitor's blocked signals are inherited
  signal(SIGPIPE, SIG_DFL);                   // and so is its ignored SIGPIPE

  std::vector<char*> argv, envp;
  for (std::string& arg : c.argv) argv.push_back(&arg[0]);
  for (std::string& var : c.env) envp.push_back(&var[0]);
  argv.push_back(nullptr);
  envp.push_back(nullptr);

  if (c.settings->mode == "create") {
    // Block until `start` opens the fifo for reading. The O_PATH fd was taken before pivot;
    // reopening it through /proc/self/fd gives a real write fd to the same fifo.
    Trace("open(exec fifo, O_WRONLY); write(\"0\")");
    FlushTrace(step);
    Report({"ready"});
    int fifo = open(FdPath(c.execFifoFd).c_str(), O_WRONLY | O_CLOEXEC);
    if (fifo < 0) FailErrno("open", c.settings->execFifo);
    if (write(fifo, "0", 1) != 1) FailErrno("write", c.settings->execFifo);
    // With startContainer hooks the fifo stays open (close-on-exec) until execve: `start` waits
    // for its end, and reads a failing hook's error from it.
    if (c.startHooks.empty()) close(fifo);
    RunStartHooks(c, c.startHooks.empty() ? -1 : fifo);
  } else {
    RunStartHooks(c, -1);  // run mode: before `ready`, so a failing hook fails the run
  }
  std::string args;
  for (const std::string& arg : c.argv) args += (args.empty() ? "" : ", ") + Quote(arg);
  Trace("execve(" + Quote(path) + ", [" + args + "], env)");
  FlushTrace(step);
  if (c.settings->mode != "create") Report({"ready"});
  if (!c.settings->detach && c.settings->monitor) {
    // Foreground: if the monitor is SIGKILLed it cannot kill us, so let the kernel do it. Set last:
    // any credential change (the `user` step) clears it.
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    struct pollfd monitor = {gChannel, POLLIN, 0};
    if (poll(&monitor, 1, 0) > 0 && (monitor.revents & POLLHUP)) _exit(125);  // it died before that
  }
  execve(path.c_str(), argv.data(), envp.data());
  // Without a monitor (`monitor 0`) our exit code is all the shim sees: use the shell's.
  c.failureExitCode = errno == ENOENT ? 127 : errno == EACCES || errno == EPERM ? 126 : 125;
  FailErrno("execve", path);
}

// A filter with `notify` rules: its notify fd goes to the monitor over the channel (SCM_RIGHTS),
// which connects to the listener path on the host (unreachable from here after pivot_root) and
// sends it on with the container process state. We wait for its "go": the agent holds the fd
// before the next syscall the filter may send to it. Our copy is closed first, so once we execve
// the agent is its only holder.
void HandOverSeccompListener(int listener) {
  Trace("sendmsg(channel, \"seccomp-listener\", SCM_RIGHTS [notify fd]); recv(channel) = \"go\"");
  const std::string line = FormatLine({"seccomp-listener"});
  ssize_t sent = SendWithFd(gChannel, line, listener);
  int err = errno;
  close(listener);
  if (sent < 0) Fail(err, "sendmsg", "", "seccomp: cannot pass the notify fd to the monitor: " + std::string(strerror(err)));
  WaitForGo();  // the monitor kills us instead if it cannot deliver
}

SeccompArg ParseSeccompArg(const std::string& text) {
  std::vector<std::string> parts = SplitList(text, ':');
  if (parts.size() < 3) Fail(EINVAL, "seccomp", "", "bad seccomp arg \"" + text + "\"");
  SeccompArg arg;
  arg.index = static_cast<unsigned>(Number(parts[0]));
  arg.op = parts[1];
  arg.value = Number(parts[2]);
  arg.valueTwo = parts.size() > 3 ? Number(parts[3]) : 0;
  return arg;
}

void RunContainerStep(Container& c, const Step& step) {
  const std::string& op = step.op;
  const std::vector<std::string>& f = step.fields;
  if (op != "mkdev" && op != "symlink") ReleaseNodeDir(c.nodeDir);
  if (op == "sync") {
    Report({"sync", f[0]});
    WaitForGo();
  } else if (op == "cgroup-wait") {
    Trace("recv(channel) = \"go\"");  // received by MoveIntoCgroups: we sit in every cgroup now
    if (c.settings->unshareFlags & CLONE_NEWCGROUP) UnshareNamespaces(CLONE_NEWCGROUP);
  } else if (op == "propagation" || op == "rootfs-propagation") {
    SetPropagation("/", Number(f[0]));
  } else if (op == "rootfs") {
    c.rootFd = PrepareRootfs(f[0]);
  } else if (op == "mount") {
    MountSpec spec;
    spec.source = f[0];
    spec.destination = f[1];
    spec.fstype = f[2];
    spec.flags = Number(f[3]);
    spec.data = f[4];
    spec.propagation = Number(f[5].empty() ? "0" : f[5]);
    MountInRoot(RootFd(c, op), spec);
  } else if (op == "mount-idmap") {
    // The monitor made the idmapped tree before the clone (helper.cc OpenIdmappedTrees): its trace,
    // then our part, attaching it at the destination.
    for (const auto& tree : c.settings->idmappedTrees) {
      if (tree.step != &step) continue;
      for (const std::string& line : tree.trace) Trace(line);
      MoveTreeInRoot(RootFd(c, op), tree.fd, f[0], f[1], Number(f[6].empty() ? "0" : f[6]));
      close(tree.fd);
      return;
    }
    Fail(EINVAL, "plan", "", "mount-idmap: the monitor made no tree for this step");
  } else if (op == "mount-setattr") {
    SetMountAttrInRoot(RootFd(c, op), f[0], Number(f[1], 16), Number(f[2], 16));
  } else if (op == "mkdev") {
    MakeDeviceInRoot(RootFd(c, op), c.nodeDir, f[0], f[1].empty() ? '?' : f[1][0], Number(f[2]), Number(f[3]),
                     static_cast<mode_t>(Number(f[4], 8)), static_cast<uid_t>(Number(f[5])), static_cast<gid_t>(Number(f[6])));
  } else if (op == "symlink") {
    SymlinkInRoot(RootFd(c, op), c.nodeDir, f[0], f[1]);
  } else if (op == "pivot") {
    if (f[0] != "pivot" && f[0] != "chroot") Fail(EINVAL, "pivot_root", "", "pivot must be pivot or chroot");
    PivotRoot(RootFd(c, op), f[0] == "chroot");
    // Take the procfs handle now, before masks and read-only paths cover parts of /proc.
    if (c.haveSysctl) c.procFd = OpenProcfsHandle();
  } else if (op == "readonly-root") {
    RemountRootReadonly();
  } else if (op == "mask") {
    MaskPath(RootFd(c, op), f[0]);
  } else if (op == "readonly") {
    ReadonlyPath(RootFd(c, op), f[0]);
  } else if (op == "hostname") {
    SetHostname(f[0]);
  } else if (op == "domainname") {
    SetDomainname(f[0]);
  } else if (op == "sysctl") {
    if (c.procFd < 0) c.procFd = OpenProcfsHandle();
    WriteSysctl(c.procFd, f[0], f[1]);
  } else if (op == "umask") {
    SetUmask(static_cast<mode_t>(Number(f[0], 8)));
  } else if (op == "nnp") {
    SetNoNewPrivs();
  } else if (op == "seccomp") {
    c.seccomp = SeccompFilter();
    c.seccomp.defaultAction = f[0];
    c.seccomp.defaultErrno = static_cast<int>(Number(f[1].empty() ? "1" : f[1]));
    c.seccomp.flags = SplitList(f[2]);
    c.seccomp.arches = SplitList(f[3]);
  } else if (op == "seccomp-rule") {
    SeccompRule rule;
    rule.action = f[0];
    rule.errnoRet = static_cast<int>(Number(f[1].empty() ? "1" : f[1]));
    rule.names = SplitList(f[2]);
    for (const std::string& arg : SplitList(f[3])) rule.args.push_back(ParseSeccompArg(arg));
    c.seccomp.rules.push_back(rule);
  } else if (op == "seccomp-load") {
    PrepareFdsForExec(c);
    std::vector<sock_filter> program;
    std::string error;
    int rc = SeccompCompile(c.seccomp, program, error);
    if (rc < 0) Fail(-rc, "seccomp", "", "seccomp: " + (error.empty() ? std::string(strerror(-rc)) : error));
    const bool notify = SeccompNeedsListener(c.seccomp);
    if (notify && !c.haveSeccompListener) Fail(EINVAL, "seccomp", "", "seccomp: notify rules need a seccomp-listener step");
    Trace("seccomp(SECCOMP_SET_MODE_FILTER, " + std::to_string(c.seccomp.rules.size()) + " rules, " +
          std::to_string(program.size()) + " instructions" + (notify ? ", SECCOMP_FILTER_FLAG_NEW_LISTENER) = notify fd" : ")"));
    int listener = -1;
    rc = SeccompLoad(program, c.seccomp.flags, notify ? &listener : nullptr);
    if (rc < 0) Fail(-rc, "seccomp");
    if (notify) HandOverSeccompListener(listener);
  } else if (op == "seccomp-bpf") {
    // A filter TypeScript compiled once per sandbox shape (the addon's compileSeccomp): loaded as is.
    PrepareFdsForExec(c);
    std::vector<sock_filter> program;
    if (!SeccompProgramFromBase64(f[3], program)) Fail(EINVAL, "plan", "", "seccomp-bpf: the program is not base64 of whole BPF instructions");
    const bool notify = f[1] == "1";
    if (notify && !c.haveSeccompListener) Fail(EINVAL, "seccomp", "", "seccomp: notify rules need a seccomp-listener step");
    const std::vector<std::string> flags = SplitList(f[0]);
    Trace("seccomp(SECCOMP_SET_MODE_FILTER, " + f[2] + " rules, " + std::to_string(program.size()) +
          " instructions" + (notify ? ", SECCOMP_FILTER_FLAG_NEW_LISTENER) = notify fd" : ")"));
    int listener = -1;
    int rc = SeccompLoad(program, flags, notify ? &listener : nullptr);
    if (rc < 0) Fail(-rc, "seccomp");
    if (notify) HandOverSeccompListener(listener);
  } else if (op == "user") {
    // The bounding set must shrink while we still have CAP_SETPCAP, i.e. before the uid change.
    if (c.haveCaps && !c.boundingDropped) DropBounding(c.caps.bounding), c.boundingDropped = true;
    std::vector<gid_t> groups;
    for (const std::string& g : SplitList(f[2])) groups.push_back(static_cast<gid_t>(Number(g)));
    const uid_t uid = static_cast<uid_t>(Number(f[0]));
    if (uid != 0) GiveStdioToUser(uid);
    SwitchUser(uid, static_cast<gid_t>(Number(f[1])), groups);
    c.userDone = true;
    if (c.capsDeferred) ApplyCaps(c.caps);
  } else if (op == "caps") {
    if (!c.boundingDropped) DropBounding(c.caps.bounding), c.boundingDropped = true;
    if (c.haveUserOp && !c.userDone) {
      c.capsDeferred = true;  // capset after the uid change (see `user`)
    } else {
      ApplyCaps(c.caps);
    }
  } else if (op == "preserve-fds") {
    c.preserveFds = static_cast<int>(Number(f[0]));
  } else if (op == "cwd") {
    Trace("chdir(" + Quote(f[0]) + ")");
    if (chdir(f[0].c_str()) < 0) {
      if (errno != ENOENT) FailErrno("chdir", f[0]);
      // A missing working directory is created (as runc does), as the container user, under the
      // container's root: after pivot_root no path can lead outside it.
      std::string prefix;
      for (const std::string& part : SplitList(f[0], '/')) {
        prefix += "/" + part;
        if (mkdir(prefix.c_str(), 0755) < 0 && errno != EEXIST) FailErrno("mkdir", prefix);
      }
      Trace("mkdir -p " + Quote(f[0]));
      if (chdir(f[0].c_str()) < 0) FailErrno("chdir", f[0]);
    }
    VerifyCwd();
  } else if (op == "env") {
    c.env.push_back(f[0]);
  } else if (op == "arg") {
    c.argv.push_back(f[0]);
  } else if (op == "start-hook") {
    StartHook hook;
    hook.path = f[0];
    hook.timeoutSeconds = Number(f[1].empty() ? "0" : f[1]);
    hook.state = f[2];
    if (hook.path.empty() || hook.path[0] != '/') Fail(EINVAL, "plan", "", "start-hook needs an absolute path");
    c.startHooks.push_back(hook);
  } else if (op == "start-hook-arg" || op == "start-hook-env") {
    if (c.startHooks.empty()) Fail(EINVAL, "plan", "", op + " needs a start-hook step before it");
    (op == "start-hook-arg" ? c.startHooks.back().args : c.startHooks.back().env).push_back(f[0]);
  } else if (op == "exec") {
    RunExec(c, step);
  } else {
    Fail(EINVAL, "plan", "", "op " + op + " cannot run in the container process");
  }
}

// After "go": join the namespaces to join, become root of the user namespace, create the ones
// that had to wait (cgroup; everything when joining a user namespace), loopback, session keyring.
void EnterNamespaces(const std::vector<Step>& plan, const Settings& settings, Container& c, const Step* cloneStep) {
  bool userNs = settings.cloneFlags & CLONE_NEWUSER;
  for (const Step& step : plan) userNs |= step.op == "setns" && step.fields[0] == "user";
  // Join existing namespaces, the user namespace first: it grants the capabilities the others
  // need. All of them are opened before the first setns: inside the container's user namespace we
  // could no longer open /proc/<pid>/ns/* of a process that is not dumpable (yet).
  std::vector<std::pair<const Step*, int>> joins;
  for (const Step& step : plan) {
    if (step.op != "setns" || IsMonitorSetns(step)) continue;
    PrepareStep(step, [&] { joins.emplace_back(&step, OpenNamespace(step.fields[1])); });
  }
  for (int pass = 0; pass < 2; pass++) {
    for (const auto& [step, fd] : joins) {
      if ((step->fields[0] == "user") != (pass == 0)) continue;
      RunStep(*step, [&] { JoinNamespace(step->fields[0], fd, step->fields[1]); });
      close(fd);
    }
  }
  if (userNs) {
    // Become root of the user namespace (if 0 is mapped) so files we create belong to it.
    if (setresgid(0, 0, 0) == 0) setresuid(0, 0, 0);
  }
  const Step cloneFallback{0, "clone", {}};
  const bool newNet = (settings.cloneFlags | settings.unshareFlags) & CLONE_NEWNET;
  // With `cgroup-wait` we are not in our cgroups yet: the cgroup namespace waits for that step.
  const uint64_t unshareNow = settings.unshareFlags & ~(settings.cgroupWait ? uint64_t(CLONE_NEWCGROUP) : 0);
  if (unshareNow || newNet) RunStep(cloneStep ? *cloneStep : cloneFallback, [&] {
    // Only now: the monitor has put us into our cgroups, so they become the cgroup ns root; and a
    // joined user namespace owns what we create here.
    if (unshareNow) UnshareNamespaces(unshareNow);
    if (newNet) BringUpLoopback();
  });
  // A new time namespace with clock offsets (`time-offset`): all of them go in one write.
  std::string offsets;
  const Step* firstOffset = nullptr;
  for (const Step& step : plan) {
    if (step.op != "time-offset") continue;
    PrepareStep(step, [&] {
      if (step.fields[0] != "monotonic" && step.fields[0] != "boottime") {
        Fail(EINVAL, "plan", "", "time-offset clock must be monotonic or boottime, not " + step.fields[0]);
      }
      offsets += step.fields[0] + " " + std::to_string(SignedNumber(step.fields[1])) + " " + std::to_string(Number(step.fields[2])) + "\n";
    });
    if (!firstOffset) firstOffset = &step;
  }
  if (firstOffset) RunStep(*firstOffset, [&] {
    if (c.timeOffsetsFd < 0) Fail(c.timeOffsetsErrno, "open", "/proc/self/timens_offsets");
    EnterNewTimeNamespace(c.timeOffsetsFd, offsets);
    close(c.timeOffsetsFd);
  });
  for (const Step& step : plan) {
    if (step.op == "id") RunStep(step, [&] { JoinSessionKeyring(step.fields[0]); });
  }
}

}  // namespace

// Everything the clone3 child does; never returns.
[[noreturn]] void ContainerProcess(const std::vector<Step>& plan, const Settings& settings, const Step* cloneStep) {
  gInContainerProcess = true;
  // The monitor's fd of the host cgroup directory we were born in: nothing for the container.
  if (settings.cloneCgroupFd >= 0) close(settings.cloneCgroupFd);
  Container c;
  c.settings = &settings;
  c.consolePending = settings.consoleSocketFd >= 0;
  for (const Step& step : plan) {
    c.haveUserOp |= step.op == "user";
    c.haveSysctl |= step.op == "sysctl";
    c.haveSeccompListener |= step.op == "seccomp-listener";
  }

  WaitForGo();  // maps, cgroups, rlimits and oom_score_adj are in place
  for (const Step& step : plan) {
    if (step.op != "time-offset") continue;
    // Once we are not dumpable our /proc/self files belong to the host's root, which the root of
    // a new user namespace cannot write to: take the one we need now.
    c.timeOffsetsFd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
    c.timeOffsetsErrno = errno;
    break;
  }
  try {
    // Without `cgroup-wait`: our v1 cgroups first, before any work that could be charged to them.
    for (const auto& [step, fd] : settings.selfJoins) WriteSelfJoin(*step, fd);
    // From here on we are inside the container's namespaces: no ptrace, no /proc/<pid>/mem, no
    // core dumps of our memory (CVE-2016-9962). execve resets this for the container's program.
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

    for (const Step& step : plan) {
      // Parsed up front: `user` may need the bounding set before the `caps` step runs.
      if (step.op != "caps") continue;
      PrepareStep(step, [&] {
        c.haveCaps = true;
        c.caps.bounding = Number(step.fields[0], 16);
        c.caps.effective = Number(step.fields[1], 16);
        c.caps.permitted = Number(step.fields[2], 16);
        c.caps.inheritable = Number(step.fields[3], 16);
        c.caps.ambient = Number(step.fields[4], 16);
      });
    }

    EnterNamespaces(plan, settings, c, cloneStep);
    setsid();  // own session: ready for a controlling terminal, no signals from the caller's group
    if (settings.mode == "create") {
      c.execFifoFd = open(settings.execFifo.c_str(), O_PATH | O_CLOEXEC);
      if (c.execFifoFd < 0) {
        const Step fallback{0, "exec-fifo", {}};
        RunStep(fallback, [&] { FailErrno("open", settings.execFifo); });
      }
    }

    for (const Step& step : plan) {
      // time-offset: done in EnterNamespaces
      if (IsMonitorOp(step) || step.op == "setns" || step.op == "time-offset") continue;
      if (c.consolePending && IsProcessAttribute(step.op)) {
        RunStep(step, [&] {
          // exec mode has no rootfs step: the joined mount namespace's root is ours.
          int root = c.rootFd >= 0 ? c.rootFd : open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
          SetupConsole(root, settings.consoleSocketFd, settings.consoleRows, settings.consoleColumns);
        });
        c.consolePending = false;
      }
      if (step.op == "cgroup-wait") MoveIntoCgroups(plan, step);
      RunStep(step, [&] { RunContainerStep(c, step); });
    }
    RunStep({plan.size(), "exec", {}}, [&] { Fail(EINVAL, "plan", "", "plan has no exec step"); });
  } catch (const StepAborted&) {
  } catch (const StepFailure& failure) {
    Report(ErrorMessage({0, "", {}}, failure));
  }
  _exit(c.failureExitCode);
}

}  // namespace hull
