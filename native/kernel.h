// Shared declarations of the helper's kernel-facing files. Each .cc wraps one kernel concept:
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
#include <string>
#include <vector>

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
void MakeDeviceInRoot(int rootFd, const std::string& path, char type, unsigned major,
                      unsigned minor, mode_t mode, uid_t uid, gid_t gid);
void SymlinkInRoot(int rootFd, const std::string& target, const std::string& path);
void PivotRoot(int rootFd, bool chrootOnly);
void RemountRootReadonly();
void MaskPath(int rootFd, const std::string& path);
void ReadonlyPath(int rootFd, const std::string& path);

// --- ns.cc ---
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080  // glibc 2.36's <sched.h> predates it
#endif
// "user,pid,mount" -> CLONE_NEWUSER|CLONE_NEWPID|CLONE_NEWNS. Fails on an unknown name.
uint64_t CloneFlagsFromList(const std::string& list);
uint64_t CloneFlagForType(const std::string& type);  // setns types: "net" -> CLONE_NEWNET
std::string FormatCloneFlags(uint64_t flags);
pid_t CloneContainerProcess(uint64_t flags);  // clone3 without a new stack: returns 0 in the child
void JoinNamespace(const std::string& type, const std::string& path);
void UnshareNamespaces(uint64_t flags);
// A kernel control file (/proc, cgroupfs) written with one write(2).
void WriteProcFile(const std::string& path, const std::string& content);
void WriteSetgroups(pid_t pid, const std::string& value);
void WriteIdMap(pid_t pid, const char* file, const std::string& lines);
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
void SetupConsole(int rootFd, int consoleSocket);
// `terminal 1` without a console socket: the monitor receives the master over its own socketpair
// and relays it to its stdio, in raw mode when that is a terminal.
int ReceivePtyMaster(int socket);  // -1 on failure
void GiveStdioToUser(uid_t uid);  // before the `user` switch: fchown fds 0-2 (not /dev/null)
bool MakeRaw(int fd, struct termios* saved);
void CopyWindowSize(int from, int to);

}  // namespace hull
