// Namespaces: the clone3 that creates the container process, joining existing namespaces, the user
// namespace id maps (written by the monitor from outside), hostname and sysctls.
#include <fcntl.h>
#include <linux/keyctl.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/magic.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "kernel.h"

namespace hull {

namespace {

struct NamespaceName {
  const char* name;
  uint64_t flag;
};
// Plan names (OCI namespace types, plus "mnt" as in /proc/<pid>/ns/mnt).
const NamespaceName kNamespaces[] = {
    {"user", CLONE_NEWUSER}, {"pid", CLONE_NEWPID},   {"mount", CLONE_NEWNS}, {"mnt", CLONE_NEWNS},
    {"uts", CLONE_NEWUTS},   {"ipc", CLONE_NEWIPC},   {"net", CLONE_NEWNET},  {"network", CLONE_NEWNET},
    {"cgroup", CLONE_NEWCGROUP}, {"time", CLONE_NEWTIME},
};

const FlagName kCloneFlags[] = {
    {CLONE_NEWUSER, "CLONE_NEWUSER"}, {CLONE_NEWPID, "CLONE_NEWPID"}, {CLONE_NEWNS, "CLONE_NEWNS"},
    {CLONE_NEWUTS, "CLONE_NEWUTS"},   {CLONE_NEWIPC, "CLONE_NEWIPC"}, {CLONE_NEWNET, "CLONE_NEWNET"},
    {CLONE_NEWCGROUP, "CLONE_NEWCGROUP"}, {CLONE_NEWTIME, "CLONE_NEWTIME"},
};

}  // namespace

uint64_t CloneFlagsFromList(const std::string& list) {
  uint64_t flags = 0;
  size_t start = 0;
  while (start < list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    std::string name = list.substr(start, comma - start);
    if (!name.empty()) flags |= CloneFlagForType(name);
    start = comma + 1;
  }
  return flags;
}

uint64_t CloneFlagForType(const std::string& type) {
  for (const NamespaceName& ns : kNamespaces) {
    if (type == ns.name) return ns.flag;
  }
  Fail(EINVAL, "clone3", "", "unknown namespace type \"" + type + "\"");
}

std::string FormatCloneFlags(uint64_t flags) { return FormatFlags(flags, kCloneFlags); }

namespace {
// `open("/sys/fs/cgroup/...")` for the trace: the path the fd stands for.
std::string FdTarget(int fd) {
  char target[4096];
  ssize_t n = readlink(("/proc/self/fd/" + std::to_string(fd)).c_str(), target, sizeof target - 1);
  return "open(" + Quote(n > 0 ? std::string(target, static_cast<size_t>(n)) : std::to_string(fd)) + ")";
}
}  // namespace

int OpenCloneCgroup(const std::string& dir) {
  // A real fd, not O_PATH: the kernel's fdget() refuses O_PATH files for CLONE_INTO_CGROUP.
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) FailErrno("open", dir);
  return fd;
}

pid_t CloneContainerProcess(uint64_t flags, int cgroupFd, bool* intoCgroup) {
  // With CLONE_NEWUSER in the same call, the kernel creates the user namespace first and makes it
  // the owner of every other new namespace, exactly as unshare(CLONE_NEWUSER) followed by
  // unshare(rest) would. The child does nothing privileged until the monitor wrote its id maps.
  //
  // With a cgroup fd, CLONE_INTO_CGROUP (Linux 5.7) makes the child start in that cgroup2
  // directory: no cgroup.procs write afterwards, whose writer lock waits for an RCU grace period.
  // Kernels without it say EINVAL (unknown flag) or E2BIG (longer struct): the caller then writes
  // cgroup.procs as before.
  if (intoCgroup) *intoCgroup = false;
  struct clone_args args = {};
  args.flags = flags;
  args.exit_signal = SIGCHLD;
  if (cgroupFd >= 0) {
    args.flags |= CLONE_INTO_CGROUP;
    args.cgroup = static_cast<uint64_t>(cgroupFd);
    Trace("clone3({flags=" + FormatCloneFlags(flags) + "|CLONE_INTO_CGROUP, cgroup=" + (gTracing ? FdTarget(cgroupFd) : "") +
          ", exit_signal=SIGCHLD})");
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid >= 0) {
      if (intoCgroup && pid > 0) *intoCgroup = true;
      return static_cast<pid_t>(pid);
    }
    if (errno != EINVAL && errno != E2BIG && errno != ENOSYS) FailErrno("clone3");
    Trace("  " + ErrnoName(errno) + ": without CLONE_INTO_CGROUP");
    args.flags = flags;
    args.cgroup = 0;
  }
  Trace("clone3({flags=" + FormatCloneFlags(flags) + ", exit_signal=SIGCHLD})");
  long pid = syscall(SYS_clone3, &args, sizeof args);
  if (pid < 0) FailErrno("clone3");
  return static_cast<pid_t>(pid);
}

