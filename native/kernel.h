// Shared declarations of the helper's files. helper.cc is the monitor, helper-container.cc the
// container process, helper-report.cc their messages, helper-log.cc the monitor's json-file logs.
// Each other .cc wraps one kernel concept:
//   mount.cc  mount namespaces, in-root path resolution, pivot_root, masked/readonly paths
//   ns.cc     clone3 flags, setns, id maps, hostname, sysctl
//   caps.cc   capabilities, uid/gid switch, no_new_privs, umask, cwd check
//   tty.cc    the console socket and the container's pty
// Every function either succeeds or throws StepFailure; helper.cc turns that into an `error` message
// naming the plan step. Every syscall with visible effect is announced with Trace() first.
#pragma once
#include <sys/types.h>
#include <termios.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "plan.h"
#include "text.h"

namespace hull {

// A failed syscall: becomes `error <step> <op> <ERRNO> <syscall> <path> <message>`.
struct StepFailure {
  int err = 0;
  std::string syscall;
  std::string path;
  std::string message;  // empty: "<syscall> <path>: <strerror>"
};
[[noreturn]] void Fail(int err, const std::string& syscall, const std::string& path = "",
                       const std::string& message = "");
// Fail with the current errno.
[[noreturn]] void FailErrno(const std::string& syscall, const std::string& path = "");
// "EPERM" for EPERM.
std::string ErrnoName(int err);

// --- trace (HULL_TRACE / `trace 1`): plain-text syscalls, collected per step ---
void Trace(const std::string& text);
std::string Quote(const std::string& s);                 // "\"/proc\""
struct FlagName {
  uint64_t bit;
  const char* name;
};
// "MS_NOSUID|MS_NODEV" (unknown bits as hex, "0" for none).
std::string FormatFlags(uint64_t flags, const FlagName* names, size_t count);
template <size_t N>
std::string FormatFlags(uint64_t flags, const FlagName (&names)[N]) {
  return FormatFlags(flags, names, N);
}
std::string Hex(uint64_t value);  // "0x1f"

// --- mount.cc ---
std::string FormatMountFlags(unsigned long flags);
// The rootfs' view of a path: "/proc" for "proc", "proc/" or "/proc".
std::string InRootPath(const std::string& path);
// openat2(rootFd, path, flags, RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS|extraResolve). -1 + errno on failure.
int OpenInRoot(int rootFd, const std::string& path, int flags, uint64_t extraResolve = 0);
// An O_PATH fd of an existing file, or of a new empty one (creating parents in-root).
int FileOrNewFileInRoot(int rootFd, const std::string& path);
// "/proc/self/fd/N": mount(2) follows this magic link to exactly the object the fd holds.
std::string FdPath(int fd);
void SetPropagation(const std::string& target, unsigned long flags);  // mount("", target, NULL, flags)
int PrepareRootfs(const std::string& rootfs);                          // returns the rootfs dir fd
struct MountSpec {
  std::string source, destination, fstype, data;
  unsigned long flags = 0, propagation = 0;
};
void MountInRoot(int rootFd, const MountSpec& spec);
// Consecutive `mkdev`/`symlink` steps (a plan's /dev: ~11 of them) share their parent directory's
// fd, and create device nodes with umask 0, so a node needs neither two openat2 nor an fchmodat
// (nor an fchownat for 0:0 in a directory without setgid). Released before any other step: a
// mount could cover the directory.
struct NodeDir {
  std::string path;  // in-root path of `fd`
  int fd = -1;
  bool newNodesRootOwned = false;  // we are 0:0 and the directory is not setgid
  bool umaskCleared = false;
  mode_t savedUmask = 0;
};
void ReleaseNodeDir(NodeDir& dir);
void MakeDeviceInRoot(int rootFd, NodeDir& dir, const std::string& path, char type, unsigned major,
                      unsigned minor, mode_t mode, uid_t uid, gid_t gid);
void SymlinkInRoot(int rootFd, NodeDir& dir, const std::string& target, const std::string& path);
void PivotRoot(int rootFd, bool chrootOnly);
void RemountRootReadonly();
void MaskPath(int rootFd, const std::string& path);
void ReadonlyPath(int rootFd, const std::string& path);
// `mount-setattr`: mount_setattr(AT_RECURSIVE) on the mount at `path` and every mount under it.
void SetMountAttrInRoot(int rootFd, const std::string& path, uint64_t set, uint64_t clear);

// `mount-idmap`, monitor side (before the clone, as host root): a detached copy of `source`
// (open_tree OPEN_TREE_CLONE, AT_RECURSIVE for an rbind) made idmapped through `usernsFd` with
// mount_setattr (AT_RECURSIVE for ridmap), plus the mount's own attributes. Returns the tree fd.
int OpenIdmappedTree(const std::string& source, bool recursiveTree, bool recursiveIdmap, uint64_t set,
                     uint64_t clear, int usernsFd, const std::string& maps);
// Container side: move_mount the detached tree onto `dest` resolved in-root (created like any bind
// destination), then apply `propagation` (MS_* flags, 0: none).
void MoveTreeInRoot(int rootFd, int treeFd, const std::string& source, const std::string& dest,
                    unsigned long propagation);

// --- ns.cc ---
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080  // glibc 2.36's <sched.h> predates it
#endif
// "user,pid,mount" -> CLONE_NEWUSER|CLONE_NEWPID|CLONE_NEWNS. Fails on an unknown name.
uint64_t CloneFlagsFromList(const std::string& list);
uint64_t CloneFlagForType(const std::string& type);  // setns types: "net" -> CLONE_NEWNET
std::string FormatCloneFlags(uint64_t flags);
// clone3 without a new stack: returns 0 in the child. cgroupFd >= 0: try CLONE_INTO_CGROUP first;
// *intoCgroup says whether the child was born there (false: the kernel lacks it, write cgroup.procs).
pid_t CloneContainerProcess(uint64_t flags, int cgroupFd = -1, bool* intoCgroup = nullptr);
int OpenCloneCgroup(const std::string& dir);  // `cgroup-clone-into`: the directory fd clone3 takes
// Open every namespace to join first, then setns: once we joined a user namespace we may no longer
// open another process' /proc/<pid>/ns/* (ptrace access from the initial user namespace).
int OpenNamespace(const std::string& path);
void JoinNamespace(const std::string& type, int fd, const std::string& path);
void UnshareNamespaces(uint64_t flags);
// `time-offset`: a new time namespace with these timens_offsets lines (written through
// `offsetsFd`, our /proc/self/timens_offsets), entered by the caller.
void EnterNewTimeNamespace(int offsetsFd, const std::string& offsets);
// A kernel control file (/proc, cgroupfs) written with one write(2).
void WriteProcFile(const std::string& path, const std::string& content);
void WriteSetgroups(pid_t pid, const std::string& value);
void WriteIdMap(pid_t pid, const char* file, const std::string& lines);
// `mount-idmap`: an fd of a new user namespace holding exactly these map lines ("0 100000 65536\n").
int MakeIdmapUserNamespace(const std::string& uidLines, const std::string& gidLines);
void BringUpLoopback();                         // new network namespace: "lo" up
void JoinSessionKeyring(const std::string& id);  // "_ses.<id>"
void SetHostname(const std::string& name);
void SetDomainname(const std::string& name);
// A verified procfs handle of our own for sysctls (see ns.cc); taken right after pivot_root.
int OpenProcfsHandle();
void WriteSysctl(int procFd, const std::string& key, const std::string& value);

// --- caps.cc ---
struct CapSets {
  uint64_t bounding = 0, effective = 0, permitted = 0, inheritable = 0, ambient = 0;
};
void DropBounding(uint64_t keep);
void SwitchUser(uid_t uid, gid_t gid, const std::vector<gid_t>& groups);  // KEEPCAPS around it
void ApplyCaps(const CapSets& caps);  // capset + ambient
void SetNoNewPrivs();
void SetUmask(mode_t mask);
void VerifyCwd();  // CVE-2024-21626: cwd outside the root = breakout

// --- tty.cc ---
int ConnectConsoleSocket(const std::string& path);
// pty from the container's /dev/pts/ptmx, master sent on `consoleSocket`, slave on 0/1/2 + ctty.
void SetupConsole(int rootFd, int consoleSocket, unsigned short rows = 0, unsigned short columns = 0);
// `terminal 1` without a console socket: the monitor receives the master over its own socketpair
// and relays it to its stdio, in raw mode when that is a terminal.
int ReceivePtyMaster(int socket);  // -1 on failure
void GiveStdioToUser(uid_t uid);  // before the `user` switch: fchown fds 0-2 (not /dev/null)
bool MakeRaw(int fd, struct termios* saved);
void CopyWindowSize(int from, int to);
// Make the pty's reader see end-of-file: its VEOF character (^D), as a terminal user would type it.
void SendEndOfFile(int master, bool lineComplete);

// --- helper-log.cc: docker json-file logs of the container's stdout/stderr (op `log-file`) ---
std::string JsonString(const std::string& text);  // a JSON string literal, escaped as Go does
struct LogStream {
  const char* name;      // "stdout" | "stderr"
  int readFd = -1;       // the monitor's end
  int writeFd = -1;      // the container's fd 1 or 2
  std::string pending;   // a line without its "\n" yet
};
struct ContainerLog {
  std::string path, name;  // PATH and its last component
  int dirFd = -1, fd = -1;
  uint64_t size = 0, maxSize = 0;  // maxSize 0: never rotate
  unsigned maxFiles = 1;
  LogStream streams[2] = {{"stdout"}, {"stderr"}};

