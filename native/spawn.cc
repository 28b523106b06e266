// Starting hull-helper without node:child_process: loading child_process (and the `net` it pulls
// in) costs ~5 ms of every CLI start, and child_process.spawn forks through libuv with a pipe per
// stdio slot. Here:
//   sealedHelper(path)  once per process, an fd of the helper nobody can write (CVE-2019-5736): the
//                       file itself seen through a detached read-only mount, or a sealed memfd copy;
//                       each helper runs from it and skips its own copy and second execve;
//   spawn(options)      clone(CLONE_VM|CLONE_VFORK|CLONE_PIDFD) on a private stack, fd map, execveat;
//   watchFd(...)        a uv_poll on any fd (pipe ends, the control socket, a pidfd) for the event loop;
//   waitPidfd(pidfd)    reap a child without blocking once its pidfd polls readable.
#include <fcntl.h>
#include <linux/close_range.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "addon.h"
#include "errors.h"

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U  // Linux 6.3; Debian 12's headers predate it
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020  // Linux 6.3: nobody may chmod the copy either
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif

namespace hull {
namespace {

// ===== The protected helper =====

// One fd per helper path and process: every helper started from it finds /proc/self/exe already
// protected (native/helper.cc) and runs as it is. The fd is CLOEXEC and stays open.
std::map<std::string, int> gSealedCopies;
std::mutex gSealedCopiesLock;  // worker threads share the process, and so the copies

// The helper file itself, through a detached read-only bind of its *directory* (open_tree
// OPEN_TREE_CLONE, mount_setattr RDONLY|NOSUID|NODEV): its pages are the page cache of the file on
// disk, shared by every monitor, where a memfd copy costs each monitor ~1 MB of shmem. Writes
// through /proc/<pid>/exe (or an O_PATH fd of it reopened) fail with EROFS. Why the directory and
// not the file: a bind of the file makes the exe the root of a mount of an anonymous namespace, and
// mount_setattr accepts such a root from anyone with CAP_SYS_ADMIN over their *own* mount namespace
// (root of any user-namespaced container), who could clear MOUNT_ATTR_RDONLY through
// /proc/self/exe. Below the root of the mount, the exe path is no mount root: mount_setattr,
// MS_REMOUNT|MS_BIND and open_tree(OPEN_TREE_CLONE) of it all fail with EINVAL (runc 1.2 uses a
// lower-only overlayfs for the same reason). The mount lives as long as an fd or an exe refers to it.
// Returns -errno; the caller falls back to the sealed copy.
int OpenReadOnlyBind(const std::string& path, const char** failedSyscall) {
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  int tree = static_cast<int>(syscall(SYS_open_tree, AT_FDCWD, dir.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
  if (tree < 0) return *failedSyscall = "open_tree", -errno;
  struct mount_attr attr = {};
  attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
  int err = 0;
  if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0) err = errno, *failedSyscall = "mount_setattr";
  int exe = err ? -1 : openat(tree, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (!err && exe < 0) err = errno, *failedSyscall = "openat";
  close(tree);
  if (err) return -err;
  // Not executable from there (a noexec source mount is cloned noexec; not a regular file): the copy.
  struct statvfs vfs;
  struct stat st;
  if (fstatvfs(exe, &vfs) < 0 || fstat(exe, &st) < 0 || (vfs.f_flag & ST_NOEXEC) || !(vfs.f_flag & ST_RDONLY) ||
      !S_ISREG(st.st_mode)) {
    close(exe);
    return *failedSyscall = "fstatvfs", -ENOEXEC;
  }
  return exe;
}

int MakeSealedCopy(const std::string& path, const char** failedSyscall) {
  int source = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (source < 0) return *failedSyscall = "open", -errno;
  struct stat st;
  if (fstat(source, &st) < 0) {
    int err = errno;
    close(source);
    return *failedSyscall = "fstat", -err;
  }
  int copy = memfd_create("hull-helper", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
  if (copy < 0 && errno == EINVAL) copy = memfd_create("hull-helper", MFD_CLOEXEC | MFD_ALLOW_SEALING);  // < 6.3
  if (copy < 0) {
    int err = errno;
    close(source);
    return *failedSyscall = "memfd_create", -err;
  }
  int err = 0;
  for (off_t done = 0; done < st.st_size && !err;) {
    ssize_t n = sendfile(copy, source, &done, st.st_size - done);
    if (n < 0 && errno != EINTR) err = errno, *failedSyscall = "sendfile";
    if (n == 0) err = EIO, *failedSyscall = "sendfile";  // the file shrank under us
  }
  close(source);
  const int seals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;
  if (!err && fcntl(copy, F_ADD_SEALS, seals | F_SEAL_EXEC) < 0 && fcntl(copy, F_ADD_SEALS, seals) < 0) {
    err = errno, *failedSyscall = "fcntl";
  }
  if (err) {
    close(copy);
    return -err;
  }
  return copy;
}

Napi::Value SealedHelper(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "sealedHelper: expected a path");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  std::lock_guard<std::mutex> hold(gSealedCopiesLock);
  auto found = gSealedCopies.find(path);
  if (found != gSealedCopies.end()) return Napi::Number::New(env, found->second);
  const char* failedSyscall = "";
  // HULL_HELPER_MEMFD=1 forces the sealed copy (tests of the fallback).
  const char* forceCopy = getenv("HULL_HELPER_MEMFD");
  int fd = forceCopy && *forceCopy == '1' ? -1 : OpenReadOnlyBind(path, &failedSyscall);
  if (fd < 0) fd = MakeSealedCopy(path, &failedSyscall);  // no mount API, EPERM (no CAP_SYS_ADMIN), noexec
  if (fd < 0) ThrowSystemError(env, -fd, failedSyscall, path);
  gSealedCopies[path] = fd;
  return Napi::Number::New(env, fd);
}

// ===== spawn =====

// Everything the child needs, prepared by the parent: the child shares our memory (CLONE_VM) and
// may only make raw syscalls (no malloc, no locks: another thread may hold them). It reports a
// failure by writing `err`/`failedSyscall` here before exiting; the parent reads them once the
// vfork returns (exec or exit).
struct ChildArgs {
  int execFd = -1;  // execveat(execFd, "") if >= 0, else execve(path)
  const char* path = nullptr;
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  const int* childFds = nullptr;
  const int* parentFds = nullptr;
  int* movedFds = nullptr;  // scratch: each parent fd moved above every number in use
  const unsigned char* mapped = nullptr;  // mapped[n]: child fd n is a target (0..maxChildFd)
  int count = 0;
  int maxChildFd = -1;
  int aboveAll = 0;  // lowest fd number above every child and parent fd of the map
  int err = 0;
  const char* failedSyscall = nullptr;
};

// The kernel's struct sigaction (glibc's differs in layout): handler, flags, restorer, mask.
struct KernelSigaction {
  void (*handler)(int);
  unsigned long flags;
  void (*restorer)();
  uint64_t mask;
};

int Fail(ChildArgs* a, const char* syscallName) {
  a->err = errno;
  a->failedSyscall = syscallName;
  _exit(127);
}

int ChildMain(void* arg) {
  ChildArgs* a = static_cast<ChildArgs*>(arg);
  // Dispositions: handlers would point into Node's code (execve resets those anyway), and what Node
  // ignores (SIGPIPE) would stay ignored in the helper and its container. All to default, as libuv
  // does for child_process. Signals are still all blocked (the parent blocked them around clone).
  KernelSigaction dfl = {SIG_DFL, 0, nullptr, 0};
  for (int sig = 1; sig <= 64; sig++) {
    if (sig != SIGKILL && sig != SIGSTOP) syscall(SYS_rt_sigaction, sig, &dfl, nullptr, sizeof(uint64_t));
  }
  // fd map in two passes, so a target that is also another entry's source is never clobbered:
  // first every source above every number involved, then each onto its target.
  for (int i = 0; i < a->count; i++) {
    a->movedFds[i] = static_cast<int>(syscall(SYS_fcntl, a->parentFds[i], F_DUPFD_CLOEXEC, a->aboveAll));
    if (a->movedFds[i] < 0) return Fail(a, "fcntl");
  }
  int execFd = a->execFd;
  if (execFd >= 0 && execFd <= a->maxChildFd) {
    execFd = static_cast<int>(syscall(SYS_fcntl, execFd, F_DUPFD_CLOEXEC, a->aboveAll));
    if (execFd < 0) return Fail(a, "fcntl");
  }
  for (int i = 0; i < a->count; i++) {
    if (syscall(SYS_dup3, a->movedFds[i], a->childFds[i], 0) < 0) return Fail(a, "dup3");
  }
  for (int fd = 0; fd <= a->maxChildFd; fd++) {
    if (!a->mapped[fd]) syscall(SYS_close, fd);  // a hole in the map: the child has no such fd
  }
  // Whatever else we have open (Node's own fds, the moved copies) goes away at execve.
  if (syscall(SYS_close_range, a->maxChildFd + 1, ~0U, CLOSE_RANGE_CLOEXEC) < 0) return Fail(a, "close_range");
  uint64_t none = 0;
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, nullptr, sizeof none);
  if (execFd >= 0) {
    syscall(SYS_execveat, execFd, "", a->argv, a->envp, AT_EMPTY_PATH);
  } else {
    syscall(SYS_execve, a->path, a->argv, a->envp);
  }
  return Fail(a, "execve");
}

std::vector<std::string> StringArray(Napi::Env env, Napi::Value value, const char* name) {
  std::vector<std::string> out;
  if (value.IsUndefined()) return out;
  if (!value.IsArray()) throw Napi::TypeError::New(env, std::string("spawn: ") + name + " must be an array of strings");
  Napi::Array array = value.As<Napi::Array>();
  for (uint32_t i = 0; i < array.Length(); i++) {
    Napi::Value item = array.Get(i);
    if (!item.IsString()) throw Napi::TypeError::New(env, std::string("spawn: ") + name + " must be an array of strings");
    out.push_back(item.As<Napi::String>().Utf8Value());
  }
  return out;
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(&s[0]);
  out.push_back(nullptr);
  return out;
}

// Stack for the child: it runs only ChildMain, a few hundred bytes deep.
constexpr size_t kChildStack = 64 * 1024;

Napi::Value Spawn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "spawn: expected an options object");
  Napi::Object opts = info[0].As<Napi::Object>();
  ChildArgs args;
  std::string path = opts.Has("path") && opts.Get("path").IsString() ? opts.Get("path").As<Napi::String>().Utf8Value() : "";
  if (opts.Has("fd") && opts.Get("fd").IsNumber()) args.execFd = opts.Get("fd").As<Napi::Number>().Int32Value();
  if (args.execFd < 0 && path.empty()) throw Napi::TypeError::New(env, "spawn: needs a path or an fd");
  std::vector<std::string> argvStrings = StringArray(env, opts.Get("argv"), "argv");
  if (argvStrings.empty()) argvStrings.push_back(path.empty() ? "hull-helper" : path);
  std::vector<std::string> envStrings = StringArray(env, opts.Get("env"), "env");
  std::vector<char*> argv = Pointers(argvStrings), envp = Pointers(envStrings);