int OpenNamespace(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) FailErrno("open", path);
  return fd;
}

void JoinNamespace(const std::string& type, int fd, const std::string& path) {
  uint64_t flag = CloneFlagForType(type);
  Trace("setns(open(" + Quote(path) + "), " + FormatCloneFlags(flag) + ")");
  if (setns(fd, static_cast<int>(flag)) < 0) FailErrno("setns", path);
}

void UnshareNamespaces(uint64_t flags) {
  Trace("unshare(" + FormatCloneFlags(flags) + ")");
  if (unshare(static_cast<int>(flags)) < 0) FailErrno("unshare");
}

void EnterNewTimeNamespace(int offsetsFd, const std::string& offsets) {
  // A time namespace's offsets can be written only while no process is in it, and clone3 with
  // CLONE_NEWTIME would have put us in at once. unshare makes a new one for our children only;
  // we write the offsets (the file writes to the namespace of our children, whenever it was
  // opened), then enter it ourselves (setns into a time namespace wants a single-threaded caller:
  // we are one). Created by us, it belongs to our user namespace.
  UnshareNamespaces(CLONE_NEWTIME);
  const std::string offsetsPath = "/proc/self/timens_offsets";
  Trace("write(" + Quote(offsetsPath) + ", " + Quote(offsets) + ")");
  ssize_t n = write(offsetsFd, offsets.data(), offsets.size());
  if (n < 0) FailErrno("write", offsetsPath);
  if (static_cast<size_t>(n) != offsets.size()) Fail(EIO, "write", offsetsPath, "short write to " + offsetsPath);
  const std::string path = "/proc/self/ns/time_for_children";
  int fd = OpenNamespace(path);
  Trace("setns(open(" + Quote(path) + "), CLONE_NEWTIME)");
  int rc = setns(fd, CLONE_NEWTIME);
  int err = errno;
  close(fd);
  if (rc < 0) Fail(err, "setns", path);
}

void WriteProcFile(const std::string& path, const std::string& content) {
  Trace("write(" + Quote(path) + ", " + Quote(content) + ")");
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) FailErrno("open", path);
  // One write: uid_map and gid_map accept exactly one, cgroup.procs one pid.
  ssize_t n = write(fd, content.data(), content.size());
  int err = errno;
  close(fd);
  if (n < 0) Fail(err, "write", path);
  if (static_cast<size_t>(n) != content.size()) Fail(EIO, "write", path, "short write to " + path);
}

void WriteSetgroups(pid_t pid, const std::string& value) {
  WriteProcFile("/proc/" + std::to_string(pid) + "/setgroups", value);
}

namespace {

// Rootless: an unprivileged monitor may only map its own id. For ranges from /etc/subuid it asks
// the setuid helpers from shadow: `newuidmap <pid> <inside> <outside> <count>...`.
void RunIdMapTool(const char* tool, pid_t pid, const std::string& lines) {
  std::vector<std::string> args = {tool, std::to_string(pid)};
  std::string number;
  for (char c : lines + "\n") {
    if (c == ' ' || c == '\n') {
      if (!number.empty()) args.push_back(number);
      number.clear();
    } else {
      number += c;
    }
  }
  std::string shown;
  for (const std::string& arg : args) shown += (shown.empty() ? "" : " ") + arg;
  Trace(shown);
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(&arg[0]);
  argv.push_back(nullptr);
  const std::string path = std::string("/usr/bin/") + tool;
  pid_t child = fork();
  if (child < 0) FailErrno("fork", path);
  if (child == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execv(path.c_str(), argv.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    Fail(EPERM, tool, path, shown + " failed (" + (WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status)) : "killed") + ")");
  }
}

}  // namespace

