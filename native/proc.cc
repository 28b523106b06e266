// Processes from the host side: pidfds (signals that cannot hit a recycled pid), kill, the
// subreaper flag, and marking inherited fds close-on-exec before spawning (CVE-2024-21626).
#include <dirent.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <string>

#include "addon.h"
#include "errors.h"

namespace hull {
namespace {

Napi::Value PidfdOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int pid = IntArg(info, 0, "pidfdOpen", "pid");
  // pidfds are always close-on-exec.
  long fd = syscall(SYS_pidfd_open, pid, 0);
  if (fd < 0) ThrowSystemError(env, errno, "pidfd_open", std::to_string(pid));
  return Napi::Number::New(env, static_cast<double>(fd));
}

Napi::Value PidfdSendSignal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int pidfd = IntArg(info, 0, "pidfdSendSignal", "pidfd");
  int signal = IntArg(info, 1, "pidfdSendSignal", "signal");
  if (syscall(SYS_pidfd_send_signal, pidfd, signal, nullptr, 0) < 0) {
    ThrowSystemError(env, errno, "pidfd_send_signal");
  }
  return env.Undefined();
}

// true = delivered (or, for signal 0, the process exists); false = no such process.
Napi::Value Kill(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int pid = IntArg(info, 0, "kill", "pid");
  int signal = IntArg(info, 1, "kill", "signal");
  if (kill(pid, signal) < 0) {
    if (errno == ESRCH) return Napi::Boolean::New(env, false);
    ThrowSystemError(env, errno, "kill", std::to_string(pid));
  }
  return Napi::Boolean::New(env, true);
}

Napi::Value SetChildSubreaper(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool on = info.Length() > 0 && info[0].ToBoolean().Value();
  if (prctl(PR_SET_CHILD_SUBREAPER, on ? 1 : 0, 0, 0, 0) < 0) {
    ThrowSystemError(env, errno, "prctl");
  }
  return env.Undefined();
}

// For kernels without CLOSE_RANGE_CLOEXEC (< 5.11): set FD_CLOEXEC on each open fd >= minFd.
int CloexecFromProcSelf(int minFd) {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return errno;
  int listingFd = dirfd(dir);
  while (struct dirent* entry = readdir(dir)) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
    int fd = atoi(entry->d_name);
    if (fd < minFd || fd == listingFd) continue;
    int flags = fcntl(fd, F_GETFD);
    if (flags >= 0 && !(flags & FD_CLOEXEC)) fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
  }
  closedir(dir);
  return 0;
}

Napi::Value CloexecFrom(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int minFd = IntArg(info, 0, "cloexecFrom", "minFd");
  if (minFd < 0) throw Napi::RangeError::New(env, "cloexecFrom: minFd must be >= 0");
  if (syscall(SYS_close_range, static_cast<unsigned>(minFd), ~0U, CLOSE_RANGE_CLOEXEC) == 0) {
    return env.Undefined();
  }
  if (errno != ENOSYS && errno != EINVAL) ThrowSystemError(env, errno, "close_range");
  if (int err = CloexecFromProcSelf(minFd)) ThrowSystemError(env, err, "opendir", "/proc/self/fd");
  return env.Undefined();
}

// exitNow(code): _exit(2) — the whole process ends here, without Node's teardown (environment
// cleanup, platform threads, static destructors: ~3 ms of every hull-oci call). Only for a caller
// that has nothing left to write or wait for.
Napi::Value ExitNow(const Napi::CallbackInfo& info) {
  int code = IntArg(info, 0, "exitNow", "code");
  _exit(code);
}

}  // namespace

void RegisterProc(Napi::Env env, Napi::Object exports) {
  exports.Set("exitNow", Napi::Function::New(env, ExitNow, "exitNow"));
  exports.Set("pidfdOpen", Napi::Function::New(env, PidfdOpen, "pidfdOpen"));
  exports.Set("pidfdSendSignal", Napi::Function::New(env, PidfdSendSignal, "pidfdSendSignal"));
  exports.Set("kill", Napi::Function::New(env, Kill, "kill"));
  exports.Set("setChildSubreaper", Napi::Function::New(env, SetChildSubreaper, "setChildSubreaper"));
  exports.Set("cloexecFrom", Napi::Function::New(env, CloexecFrom, "cloexecFrom"));
}

}  // namespace hull
