// Files inside a root directory that may be hostile (a container rootfs or an image layer):
// every lookup is confined with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS), so an absolute
// or `..` symlink resolves inside the root instead of on the host (REFERENCE §8).
// Also the small host-side file calls JS lacks: mknod, l*xattr, flock, fsync of a directory, statfs.
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <deque>
#include <string>
#include <vector>

#include "addon.h"
#include "errors.h"

namespace hull {
namespace {

// --- argument checks (precise TypeErrors before any syscall) ---

std::string StringArg(const Napi::CallbackInfo& info, size_t index, const char* fn, const char* name) {
  if (info.Length() <= index || !info[index].IsString()) {
    throw Napi::TypeError::New(info.Env(), std::string(fn) + ": expected a string for " + name);
  }
  return info[index].As<Napi::String>().Utf8Value();
}

// Closes an fd when it goes out of scope.
struct FdGuard {
  int fd;
  explicit FdGuard(int f) : fd(f) {}
  ~FdGuard() {
    if (fd >= 0) close(fd);
  }
  FdGuard(const FdGuard&) = delete;
  FdGuard& operator=(const FdGuard&) = delete;
  int release() {
    int f = fd;
    fd = -1;
    return f;
  }
};

constexpr uint64_t kInRoot = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;

// openat2 retried on EINTR and on EAGAIN (the kernel's "a rename raced the lookup" answer).
int OpenAt2(int dirFd, const char* path, uint64_t flags, uint64_t mode, uint64_t resolve) {
  struct open_how how = {};
  how.flags = flags | O_CLOEXEC;
  // The kernel rejects a mode without O_CREAT/O_TMPFILE.
  how.mode = (flags & (O_CREAT | __O_TMPFILE)) ? mode : 0;
  how.resolve = resolve;
  for (int attempt = 0;; attempt++) {
    long fd = syscall(SYS_openat2, dirFd, path, &how, sizeof how);
    if (fd >= 0) return static_cast<int>(fd);
    if (errno == EINTR || (errno == EAGAIN && attempt < 64)) continue;
    return -1;
  }
}

Napi::Value OpenInRoot(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int rootFd = IntArg(info, 0, "openInRoot", "rootFd");
  std::string relPath = StringArg(info, 1, "openInRoot", "relPath");
  int flags = IntArg(info, 2, "openInRoot", "flags");
  int mode = IntArg(info, 3, "openInRoot", "mode");
  int fd = OpenAt2(rootFd, relPath.c_str(), static_cast<unsigned>(flags), static_cast<unsigned>(mode), kInRoot);
  if (fd < 0) ThrowSystemError(env, errno, "openat2", relPath);
  return Napi::Number::New(env, fd);
}

// Splits "a//b/./c" into {"a", "b", ".", "c"} ("." is skipped later, ".." kept).
std::deque<std::string> SplitPath(const std::string& path) {
  std::deque<std::string> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    if (end > start) parts.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

std::string JoinPath(const std::vector<std::string>& parts) {
  std::string joined = ".";
  for (const auto& part : parts) joined += "/" + part;
  return joined;
}

// mkdir -p inside the root, one component at a time, never letting the kernel follow a symlink:
// symlinks are read and their targets spliced into the remaining path (absolute ones restart at
// the root, `..` never climbs above it), so the walk stays confined even through hostile links.
// Returns 0 or an errno.
int MkdirAllInRoot(int rootFd, const std::string& relPath, mode_t mode) {
  std::deque<std::string> pending = SplitPath(relPath);
  std::vector<std::string> resolved;  // symlink-free path from the root to `current`
  int current = OpenAt2(rootFd, ".", O_PATH | O_DIRECTORY, 0, kInRoot);
  if (current < 0) return errno;
  FdGuard currentGuard(current);
  int symlinksFollowed = 0;

  auto reopenResolved = [&]() -> int {
    int fd = OpenAt2(rootFd, JoinPath(resolved).c_str(), O_PATH | O_DIRECTORY, 0, kInRoot | RESOLVE_NO_SYMLINKS);
    if (fd < 0) return errno;
    close(currentGuard.release());
    currentGuard.fd = fd;
    return 0;
  };

  while (!pending.empty()) {
    std::string name = pending.front();
    pending.pop_front();
    if (name == ".") continue;
    if (name == "..") {
      if (!resolved.empty()) resolved.pop_back();
      if (int err = reopenResolved()) return err;
      continue;
    }

    struct stat st;
    if (fstatat(currentGuard.fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
      if (errno != ENOENT) return errno;
      if (mkdirat(currentGuard.fd, name.c_str(), mode) < 0 && errno != EEXIST) return errno;
      pending.push_front(name);  // look at what is there now (ours, or a racing creator's)
      continue;
    }
    if (S_ISLNK(st.st_mode)) {
      if (++symlinksFollowed > 40) return ELOOP;
      std::vector<char> target(st.st_size > 0 ? st.st_size + 1 : PATH_MAX);
      ssize_t len = readlinkat(currentGuard.fd, name.c_str(), target.data(), target.size());
      if (len < 0) return errno;
      std::string link(target.data(), static_cast<size_t>(len));
      std::deque<std::string> linkParts = SplitPath(link);
      pending.insert(pending.begin(), linkParts.begin(), linkParts.end());
      if (!link.empty() && link[0] == '/') {
        resolved.clear();
        if (int err = reopenResolved()) return err;
      }
      continue;
    }
    if (!S_ISDIR(st.st_mode)) return ENOTDIR;
    int next = OpenAt2(currentGuard.fd, name.c_str(), O_PATH | O_DIRECTORY, 0,
                       RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
    if (next < 0) return errno;
    close(currentGuard.release());
    currentGuard.fd = next;
    resolved.push_back(name);
  }
  return 0;
}

Napi::Value MkdirInRoot(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int rootFd = IntArg(info, 0, "mkdirInRoot", "rootFd");
  std::string relPath = StringArg(info, 1, "mkdirInRoot", "relPath");
  int mode = IntArg(info, 2, "mkdirInRoot", "mode");
  if (int err = MkdirAllInRoot(rootFd, relPath, static_cast<mode_t>(mode))) {
    ThrowSystemError(env, err, "mkdirat", relPath);
  }
  return env.Undefined();
}

Napi::Value Mknod(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = StringArg(info, 0, "mknod", "path");
  std::string type = StringArg(info, 1, "mknod", "type");
  int mode = IntArg(info, 2, "mknod", "mode");
  int major = IntArg(info, 3, "mknod", "major");
  int minor = IntArg(info, 4, "mknod", "minor");
  mode_t fileType;
  if (type == "c") {
    fileType = S_IFCHR;
  } else if (type == "b") {
    fileType = S_IFBLK;
  } else if (type == "p") {
    fileType = S_IFIFO;
  } else {
    throw Napi::TypeError::New(env, "mknod: expected 'c', 'b' or 'p' for type but received '" + type + "'");
  }
  if (mknod(path.c_str(), fileType | (mode & 07777), makedev(major, minor)) < 0) {
    ThrowSystemError(env, errno, "mknod", path);
  }
  return env.Undefined();
}

Napi::Value Getxattr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = StringArg(info, 0, "getxattr", "path");
  std::string name = StringArg(info, 1, "getxattr", "name");
  // Size, then read; a value that grows in between gives ERANGE and another round.
  for (;;) {
    ssize_t size = lgetxattr(path.c_str(), name.c_str(), nullptr, 0);
    if (size < 0) {
      if (errno == ENODATA) return env.Null();
      ThrowSystemError(env, errno, "lgetxattr", path);
    }
    std::vector<char> value(size > 0 ? size : 1);
    ssize_t got = lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
    if (got < 0) {
      if (errno == ERANGE) continue;
      if (errno == ENODATA) return env.Null();
      ThrowSystemError(env, errno, "lgetxattr", path);
    }
    return Napi::Buffer<char>::Copy(env, value.data(), static_cast<size_t>(got));
  }
}

Napi::Value Setxattr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = StringArg(info, 0, "setxattr", "path");
  std::string name = StringArg(info, 1, "setxattr", "name");
  if (info.Length() < 3 || !info[2].IsBuffer()) {
    throw Napi::TypeError::New(env, "setxattr: expected a Buffer for value");
  }
  Napi::Buffer<char> value = info[2].As<Napi::Buffer<char>>();
  int flags = IntArg(info, 3, "setxattr", "flags");
  if (lsetxattr(path.c_str(), name.c_str(), value.Data(), value.Length(), flags) < 0) {
    ThrowSystemError(env, errno, "lsetxattr", path);
  }
  return env.Undefined();
}

Napi::Value Listxattr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = StringArg(info, 0, "listxattr", "path");
  std::vector<char> names;
  for (;;) {
    ssize_t size = llistxattr(path.c_str(), nullptr, 0);
    if (size < 0) ThrowSystemError(env, errno, "llistxattr", path);
    names.resize(size > 0 ? size : 1);
    ssize_t got = llistxattr(path.c_str(), names.data(), names.size());
    if (got < 0) {
      if (errno == ERANGE) continue;
      ThrowSystemError(env, errno, "llistxattr", path);
    }
    names.resize(got);
    break;
  }
  // The kernel returns "name1\0name2\0".
  Napi::Array result = Napi::Array::New(env);
  uint32_t count = 0;
  size_t start = 0;
  for (size_t i = 0; i < names.size(); i++) {
    if (names[i] != '\0') continue;
    if (i > start) result.Set(count++, Napi::String::New(env, names.data() + start, i - start));
    start = i + 1;
  }
  return result;
}

Napi::Value Removexattr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = StringArg(info, 0, "removexattr", "path");
  std::string name = StringArg(info, 1, "removexattr", "name");
  if (lremovexattr(path.c_str(), name.c_str()) < 0) ThrowSystemError(env, errno, "lremovexattr", path);
  return env.Undefined();
}

Napi::Value Flock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = IntArg(info, 0, "flock", "fd");
  std::string op = StringArg(info, 1, "flock", "op");
  bool nonblock = info.Length() > 2 && info[2].ToBoolean().Value();
  int operation;
  if (op == "sh") {
    operation = LOCK_SH;
  } else if (op == "ex") {
    operation = LOCK_EX;
  } else if (op == "un") {
    operation = LOCK_UN;
  } else {
    throw Napi::TypeError::New(env, "flock: expected 'sh', 'ex' or 'un' for op but received '" + op + "'");
  }
  if (nonblock) operation |= LOCK_NB;
  while (flock(fd, operation) < 0) {
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK && nonblock) return Napi::Boolean::New(env, false);
    ThrowSystemError(env, errno, "flock");
  }
  return Napi::Boolean::New(env, true);
}