  std::vector<int> childFds, parentFds;
  Napi::Value fdsValue = opts.Get("fds");
  if (!fdsValue.IsUndefined()) {
    if (!fdsValue.IsArray()) throw Napi::TypeError::New(env, "spawn: fds must be [childFd, parentFd] pairs");
    Napi::Array fds = fdsValue.As<Napi::Array>();
    for (uint32_t i = 0; i < fds.Length(); i++) {
      Napi::Value pair = fds.Get(i);
      if (!pair.IsArray() || pair.As<Napi::Array>().Length() != 2 || !pair.As<Napi::Array>().Get(0u).IsNumber() ||
          !pair.As<Napi::Array>().Get(1u).IsNumber()) {
        throw Napi::TypeError::New(env, "spawn: fds must be [childFd, parentFd] pairs");
      }
      int child = pair.As<Napi::Array>().Get(0u).As<Napi::Number>().Int32Value();
      int parent = pair.As<Napi::Array>().Get(1u).As<Napi::Number>().Int32Value();
      if (child < 0 || child > 1023 || parent < 0) throw Napi::RangeError::New(env, "spawn: fd out of range");
      childFds.push_back(child);
      parentFds.push_back(parent);
    }
  }
  args.count = static_cast<int>(childFds.size());
  int highest = args.execFd;
  for (int i = 0; i < args.count; i++) {
    args.maxChildFd = std::max(args.maxChildFd, childFds[i]);
    highest = std::max({highest, childFds[i], parentFds[i]});
  }
  std::vector<unsigned char> mapped(args.maxChildFd + 1, 0);
  for (int fd : childFds) mapped[fd] = 1;
  std::vector<int> moved(args.count + 1, -1);
  args.aboveAll = highest + 1;
  args.childFds = childFds.data();
  args.parentFds = parentFds.data();
  args.movedFds = moved.data();
  args.mapped = mapped.data();
  args.path = path.c_str();
  args.argv = argv.data();
  args.envp = envp.data();