  bool enabled() const { return fd >= 0; }
  void Open(const std::string& logPath, uint64_t maxSizeBytes, unsigned maxFileCount);  // monitor, before clone
  void MakePipes();                 // monitor, before clone
  void AttachToContainerProcess();  // container process: pipes become fds 1 and 2
  void CloseWriteEnds();            // monitor, after clone
  // What the container wrote also goes to `seen` (stream 0 stdout, 1 stderr): `attach-socket` clients.
  using OutputSeen = std::function<void(int s, const char* data, size_t length)>;
  bool ReadStream(int s, const OutputSeen& seen = nullptr);  // poll said readable; false at EOF
  void AddTerminalOutput(const char* data, size_t length);  // terminal mode: the pty is the output
  void Drain(const OutputSeen& seen = nullptr);  // the container ended: read what is left, flush partial lines
  void Add(LogStream& stream, const char* data, size_t length, bool more);
  void WriteEntry(const std::string& chunk, const char* stream);
  void Rotate();
};

// --- helper-report.cc: messages and per-step reporting, shared by both helper processes ---
constexpr int kControlFd = 3;   // the control socket to TypeScript
extern bool gTracing;           // `trace 1`
extern std::vector<std::string> gTraceLines;  // syscalls of the step being run
extern bool gControlOpen;       // false once fd 3 is closed
extern int gChannel;            // the container process' end of the channel
extern bool gInContainerProcess;
void SendControl(const std::vector<std::string>& fields);  // monitor -> TypeScript
void Report(const std::vector<std::string>& fields);       // to TypeScript, from either process
// One channel packet; one fd it carries (SCM_RIGHTS) goes to *passedFd (-1: none), else is closed.
bool ReceivePacket(int fd, std::vector<std::string>& fields, int* passedFd = nullptr);
// sendmsg(data + one fd as SCM_RIGHTS), EINTR retried; returns sendmsg's result.
ssize_t SendWithFd(int socket, const std::string& data, int fd);
// recvmsg into buffer, EINTR retried; a passed fd (SCM_RIGHTS) goes to *fd, else -1.
ssize_t ReceiveWithFd(int socket, char* buffer, size_t size, int* fd);
void FlushTrace(const Step& step);
std::vector<std::string> ErrorMessage(const Step& step, const StepFailure& failure);
// Thrown after an `error` message went out: unwinds to the process' exit path.
struct StepAborted {};
// Run one step: its syscalls become one `trace` message, a failure one `error` message.
void RunStep(const Step& step, const std::function<void()>& body);
// Work done ahead for a step that reports its trace later: only a failure is reported (as that step).
void PrepareStep(const Step& step, const std::function<void()>& body);
uint64_t Number(const std::string& text, int base = 10);  // Fail(EINVAL) if not a number
int64_t SignedNumber(const std::string& text);

// --- helper.cc: what the monitor decided before the clone ---
struct Settings {
  std::string mode = "run";  // create | run | exec
  bool detach = false;
  bool monitor = true;  // `monitor 0`: hand the container to our parent's subreaper after `ready`
  bool terminal = false;
  std::string id, stateDir, execFifo, consoleSocket;
  uint64_t cloneFlags = 0;    // namespaces clone3 creates
  uint64_t unshareFlags = 0;  // namespaces the container process creates itself (cgroup, see main)
  int stateDirFd = -1;
  int consoleSocketFd = -1;    // the container process sends the pty master here
  int terminalReceiver = -1;    // terminal mode: our end of that socket
  unsigned short consoleRows = 0, consoleColumns = 0;  // `console-size`: the pty's initial size
  std::string oomCheckPath;    // `oom-check`: memory.events (v2) or memory.oom_control (v1)
  int cloneCgroupFd = -1;      // `cgroup-clone-into`: the cgroup2 directory clone3 puts the child in
  bool clonedIntoCgroup = false;  // the kernel did (else the monitor writes its cgroup.procs)
  bool cgroupWait = false;        // the plan has `cgroup-wait` (limits written while the container mounts)
  // `cgroup-join` of v1 hierarchies: `<dir>/tasks`, opened by the monitor (as host root) for the
  // container process, which moves itself (`echo 0 > tasks`): right after "go", or with
  // `cgroup-wait` when it gets there (the monitor hands them over then: the caller makes the
  // directories while the container process sets up its first mounts).
  std::vector<std::pair<const Step*, int>> selfJoins;
  ContainerLog log;            // `log-file`
  // `mount-idmap`: the detached idmapped trees the monitor made as host root, one per step, with
  // the trace of that work (the container process reports it with its move_mount).
  struct IdmappedTree {
    const Step* step;
    int fd;
    std::vector<std::string> trace;
  };
  std::vector<IdmappedTree> idmappedTrees;
};
bool IsSetting(const std::string& op);
bool IsMonitorSetns(const Step& step);  // setns pid/time: the monitor's own
bool IsAfterCloneMonitorOp(const std::string& op);
bool IsMonitorOp(const Step& step);
bool IsProcessAttribute(const std::string& op);  // the console is set up before the first one

// --- helper-container.cc ---
[[noreturn]] void ContainerProcess(const std::vector<Step>& plan, const Settings& settings, const Step* cloneStep);

}  // namespace hull
