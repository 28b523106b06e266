// User namespace fds and idmapped mounts (mount_setattr MOUNT_ATTR_IDMAP, Linux 5.12+), for
// `--userns remap` (src/container/idmap.ts): image layers are shown to the container's overlay with
// their owners shifted into the remapped range, without copying or chowning anything on disk.
//
// usernsFd: a user namespace holding the given id maps, made without touching the Node process (it
// is multithreaded, so it may not unshare itself): a child cloned into a new user namespace blocks
// on a pipe while we write its maps and open /proc/PID/ns/user; then it exits and is reaped. The
// namespace lives on as long as the fd does.
//
// idmappedTree: open_tree(OPEN_TREE_CLONE) + mount_setattr(MOUNT_ATTR_IDMAP) gives a *detached*
// idmapped mount: attached nowhere, so nothing can leak into the mount table, and it goes away
// with its last reference (the fd, or an overlay using it as a layer).
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>
#include <vector>

#include "addon.h"
#include "errors.h"

namespace hull {
namespace {

struct Fd {
  int fd;
  explicit Fd(int f = -1) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd(Fd&& other) noexcept : fd(other.release()) {}
  ~Fd() {
    if (fd >= 0) close(fd);
  }
  int release() {
    int f = fd;
    fd = -1;
    return f;
  }
};

// "inside outside count\n" lines from [{inside, outside, count}] (the kernel's map format).
std::string MapText(Napi::Env env, const Napi::Value& value, const char* what) {
  if (!value.IsArray()) throw Napi::TypeError::New(env, std::string("usernsFd: ") + what + " must be an array");
  Napi::Array arr = value.As<Napi::Array>();
  if (arr.Length() == 0) throw Napi::TypeError::New(env, std::string("usernsFd: ") + what + " is empty");
  std::string out;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value v = arr.Get(i);
    if (!v.IsObject()) throw Napi::TypeError::New(env, std::string("usernsFd: ") + what + " entries are {inside, outside, count}");
    Napi::Object o = v.As<Napi::Object>();
    for (const char* key : {"inside", "outside", "count"}) {
      if (!o.Get(key).IsNumber()) throw Napi::TypeError::New(env, std::string("usernsFd: ") + what + "." + key + " must be a number");
    }
    out += std::to_string(o.Get("inside").As<Napi::Number>().Int64Value()) + " " +
           std::to_string(o.Get("outside").As<Napi::Number>().Int64Value()) + " " +
           std::to_string(o.Get("count").As<Napi::Number>().Int64Value()) + "\n";
  }
  return out;
}

// Writes a whole map file in one write(2), as the kernel requires. Returns errno or 0.
int WriteMap(const char* file, const std::string& text) {
  int fd = open(file, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  ssize_t n = write(fd, text.data(), text.size());
  int err = n == static_cast<ssize_t>(text.size()) ? 0 : (n < 0 ? errno : EIO);
  close(fd);
  return err;
}

// The namespace's first process: lives until the parent closes the pipe's write end.
int BlockUntilEof(void* arg) {
  const int* fds = static_cast<const int*>(arg);
  char c;
  syscall(SYS_close, fds[1]);
  while (syscall(SYS_read, fds[0], &c, 1) < 0) {
  }
  syscall(SYS_exit, 0);
  return 0;
}

Napi::Value UsernsFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2) throw Napi::TypeError::New(env, "usernsFd(uidMap, gidMap)");
  std::string uidMap = MapText(env, info[0], "uidMap");
  std::string gidMap = MapText(env, info[1], "gidMap");

  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) ThrowSystemError(env, errno, "pipe2");
  Fd readEnd(pipefd[0]), writeEnd(pipefd[1]);

  // The child shares our memory (CLONE_VM: no copy of Node's page tables) and runs on its own
  // small stack; glibc's clone() runs no atfork handlers. It makes raw syscalls only: closes its
  // copy of the write end, waits for EOF, exits.
  std::vector<char> stack(64 * 1024);
  int fds[2] = {pipefd[0], pipefd[1]};
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  long pid = clone(BlockUntilEof, stack.data() + stack.size(), CLONE_VM | CLONE_NEWUSER | SIGCHLD, fds);
  int cloneErr = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) ThrowSystemError(env, cloneErr, "clone", "CLONE_NEWUSER");

  // Nothing below may throw until the child is reaped: it runs on `stack`. Fixed buffers, no allocation.
  char uidPath[48], gidPath[48], nsPath[48];
  snprintf(uidPath, sizeof uidPath, "/proc/%ld/uid_map", pid);
  snprintf(gidPath, sizeof gidPath, "/proc/%ld/gid_map", pid);
  snprintf(nsPath, sizeof nsPath, "/proc/%ld/ns/user", pid);
  const char* failedCall = nullptr;
  const char* failedPath = nullptr;
  int err = 0;
  // Host root holds CAP_SETGID over the new namespace: gid_map needs no setgroups "deny" first.
  if ((err = WriteMap(uidPath, uidMap)) != 0) {
    failedCall = "write";
    failedPath = uidPath;
  } else if ((err = WriteMap(gidPath, gidMap)) != 0) {
    failedCall = "write";
    failedPath = gidPath;
  }
  int nsfd = -1;
  if (!err) {
    nsfd = open(nsPath, O_RDONLY | O_CLOEXEC);
    if (nsfd < 0) {
      err = errno;
      failedCall = "open";
      failedPath = nsPath;
    }
  }
  close(writeEnd.release());  // EOF: the child exits
  int status;
  while (waitpid(static_cast<pid_t>(pid), &status, 0) < 0 && errno == EINTR) {
  }
  if (err) ThrowSystemError(env, err, failedCall, failedPath);
  return Napi::Number::New(env, nsfd);
}