  void* stack = mmap(nullptr, kChildStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) ThrowSystemError(env, errno, "mmap");
  // No signal handler of ours may run in the child (it would run on Node's data with our memory):
  // block everything across the clone; the child clears its mask right before execve.
  sigset_t all, saved;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &saved);
  int pidfd = -1;
  // CLONE_VFORK: we continue once the child has exec'd or exited, so `args` is settled then.
  pid_t pid = clone(ChildMain, static_cast<char*>(stack) + kChildStack, CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD,
                    &args, &pidfd);
  int cloneErr = errno;
  pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  munmap(stack, kChildStack);
  if (pid < 0) ThrowSystemError(env, cloneErr, "clone", path);
  if (args.err) {
    siginfo_t reaped;
    while (waitid(static_cast<idtype_t>(P_PIDFD), pidfd, &reaped, WEXITED) < 0 && errno == EINTR) {
    }
    close(pidfd);
    ThrowSystemError(env, args.err, args.failedSyscall, path);
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("pid", Napi::Number::New(env, pid));
  result.Set("pidfd", Napi::Number::New(env, pidfd));
  return result;
}

// What a WNOHANG waitid found: null (still running), else { exitCode (null if killed), signal }.
Napi::Value ExitStatus(Napi::Env env, const siginfo_t& status) {
  if (status.si_pid == 0) return env.Null();
  Napi::Object result = Napi::Object::New(env);
  bool exited = status.si_code == CLD_EXITED;
  result.Set("exitCode", exited ? Napi::Number::New(env, status.si_status) : env.Null());
  result.Set("signal", Napi::Number::New(env, exited ? 0 : status.si_status));
  return result;
}

// waitid(P_PIDFD, WEXITED|WNOHANG): null while the child runs, else how it ended. Reaps it.
Napi::Value WaitPidfd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int pidfd = IntArg(info, 0, "waitPidfd", "pidfd");
  siginfo_t status = {};
  int rc;
  do {
    rc = waitid(static_cast<idtype_t>(P_PIDFD), pidfd, &status, WEXITED | WNOHANG);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) ThrowSystemError(env, errno, "waitid");
  return ExitStatus(env, status);
}

