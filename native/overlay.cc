// Overlay mounts for image root filesystems (REFERENCE §7 "Overlay limits").
//
// Preferred: the new mount API — fsopen("overlay"), one fsconfig "lowerdir+" per layer (no
// one-page limit on the option string, so 128+ layers work with any path length), fsmount and
// move_mount onto the target. Layers go in as O_PATH fds where overlay accepts them (6.13+),
// because fsconfig strings are capped at 256 bytes. Kernels without "lowerdir+" (< 6.8) get mount(2) with an escaped
// lowerdir list; when that list does not fit in a page we fail with E2BIG rather than chdir the
// (multithreaded) Node process — callers then use shorter layer paths or the copy fallback
// (src/image/rootfs.ts, docs/internals/layers.md).
// A read-only overlay needs two lowers, so a single read-only layer is bind-mounted read-only.
#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string>
#include <vector>

#include "addon.h"
#include "errors.h"

namespace hull {
namespace {

constexpr size_t kMountDataMax = 4095;  // one page minus the NUL

// 1 = "lowerdir+" works, 0 = unknown yet, -1 = the kernel lacks it.
std::atomic<int> lowerdirPlusSupport{0};

struct FdCloser {
  int fd;
  explicit FdCloser(int f) : fd(f) {}
  ~FdCloser() {
    if (fd >= 0) close(fd);
  }
};

// The filesystem context keeps human-readable reasons ("overlayfs: failed to resolve ...").
std::string DrainFsLog(int fsfd) {
  std::string out;
  char buf[512];
  for (int i = 0; i < 16; i++) {
    ssize_t n = read(fsfd, buf, sizeof buf - 1);
    if (n <= 0) break;
    if (!out.empty()) out += "; ";
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

[[noreturn]] void ThrowWithLog(Napi::Env env, int err, const char* syscall, const std::string& path, int fsfd) {
  Napi::Error e = SystemError(env, err, syscall, path);
  std::string log = fsfd >= 0 ? DrainFsLog(fsfd) : "";
  if (!log.empty()) {
    e.Value().Set("detail", log);
    e.Value().Set("message", e.Message() + " (" + log + ")");
  }
  throw e;
}

// ':' separates layers and ',' options in mount(2) data; '\' escapes both.
std::string EscapeMountPath(const std::string& p) {
  std::string out;
  for (char c : p) {
    if (c == ':' || c == ',' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

void BindReadOnly(Napi::Env env, const std::string& source, const std::string& target) {
  int tree = open_tree(AT_FDCWD, source.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (tree < 0) ThrowSystemError(env, errno, "open_tree", source);
  FdCloser guard(tree);
  struct mount_attr attr = {};
  attr.attr_set = MOUNT_ATTR_RDONLY;
  if (mount_setattr(tree, "", AT_EMPTY_PATH, &attr, sizeof attr) != 0) ThrowSystemError(env, errno, "mount_setattr", source);
  if (move_mount(tree, "", AT_FDCWD, target.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0) {
    ThrowSystemError(env, errno, "move_mount", target);
  }
}

// 1 = overlay takes layers as fds (FSCONFIG_SET_FD, 6.13+), 0 = unknown, -1 = strings only.
std::atomic<int> layerFdSupport{0};

// Passes one layer directory to overlay: as an O_PATH fd where the kernel takes one (no 256-byte
// limit on fsconfig strings, no re-resolution of the path), else as a string.
// Returns the errno of the failure, 0 on success.
int SetLayer(Napi::Env env, int fsfd, const char* key, const std::string& dir) {
  if (layerFdSupport.load() >= 0) {
    int dfd = open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) ThrowSystemError(env, errno, "open", dir);
    FdCloser guard(dfd);
    if (fsconfig(fsfd, FSCONFIG_SET_FD, key, nullptr, dfd) == 0) {
      layerFdSupport.store(1);
      return 0;
    }
    if (errno != EINVAL || layerFdSupport.load() == 1) return errno;
    DrainFsLog(fsfd);  // the refusal's log line is not the story
  }
  if (fsconfig(fsfd, FSCONFIG_SET_STRING, key, dir.c_str(), 0) == 0) {
    if (layerFdSupport.load() == 0) layerFdSupport.store(-1);
    return 0;
  }
  return errno;
}

// Returns false (nothing mounted) when the kernel has no "lowerdir+".
bool MountWithFsconfig(Napi::Env env, const std::string& target, const std::vector<std::string>& lowers,
                       const std::string* upper, const std::string* work, const std::vector<std::string>& options) {
  int fsfd = fsopen("overlay", FSOPEN_CLOEXEC);
  if (fsfd < 0) {
    if (errno == ENOSYS) return false;
    ThrowSystemError(env, errno, "fsopen", target);
  }
  FdCloser guard(fsfd);
  fsconfig(fsfd, FSCONFIG_SET_STRING, "source", "overlay", 0);
  for (size_t i = 0; i < lowers.size(); i++) {
    int err = SetLayer(env, fsfd, "lowerdir+", lowers[i]);
    if (err == 0) {
      lowerdirPlusSupport.store(1);
      continue;
    }
    if (i == 0 && err == EINVAL && lowerdirPlusSupport.load() != 1) {
      // No "lowerdir+" (or a refused first layer: mount(2) then reports the real reason).
      lowerdirPlusSupport.store(-1);
      return false;
    }
    ThrowWithLog(env, err, "fsconfig", lowers[i], fsfd);
  }
  if (upper) {
    int err = SetLayer(env, fsfd, "upperdir", *upper);
    if (err) ThrowWithLog(env, err, "fsconfig", *upper, fsfd);
  }
  if (work) {
    int err = SetLayer(env, fsfd, "workdir", *work);
    if (err) ThrowWithLog(env, err, "fsconfig", *work, fsfd);
  }
  for (auto& opt : options) {
    size_t eq = opt.find('=');
    int rc = eq == std::string::npos
                 ? fsconfig(fsfd, FSCONFIG_SET_FLAG, opt.c_str(), nullptr, 0)
                 : fsconfig(fsfd, FSCONFIG_SET_STRING, opt.substr(0, eq).c_str(), opt.substr(eq + 1).c_str(), 0);
    if (rc != 0) ThrowWithLog(env, errno, "fsconfig", target + " (option " + opt + ")", fsfd);
  }
  if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0) ThrowWithLog(env, errno, "fsconfig", target, fsfd);
  int mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, 0);
  if (mfd < 0) ThrowWithLog(env, errno, "fsmount", target, fsfd);
  FdCloser mguard(mfd);
  if (move_mount(mfd, "", AT_FDCWD, target.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0) {
    ThrowSystemError(env, errno, "move_mount", target);
  }
  return true;
}

void MountWithData(Napi::Env env, const std::string& target, const std::vector<std::string>& lowers,
                   const std::string* upper, const std::string* work, const std::vector<std::string>& options) {
  std::string data = "lowerdir=";
  for (size_t i = 0; i < lowers.size(); i++) {
    if (i) data += ':';
    data += EscapeMountPath(lowers[i]);
  }
  if (upper) data += ",upperdir=" + EscapeMountPath(*upper);
  if (work) data += ",workdir=" + EscapeMountPath(*work);
  for (auto& opt : options) data += "," + opt;
  if (data.size() > kMountDataMax) {
    Napi::Error e = SystemError(env, E2BIG, "mount", target);
    e.Value().Set("message", e.Message() + " (overlay options are " + std::to_string(data.size()) +
                                 " bytes, over one page, and this kernel has no lowerdir+: use shorter layer paths)");
    throw e;
  }
  if (mount("overlay", target.c_str(), "overlay", 0, data.c_str()) != 0) ThrowSystemError(env, errno, "mount", target);
}

std::string StringArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsString()) {
    throw Napi::TypeError::New(info.Env(), std::string("mountOverlay: expected a string for ") + what);
  }
  return info[i].As<Napi::String>().Utf8Value();
}

std::vector<std::string> StringArray(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsArray()) {
    throw Napi::TypeError::New(info.Env(), std::string("mountOverlay: expected an array of strings for ") + what);
  }
  Napi::Array arr = info[i].As<Napi::Array>();
  std::vector<std::string> out;
  for (uint32_t k = 0; k < arr.Length(); k++) {
    Napi::Value v = arr.Get(k);
    if (!v.IsString()) throw Napi::TypeError::New(info.Env(), std::string("mountOverlay: ") + what + " must hold strings");
    out.push_back(v.As<Napi::String>().Utf8Value());
  }
  return out;
}

Napi::Value MountOverlay(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string target = StringArg(info, 0, "target");
  std::vector<std::string> lowers = StringArray(info, 1, "lowers");
  bool hasUpper = info.Length() > 2 && info[2].IsString();
  bool hasWork = info.Length() > 3 && info[3].IsString();
  std::string upper = hasUpper ? info[2].As<Napi::String>().Utf8Value() : "";
  std::string work = hasWork ? info[3].As<Napi::String>().Utf8Value() : "";
  std::vector<std::string> options = info.Length() > 4 && !info[4].IsUndefined() ? StringArray(info, 4, "options")
                                                                                   : std::vector<std::string>();
  if (lowers.empty()) throw Napi::TypeError::New(env, "mountOverlay: at least one lower directory is required");
  if (hasUpper != hasWork) throw Napi::TypeError::New(env, "mountOverlay: upper and work go together");
  for (auto& l : lowers) {
    if (l.empty() || l[0] != '/') throw Napi::TypeError::New(env, "mountOverlay: lower directories must be absolute paths: " + l);
  }

  if (!hasUpper && lowers.size() == 1) {
    BindReadOnly(env, lowers[0], target);
    return env.Undefined();
  }
  const std::string* up = hasUpper ? &upper : nullptr;
  const std::string* wk = hasWork ? &work : nullptr;
  // HULL_OVERLAY_LEGACY=1 forces the mount(2) path, so tests cover it on new kernels too.
  const char* legacy = getenv("HULL_OVERLAY_LEGACY");
  bool forceLegacy = legacy && legacy[0] == '1';
  if (!forceLegacy && lowerdirPlusSupport.load() >= 0 && MountWithFsconfig(env, target, lowers, up, wk, options)) {
    return env.Undefined();
  }
  MountWithData(env, target, lowers, up, wk, options);
  return env.Undefined();
}

}  // namespace

void RegisterOverlay(Napi::Env env, Napi::Object exports) {
  exports.Set("mountOverlay", Napi::Function::New(env, MountOverlay, "mountOverlay"));
}

}  // namespace hull