void WriteIdMap(pid_t pid, const char* file, const std::string& lines) {
  const std::string path = "/proc/" + std::to_string(pid) + "/" + file;
  Trace("write(" + Quote(path) + ", " + Quote(lines) + ")");
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) FailErrno("open", path);
  ssize_t n = write(fd, lines.data(), lines.size());
  int err = errno;
  close(fd);
  if (n >= 0) return;
  if (err != EPERM) Fail(err, "write", path);
  RunIdMapTool(std::string(file) == "uid_map" ? "newuidmap" : "newgidmap", pid, lines);
}

// `mount-idmap`: a user namespace that holds nothing but these maps, for MOUNT_ATTR_IDMAP. Made by
// the monitor as host root (the kernel wants CAP_SYS_ADMIN over it for mount_setattr): a child
// cloned into a new user namespace blocks on a pipe while we write its maps and open its ns file,
// then is killed and reaped. The namespace lives on as long as the fd (and the mounts using it).
// Host root holds CAP_SETGID over the new namespace: gid_map needs no setgroups "deny" first.
int MakeIdmapUserNamespace(const std::string& uidLines, const std::string& gidLines) {
  int pipeFds[2];
  if (pipe2(pipeFds, O_CLOEXEC) < 0) FailErrno("pipe2");
  struct clone_args args = {};
  args.flags = CLONE_NEWUSER;
  args.exit_signal = 0;  // no SIGCHLD for the monitor's signalfd: reaped right here (__WALL)
  Trace("clone3({flags=CLONE_NEWUSER, exit_signal=0})");
  long pid = syscall(SYS_clone3, &args, sizeof args);
  if (pid == 0) {
    // The child: raw syscalls only. Wait for EOF (or death), then go.
    char c;
    syscall(SYS_close, pipeFds[1]);
    while (syscall(SYS_read, pipeFds[0], &c, 1) < 0) {
    }
    syscall(SYS_exit_group, 0);
  }
  int err = errno;
  close(pipeFds[0]);
  if (pid < 0) {
    close(pipeFds[1]);
    Fail(err, "clone3", "", "clone3(CLONE_NEWUSER) for an idmapped mount: " + std::string(strerror(err)));
  }
  auto reap = [&] {
    close(pipeFds[1]);
    kill(static_cast<pid_t>(pid), SIGKILL);
    while (waitpid(static_cast<pid_t>(pid), nullptr, __WALL) < 0 && errno == EINTR) {
    }
  };
  const std::string proc = "/proc/" + std::to_string(pid);
  int fd = -1;
  try {
    WriteProcFile(proc + "/uid_map", uidLines);
    WriteProcFile(proc + "/gid_map", gidLines);
    Trace("open(" + Quote(proc + "/ns/user") + ", O_RDONLY)");
    fd = open((proc + "/ns/user").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) FailErrno("open", proc + "/ns/user");
  } catch (...) {
    reap();
    throw;
  }
  reap();
  return fd;
}

void SetHostname(const std::string& name) {
  Trace("sethostname(" + Quote(name) + ")");
  if (sethostname(name.data(), name.size()) < 0) FailErrno("sethostname", name);
}

void SetDomainname(const std::string& name) {
  Trace("setdomainname(" + Quote(name) + ")");
  if (setdomainname(name.data(), name.size()) < 0) FailErrno("setdomainname", name);
}

void BringUpLoopback() {
  // A new network namespace starts with "lo" down; containers expect 127.0.0.1 to work.
  Trace("ioctl(SIOCSIFFLAGS, \"lo\", IFF_UP)");
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) FailErrno("socket", "lo");
  struct ifreq request = {};
  strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
  if (ioctl(sock, SIOCGIFFLAGS, &request) < 0) {
    int err = errno;
    close(sock);
    Fail(err, "ioctl(SIOCGIFFLAGS)", "lo");
  }
  request.ifr_flags |= IFF_UP;
  int rc = ioctl(sock, SIOCSIFFLAGS, &request);
  int err = errno;
  close(sock);
  if (rc < 0) Fail(err, "ioctl(SIOCSIFFLAGS)", "lo");
}