Napi::Value FsyncPath(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = StringArg(info, 0, "fsyncPath", "path");
  // O_RDONLY opens both directories and files; fsync needs no write access.
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) ThrowSystemError(env, errno, "open", path);
  FdGuard guard(fd);
  if (fsync(fd) < 0) ThrowSystemError(env, errno, "fsync", path);
  return env.Undefined();
}

Napi::Value StatfsType(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = StringArg(info, 0, "statfsType", "path");
  struct statfs st;
  if (statfs(path.c_str(), &st) < 0) ThrowSystemError(env, errno, "statfs", path);
  // Magic numbers are 32-bit; keep them positive (0x9123683e btrfs must not turn negative).
  return Napi::Number::New(env, static_cast<uint32_t>(st.f_type));
}

}  // namespace

void RegisterFs(Napi::Env env, Napi::Object exports) {
  exports.Set("openInRoot", Napi::Function::New(env, OpenInRoot, "openInRoot"));
  exports.Set("mkdirInRoot", Napi::Function::New(env, MkdirInRoot, "mkdirInRoot"));
  exports.Set("mknod", Napi::Function::New(env, Mknod, "mknod"));
  exports.Set("getxattr", Napi::Function::New(env, Getxattr, "getxattr"));
  exports.Set("setxattr", Napi::Function::New(env, Setxattr, "setxattr"));
  exports.Set("listxattr", Napi::Function::New(env, Listxattr, "listxattr"));
  exports.Set("removexattr", Napi::Function::New(env, Removexattr, "removexattr"));
  exports.Set("flock", Napi::Function::New(env, Flock, "flock"));
  exports.Set("fsyncPath", Napi::Function::New(env, FsyncPath, "fsyncPath"));
  exports.Set("statfsType", Napi::Function::New(env, StatfsType, "statfsType"));
}

}  // namespace hull