// waitid(P_PID, WEXITED|WNOHANG) for a child we no longer hold a pidfd of: null while it runs
// (or if it is not our child any more: ECHILD), else how it ended. Reaps it.
Napi::Value WaitPid(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int pid = IntArg(info, 0, "waitPid", "pid");
  siginfo_t status = {};
  int rc;
  do {
    rc = waitid(P_PID, static_cast<id_t>(pid), &status, WEXITED | WNOHANG);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) ThrowSystemError(env, errno, "waitid", std::to_string(pid));
  return ExitStatus(env, status);
}

// pipe2(O_CLOEXEC): [read end, write end].
Napi::Value Pipe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) ThrowSystemError(env, errno, "pipe2");
  Napi::Array result = Napi::Array::New(env, 2);
  result.Set(0u, Napi::Number::New(env, fds[0]));
  result.Set(1u, Napi::Number::New(env, fds[1]));
  return result;
}

// O_NONBLOCK on our end of a pipe or socket (the child's end is another open file: unaffected).
Napi::Value SetNonblocking(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = IntArg(info, 0, "setNonblocking", "fd");
  bool on = info.Length() < 2 || info[1].ToBoolean().Value();
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK) < 0) {
    ThrowSystemError(env, errno, "fcntl", std::to_string(fd));
  }
  return env.Undefined();
}

// ===== watchFd: a uv_poll for the event loop =====