void JoinSessionKeyring(const std::string& id) {
  // Each container gets its own session keyring, so it cannot read the keys of the session that
  // started it (REFERENCE §2). Kernels or user namespaces without keyring support just go on.
  const std::string name = "_ses." + id;
  Trace("keyctl(KEYCTL_JOIN_SESSION_KEYRING, " + Quote(name) + ")");
  long key = syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.c_str());
  if (key < 0) {
    if (errno == ENOSYS || errno == EACCES || errno == EPERM || errno == EDQUOT) return;
    FailErrno("keyctl(KEYCTL_JOIN_SESSION_KEYRING)", name);
  }
  // Add "user may search" to its permissions, as runc does. KEYCTL_DESCRIBE answers
  // "type;uid;gid;perm;description" with perm in hex.
  char description[256] = {};
  if (syscall(SYS_keyctl, KEYCTL_DESCRIBE, key, description, sizeof description - 1) < 0) return;
  const char* perm = description;
  for (int field = 0; field < 3 && perm; field++) {
    perm = strchr(perm, ';');
    if (perm) perm++;
  }
  if (!perm) return;
  unsigned long permissions = strtoul(perm, nullptr, 16) | 0x00080000;  // KEY_USR_SEARCH
  Trace("keyctl(KEYCTL_SETPERM, " + Quote(name) + ", " + Hex(permissions) + ")");
  if (syscall(SYS_keyctl, KEYCTL_SETPERM, key, permissions) < 0) FailErrno("keyctl(KEYCTL_SETPERM)", name);
}

int OpenProcfsHandle() {
  // Our own procfs instance, mounted nowhere (fsopen + fsmount): no bind or mask that the plan puts
  // over /proc (read-only /proc/sys, CVE-2019-16884 style fakes) affects it. Where the new mount API
  // is refused (a user namespace whose /proc is already partly masked), fall back to the /proc we
  // mounted, checked to be procfs.
  Trace("fsopen(\"proc\"); fsconfig(FSCONFIG_CMD_CREATE); fsmount(MOUNT_ATTR_NOSUID|MOUNT_ATTR_NODEV|MOUNT_ATTR_NOEXEC)");
  int fd = -1;
  int context = static_cast<int>(syscall(SYS_fsopen, "proc", FSOPEN_CLOEXEC));
  if (context >= 0) {
    if (syscall(SYS_fsconfig, context, FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) == 0) {
      fd = static_cast<int>(syscall(SYS_fsmount, context, FSMOUNT_CLOEXEC,
                                    MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC));
    }
    close(context);
  }
  if (fd < 0) {
    Trace("open(\"/proc\", O_PATH|O_DIRECTORY)");
    fd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) FailErrno("open", "/proc");
  }
  struct statfs fs;
  if (fstatfs(fd, &fs) < 0) FailErrno("fstatfs", "/proc");
  if (fs.f_type != PROC_SUPER_MAGIC) Fail(EINVAL, "fstatfs", "/proc", "/proc is not procfs");
  return fd;
}

void WriteSysctl(int procFd, const std::string& key, const std::string& value) {
  // "net.ipv4.ip_forward" -> "sys/net/ipv4/ip_forward", opened beneath the procfs handle.
  std::string relative = "sys/";
  for (char c : key) relative += c == '.' ? '/' : c;
  const std::string shown = "/proc/" + relative;
  struct open_how how = {};
  how.flags = O_WRONLY | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  Trace("write(" + Quote(shown) + ", " + Quote(value) + ")");
  int fd = static_cast<int>(syscall(SYS_openat2, procFd, relative.c_str(), &how, sizeof how));
  if (fd < 0) FailErrno("openat2", shown);
  struct statfs fs;
  if (fstatfs(fd, &fs) < 0 || fs.f_type != PROC_SUPER_MAGIC) Fail(EINVAL, "fstatfs", shown, shown + " is not on procfs");
  ssize_t n = write(fd, value.data(), value.size());
  int err = errno;
  close(fd);
  if (n < 0) Fail(err, "write", shown);
}

}  // namespace hull