// A detached copy of the mount tree at `source` (open_tree OPEN_TREE_CLONE) shown through the
// user namespace `usernsFd` (mount_setattr MOUNT_ATTR_IDMAP).
Fd IdmappedClone(Napi::Env env, const std::string& source, int usernsFd, bool recursive) {
  unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0);
  Fd tree(open_tree(AT_FDCWD, source.c_str(), flags));
  if (tree.fd < 0) ThrowSystemError(env, errno, "open_tree", source);
  struct mount_attr attr = {};
  attr.attr_set = MOUNT_ATTR_IDMAP;
  attr.userns_fd = static_cast<uint64_t>(usernsFd);
  // EINVAL here: the filesystem does not support idmapped mounts (or the tree is already idmapped).
  if (mount_setattr(tree.fd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr, sizeof attr) != 0) {
    ThrowSystemError(env, errno, "mount_setattr", source);
  }
  return tree;
}

Napi::Value IdmappedTree(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber()) {
    throw Napi::TypeError::New(env, "idmappedTree(source, usernsFd, recursive?)");
  }
  std::string source = info[0].As<Napi::String>().Utf8Value();
  int usernsFd = info[1].As<Napi::Number>().Int32Value();
  bool recursive = info.Length() > 2 && info[2].ToBoolean().Value();

  return Napi::Number::New(env, IdmappedClone(env, source, usernsFd, recursive).release());
}

// Attaches an idmapped copy of `source` at `target` (for callers that need a path, e.g. kernels
// whose overlay takes no detached layers). The caller unmounts it.
Napi::Value IdmappedMount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsString() || !info[2].IsNumber()) {
    throw Napi::TypeError::New(env, "idmappedMount(source, target, usernsFd, recursive?)");
  }
  std::string source = info[0].As<Napi::String>().Utf8Value();
  std::string target = info[1].As<Napi::String>().Utf8Value();
  int usernsFd = info[2].As<Napi::Number>().Int32Value();
  bool recursive = info.Length() > 3 && info[3].ToBoolean().Value();
  Fd tree = IdmappedClone(env, source, usernsFd, recursive);
  if (move_mount(tree.fd, "", AT_FDCWD, target.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0) {
    ThrowSystemError(env, errno, "move_mount", target);
  }
  return env.Undefined();
}

}  // namespace

void RegisterUserns(Napi::Env env, Napi::Object exports) {
  exports.Set("usernsFd", Napi::Function::New(env, UsernsFd, "usernsFd"));
  exports.Set("idmappedTree", Napi::Function::New(env, IdmappedTree, "idmappedTree"));
  exports.Set("idmappedMount", Napi::Function::New(env, IdmappedMount, "idmappedMount"));
}

}  // namespace hull