// watchFd(fd, events, cb) → handle; cb(status, events) runs on the JS thread whenever the fd is
// ready for one of `events` (1 readable, 2 writable, 4 hangup-only). Level-triggered: a callback
// that does not consume the readiness is called again. The handle keeps itself alive until close().
class FdWatch : public Napi::ObjectWrap<FdWatch> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "FdWatch",
                       {InstanceMethod("start", &FdWatch::Start), InstanceMethod("stop", &FdWatch::Stop),
                        InstanceMethod("ref", &FdWatch::RefHandle), InstanceMethod("unref", &FdWatch::UnrefHandle),
                        InstanceMethod("close", &FdWatch::Close)});
  }

  FdWatch(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FdWatch>(info), context_(info.Env(), "hull.watchFd") {
    Napi::Env env = info.Env();
    fd_ = IntArg(info, 0, "watchFd", "fd");
    if (info.Length() < 2 || !info[1].IsFunction()) throw Napi::TypeError::New(env, "watchFd: expected a callback");
    callback_ = Napi::Persistent(info[1].As<Napi::Function>());
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    poll_ = new uv_poll_t{};
    int rc = uv_poll_init(loop, poll_, fd_);
    if (rc < 0) {
      delete poll_;
      poll_ = nullptr;
      ThrowSystemError(env, -rc, "epoll_ctl", std::to_string(fd_));
    }
    poll_->data = this;
    open_ = true;
    Ref();  // alive until close(), whoever holds the JS object
  }

  // Node-API finalizes wrapped objects when the environment is torn down, and only afterwards
  // runs the event loop once more to close handles: a pidfd or pipe that becomes ready then
  // (a helper killed in an exit hook) must not call back into a deleted object. The handle lives
  // on the heap, outlives us if it must, and forgets us here.
  ~FdWatch() override {
    if (!poll_) return;
    poll_->data = nullptr;
    if (open_) {
      uv_poll_stop(poll_);
      uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    }  // else close() is in flight: OnClosed deletes it
  }

 private:
  static void OnPoll(uv_poll_t* handle, int status, int events) {
    FdWatch* self = static_cast<FdWatch*>(handle->data);
    if (!self) return;  // finalized during environment teardown
    Napi::Env env = self->Env();
    Napi::HandleScope scope(env);
    try {
      self->callback_.MakeCallback(self->Value(), {Napi::Number::New(env, status), Napi::Number::New(env, events)},
                                   self->context_);
    } catch (const Napi::Error& e) {
      napi_fatal_exception(env, e.Value());
    }
  }

  static void OnClosed(uv_handle_t* handle) {
    FdWatch* self = static_cast<FdWatch*>(handle->data);
    delete reinterpret_cast<uv_poll_t*>(handle);
    if (!self) return;
    self->poll_ = nullptr;
    self->callback_.Reset();
    self->Unref();  // the JS object may now be collected (and this with it)
  }

  Napi::Value Start(const Napi::CallbackInfo& info) {
    int events = IntArg(info, 0, "start", "events");
    if (!open_) throw Napi::Error::New(info.Env(), "watchFd: closed");
    int uvEvents = (events & 1 ? UV_READABLE : 0) | (events & 2 ? UV_WRITABLE : 0) | (events & 4 ? UV_DISCONNECT : 0);
    int rc = uv_poll_start(poll_, uvEvents, OnPoll);
    if (rc < 0) ThrowSystemError(info.Env(), -rc, "epoll_ctl", std::to_string(fd_));
    return info.Env().Undefined();
  }
  Napi::Value Stop(const Napi::CallbackInfo& info) {
    if (open_) uv_poll_stop(poll_);
    return info.Env().Undefined();
  }
  Napi::Value RefHandle(const Napi::CallbackInfo& info) {
    if (open_) uv_ref(reinterpret_cast<uv_handle_t*>(poll_));
    return info.Env().Undefined();
  }
  Napi::Value UnrefHandle(const Napi::CallbackInfo& info) {
    if (open_) uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
    return info.Env().Undefined();
  }
  // Stops watching; the fd itself stays open (its owner closes it, after this).
  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (open_) {
      open_ = false;
      uv_close(reinterpret_cast<uv_handle_t*>(poll_), OnClosed);
    }
    return info.Env().Undefined();
  }

  int fd_ = -1;
  bool open_ = false;
  uv_poll_t* poll_ = nullptr;  // heap: may outlive this object (see ~FdWatch)
  Napi::FunctionReference callback_;
  Napi::AsyncContext context_;
};

}  // namespace

void RegisterSpawn(Napi::Env env, Napi::Object exports) {
  exports.Set("sealedHelper", Napi::Function::New(env, SealedHelper, "sealedHelper"));
  exports.Set("spawn", Napi::Function::New(env, Spawn, "spawn"));
  exports.Set("waitPidfd", Napi::Function::New(env, WaitPidfd, "waitPidfd"));
  exports.Set("waitPid", Napi::Function::New(env, WaitPid, "waitPid"));
  exports.Set("pipe", Napi::Function::New(env, Pipe, "pipe"));
  exports.Set("setNonblocking", Napi::Function::New(env, SetNonblocking, "setNonblocking"));
  // watchFd(fd, cb) rather than `new FdWatch`: reads like the other exports. The constructor
  // reference lives as long as the process (one addon instance per process in hull).
  auto* ctor = new Napi::FunctionReference(Napi::Persistent(FdWatch::Define(env)));
  exports.Set("watchFd", Napi::Function::New(
                             env,
                             [](const Napi::CallbackInfo& info) -> Napi::Value {
                               auto* ctor = static_cast<Napi::FunctionReference*>(info.Data());
                               std::vector<napi_value> args(info.Length());
                               for (size_t i = 0; i < info.Length(); i++) args[i] = info[i];
                               return ctor->New(args);
                             },
                             "watchFd", ctor));
}

}  // namespace hull
