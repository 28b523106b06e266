// Mounts. In the helper (container side): everything between "new mount namespace" and "running in
// the new root": propagation, the rootfs bind, config mounts resolved in-root, /dev nodes,
// pivot_root, read-only and masked paths, recursive mount attributes, idmapped bind mounts (the detached tree made by the monitor, moved into place by the container process). Under HULL_ADDON (bottom of the file): the addon's plain
// mount(2)/umount2(2) bindings used on the host for image layers and root filesystems.
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#ifndef HULL_ADDON
#include "kernel.h"

namespace hull {

namespace {

const FlagName kMountFlags[] = {
    {MS_RDONLY, "MS_RDONLY"},   {MS_NOSUID, "MS_NOSUID"},         {MS_NODEV, "MS_NODEV"},
    {MS_NOEXEC, "MS_NOEXEC"},   {MS_SYNCHRONOUS, "MS_SYNCHRONOUS"}, {MS_REMOUNT, "MS_REMOUNT"},
    {MS_MANDLOCK, "MS_MANDLOCK"}, {MS_DIRSYNC, "MS_DIRSYNC"},     {MS_NOSYMFOLLOW, "MS_NOSYMFOLLOW"},
    {MS_NOATIME, "MS_NOATIME"}, {MS_NODIRATIME, "MS_NODIRATIME"}, {MS_BIND, "MS_BIND"},
    {MS_MOVE, "MS_MOVE"},       {MS_REC, "MS_REC"},               {MS_SILENT, "MS_SILENT"},
    {MS_POSIXACL, "MS_POSIXACL"}, {MS_UNBINDABLE, "MS_UNBINDABLE"}, {MS_PRIVATE, "MS_PRIVATE"},
    {MS_SLAVE, "MS_SLAVE"},     {MS_SHARED, "MS_SHARED"},         {MS_RELATIME, "MS_RELATIME"},
    {MS_STRICTATIME, "MS_STRICTATIME"}, {MS_LAZYTIME, "MS_LAZYTIME"},
};

// mount_setattr(2) attributes. The atime modes are a field (MOUNT_ATTR__ATIME), not bits, and
// MOUNT_ATTR_RELATIME is 0: FormatMountAttr names them apart.
const FlagName kMountAttrs[] = {
    {MOUNT_ATTR_RDONLY, "MOUNT_ATTR_RDONLY"},         {MOUNT_ATTR_NOSUID, "MOUNT_ATTR_NOSUID"},
    {MOUNT_ATTR_NODEV, "MOUNT_ATTR_NODEV"},           {MOUNT_ATTR_NOEXEC, "MOUNT_ATTR_NOEXEC"},
    {MOUNT_ATTR__ATIME, "MOUNT_ATTR__ATIME"},         {MOUNT_ATTR_NOATIME, "MOUNT_ATTR_NOATIME"},
    {MOUNT_ATTR_STRICTATIME, "MOUNT_ATTR_STRICTATIME"}, {MOUNT_ATTR_NODIRATIME, "MOUNT_ATTR_NODIRATIME"},
    {MOUNT_ATTR_NOSYMFOLLOW, "MOUNT_ATTR_NOSYMFOLLOW"},
};

// "MOUNT_ATTR_RDONLY|MOUNT_ATTR_NOATIME"; a set with the atime field cleared and no mode bit is relatime.
std::string FormatMountAttr(uint64_t set, uint64_t clear, bool isSet) {
  std::string text = FormatFlags(isSet ? set : clear, kMountAttrs);
  bool relatime = isSet && (clear & MOUNT_ATTR__ATIME) == MOUNT_ATTR__ATIME && !(set & MOUNT_ATTR__ATIME);
  if (!relatime) return text;
  return text == "0" ? "MOUNT_ATTR_RELATIME" : text + "|MOUNT_ATTR_RELATIME";
}

constexpr unsigned long kPropagationFlags = MS_SHARED | MS_SLAVE | MS_PRIVATE | MS_UNBINDABLE;
// Flags a bind mount only takes on a second, MS_REMOUNT|MS_BIND call.
constexpr unsigned long kRemountFlags =
    MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME;

std::string QuoteOrNull(const char* s) { return s ? Quote(s) : "NULL"; }

// mount(2), announced in the trace with the path the container will see (`shown`).
void Mount(const char* source, const std::string& target, const std::string& shown, const char* fstype,
           unsigned long flags, const char* data) {
  Trace("mount(" + QuoteOrNull(source) + ", " + Quote(shown) + ", " + QuoteOrNull(fstype) + ", " +
        FormatMountFlags(flags) + ", " + QuoteOrNull(data) + ")");
  if (mount(source, target.c_str(), fstype, flags, data) < 0) FailErrno("mount", shown);
}

// A bind mount whose source is an fd path: traced with the names the container knows.
void Bind(const std::string& source, const std::string& shownSource, const std::string& target,
          const std::string& shownTarget, unsigned long flags) {
  Trace("mount(" + Quote(shownSource) + ", " + Quote(shownTarget) + ", NULL, " + FormatMountFlags(MS_BIND | flags) +
        ", NULL)");
  if (mount(source.c_str(), target.c_str(), nullptr, MS_BIND | flags, nullptr) < 0) FailErrno("mount", shownTarget);
}

// The per-mount flags the kernel reports for `target`, as MS_* flags. ST_RDONLY..ST_NODIRATIME have
// the MS_* values; ST_RELATIME (4096) does not (it is MS_BIND's value).
unsigned long CurrentMountFlags(const std::string& target, const std::string& shown) {
  struct statvfs info;
  if (statvfs(target.c_str(), &info) < 0) FailErrno("statvfs", shown);
  unsigned long flags = info.f_flag & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME);
  if (info.f_flag & ST_RELATIME) flags |= MS_RELATIME;
  return flags;
}

// MS_REMOUNT|MS_BIND with `flags`. In a user namespace, flags inherited from a more privileged
// mount are locked (EPERM when dropped): retry keeping whatever the mount already has.
void RemountBind(const std::string& target, const std::string& shown, unsigned long flags) {
  unsigned long request = MS_REMOUNT | MS_BIND | flags;
  Trace("mount(NULL, " + Quote(shown) + ", NULL, " + FormatMountFlags(request) + ", NULL)");
  if (mount(nullptr, target.c_str(), nullptr, request, nullptr) == 0) return;
  if (errno != EPERM) FailErrno("mount", shown);
  request |= CurrentMountFlags(target, shown);
  Trace("mount(NULL, " + Quote(shown) + ", NULL, " + FormatMountFlags(request) + ", NULL)");
  if (mount(nullptr, target.c_str(), nullptr, request, nullptr) < 0) FailErrno("mount", shown);
}

std::vector<std::string> PathComponents(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    std::string part = path.substr(start, slash - start);
    if (!part.empty() && part != ".") parts.push_back(part);
    start = slash + 1;
  }
  return parts;
}

// Re-resolve a path after mounting on it: the old fd still names the directory *under* the new
// mount, the new one names the mount's root.
int ReopenInRoot(int rootFd, const std::string& path) {
  int fd = OpenInRoot(rootFd, path, O_PATH);
  if (fd < 0) FailErrno("openat2", InRootPath(path));
  return fd;
}

// mkdir -p confined to the rootfs. Each prefix is opened with RESOLVE_IN_ROOT, so a symlink in the
// image (even "../../../etc" or an absolute host path) can only ever lead inside the rootfs. A
// dangling symlink on the way is followed by hand: its target (read, then again resolved in-root)
// replaces the prefix, and creation goes on there. Returns an O_PATH fd of the final directory.
int MkdirAllInRoot(int rootFd, const std::string& path) {
  // Two shortcuts for the usual cases, each the last steps of the walk below (which would open
  // every prefix first): the whole path exists, or only its last component is missing (/dev/pts
  // on the fresh /dev tmpfs) and is made in its parent. Anything else (a dangling symlink, an
  // error to report) is left to the walk, as before.
  int existing = OpenInRoot(rootFd, path, O_PATH | O_DIRECTORY);
  if (existing >= 0) return existing;
  if (errno == ENOENT) {
    std::vector<std::string> parts = PathComponents(path);
    if (!parts.empty() && parts.back() != "..") {
      std::string parentPath;
      for (size_t i = 0; i + 1 < parts.size(); i++) parentPath += "/" + parts[i];
      int parent = OpenInRoot(rootFd, parentPath, O_PATH | O_DIRECTORY);
      if (parent >= 0 && mkdirat(parent, parts.back().c_str(), 0755) == 0) {
        Trace("mkdirat(" + Quote(InRootPath(path)) + ", 0755)");
        existing = OpenInRoot(rootFd, path, O_PATH | O_DIRECTORY);
      }
      if (parent >= 0) close(parent);
      if (existing >= 0) return existing;
    }
  }
  std::string pending = path;
  for (int symlinks = 0; symlinks < 40; symlinks++) {
    int parent = OpenInRoot(rootFd, "/", O_PATH | O_DIRECTORY);
    if (parent < 0) FailErrno("openat2", "/");
    std::vector<std::string> parts = PathComponents(pending);
    std::string prefix;
    bool followedSymlink = false;
    for (size_t i = 0; i < parts.size() && !followedSymlink; i++) {
      const std::string parentPrefix = prefix;
      prefix += "/" + parts[i];
      int fd = OpenInRoot(rootFd, prefix, O_PATH | O_DIRECTORY);
      if (fd < 0 && errno == ENOENT) {
        Trace("mkdirat(" + Quote(prefix) + ", 0755)");
        if (mkdirat(parent, parts[i].c_str(), 0755) == 0) {
          fd = OpenInRoot(rootFd, prefix, O_PATH | O_DIRECTORY);
        } else if (errno == EEXIST) {
          // Exists but does not resolve: a dangling symlink. Continue from where it points.
          char target[PATH_MAX];
          ssize_t n = readlinkat(parent, parts[i].c_str(), target, sizeof target - 1);
          if (n < 0) Fail(ENOENT, "openat2", prefix);
          std::string next = target[0] == '/' ? std::string(target, static_cast<size_t>(n))
                                              : parentPrefix + "/" + std::string(target, static_cast<size_t>(n));
          for (size_t j = i + 1; j < parts.size(); j++) next += "/" + parts[j];
          pending = next;
          followedSymlink = true;
          continue;
        } else {
          FailErrno("mkdirat", prefix);
        }
      }
      if (fd < 0) FailErrno("openat2", prefix);
      close(parent);
      parent = fd;
    }
    if (!followedSymlink) return parent;
    close(parent);
  }
  Fail(ELOOP, "openat2", InRootPath(path));
}

uint64_t MountId(int fd, const std::string& shown) {
  struct statx info;
  if (statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &info) < 0) FailErrno("statx", shown);
  return info.stx_mnt_id;
}

// The mount we just made on `coveredFd`, for its second call (remount, propagation). The path is
// resolved again, so check it still leads to our mount: another mount than the covered directory's,
// and for a bind, rooted at the source we bound. A shared volume swapped between the two calls
// (CVE-2021-30465 style) fails the step instead of remounting something else.
int ReopenOurMount(int rootFd, const std::string& path, int coveredFd, const struct stat* boundSource) {
  const std::string shown = InRootPath(path);
  int fd = ReopenInRoot(rootFd, path);
  struct stat st;
  if (fstat(fd, &st) < 0) FailErrno("fstat", shown);
  bool sameSource = !boundSource || (st.st_dev == boundSource->st_dev && st.st_ino == boundSource->st_ino);
  if (MountId(fd, shown) == MountId(coveredFd, shown) || !sameSource) {
    Fail(EBUSY, "mount", shown, "mount destination " + shown + " changed while it was being mounted");
  }
  return fd;
}

// Split "/a/b/c" into "/a/b" (returned) and "c" (`name`).
std::string SplitLastComponent(const std::string& path, std::string& name) {
  std::vector<std::string> parts = PathComponents(path);
  if (parts.empty() || parts.back() == "..") Fail(EINVAL, "openat2", InRootPath(path), "invalid path " + Quote(path));
  name = parts.back();
  parts.pop_back();
  std::string parentPath;
  for (const std::string& part : parts) parentPath += "/" + part;
  return parentPath;
}

// Split "/a/b/c" into the parent directory fd (created in-root) and "c".
int ParentInRoot(int rootFd, const std::string& path, std::string& name) {
  return MkdirAllInRoot(rootFd, SplitLastComponent(path, name));
}

// An existing file at `path`, or a new empty one (bind mount target for a file source).
int FileInRoot(int rootFd, const std::string& path) {
  int fd = OpenInRoot(rootFd, path, O_PATH);
  if (fd >= 0) return fd;
  if (errno != ENOENT) FailErrno("openat2", InRootPath(path));
  std::string name;
  int parent = ParentInRoot(rootFd, path, name);
  Trace("openat(" + Quote(InRootPath(path)) + ", O_CREAT|O_EXCL|O_NOFOLLOW, 0644)");
  int created = openat(parent, name.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (created < 0) FailErrno("openat", InRootPath(path));
  close(created);
  close(parent);
  return ReopenInRoot(rootFd, path);
}

void ApplyPropagation(int fd, const std::string& shown, unsigned long flags) {
  Mount(nullptr, FdPath(fd), shown, nullptr, flags, nullptr);
}

}  // namespace

std::string FormatMountFlags(unsigned long flags) { return FormatFlags(flags, kMountFlags); }

int FileOrNewFileInRoot(int rootFd, const std::string& path) { return FileInRoot(rootFd, path); }

std::string InRootPath(const std::string& path) {
  std::string shown;
  for (const std::string& part : PathComponents(path)) shown += "/" + part;
  return shown.empty() ? "/" : shown;
}

int OpenInRoot(int rootFd, const std::string& path, int flags, uint64_t extraResolve) {
  struct open_how how = {};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | extraResolve;
  std::string relative = InRootPath(path).substr(1);
  if (relative.empty()) relative = ".";
  return static_cast<int>(syscall(SYS_openat2, rootFd, relative.c_str(), &how, sizeof how));
}

std::string FdPath(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

void SetPropagation(const std::string& target, unsigned long flags) {
  Mount(nullptr, target, target, nullptr, flags, nullptr);
}

int PrepareRootfs(const std::string& rootfs) {
  char resolved[PATH_MAX];
  if (!realpath(rootfs.c_str(), resolved)) FailErrno("realpath", rootfs);
  std::string root = resolved;
  // A shared parent mount would propagate our binds back to the host and make pivot_root fail
  // (EINVAL). Make the nearest mountpoint above the rootfs private; mount() answers EINVAL for a
  // path that is not a mountpoint, so walk up until it succeeds.
  std::string parent = root;
  for (;;) {
    size_t slash = parent.find_last_of('/');
    parent = slash == 0 ? "/" : parent.substr(0, slash);
    if (mount(nullptr, parent.c_str(), nullptr, MS_PRIVATE, nullptr) == 0) {
      Trace("mount(NULL, " + Quote(parent) + ", NULL, MS_PRIVATE, NULL)");
      break;
    }
    if (errno != EINVAL || parent == "/") FailErrno("mount", parent);
  }
  // pivot_root needs the new root to be a mountpoint: bind the rootfs onto itself.
  Mount(root.c_str(), root, root, nullptr, MS_BIND | MS_REC, nullptr);
  Trace("open(" + Quote(root) + ", O_PATH|O_DIRECTORY)");
  int fd = open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) FailErrno("open", root);
  return fd;
}

void MountInRoot(int rootFd, const MountSpec& spec) {
  const std::string shown = InRootPath(spec.destination);
  const bool bind = spec.flags & MS_BIND;
  const unsigned long flags = spec.flags & ~kPropagationFlags;

  // Bind of a file: the destination must be a file too.
  bool directory = true;
  struct stat source = {};
  if (bind) {
    if (stat(spec.source.c_str(), &source) < 0) FailErrno("stat", spec.source);
    directory = S_ISDIR(source.st_mode);
  }
  // proc and sysfs only on real directories (CVE-2019-19921 and friends): no symlink anywhere.
  // That directory usually exists, and one resolution without symlinks finds it; else it is made
  // like any destination, then resolved the same strict way.
  const bool realDirectoryOnly = spec.fstype == "proc" || spec.fstype == "sysfs";
  int destFd = realDirectoryOnly ? OpenInRoot(rootFd, spec.destination, O_PATH | O_DIRECTORY, RESOLVE_NO_SYMLINKS) : -1;
  if (destFd < 0) {
    destFd = directory ? MkdirAllInRoot(rootFd, spec.destination) : FileInRoot(rootFd, spec.destination);
    if (realDirectoryOnly) {
      close(destFd);
      destFd = OpenInRoot(rootFd, spec.destination, O_PATH | O_DIRECTORY, RESOLVE_NO_SYMLINKS);
      if (destFd < 0) {
        Fail(errno, "openat2", shown, spec.fstype + " must be mounted on a real directory: " + shown);
      }
    }
  }

  const char* data = spec.data.empty() ? nullptr : spec.data.c_str();
  if (bind) {
    Mount(spec.source.c_str(), FdPath(destFd), shown, nullptr, MS_BIND | (flags & MS_REC), nullptr);
    if (flags & kRemountFlags) {
      int mounted = ReopenOurMount(rootFd, spec.destination, destFd, &source);
      RemountBind(FdPath(mounted), shown, flags & (kRemountFlags | MS_REC));
      close(mounted);
    }
  } else {
    const char* fstype = spec.fstype.empty() ? nullptr : spec.fstype.c_str();
    const char* from = spec.source.empty() ? fstype : spec.source.c_str();
    Mount(from, FdPath(destFd), shown, fstype, flags, data);
  }

  if (spec.propagation && (flags & MS_REMOUNT)) {
    ApplyPropagation(destFd, shown, spec.propagation);  // a remount made no new mount: it is destFd's
  } else if (spec.propagation) {
    int mounted = ReopenOurMount(rootFd, spec.destination, destFd, bind ? &source : nullptr);
    ApplyPropagation(mounted, shown, spec.propagation);
    close(mounted);
  }
  close(destFd);
}

void ReleaseNodeDir(NodeDir& dir) {
  if (dir.fd >= 0) close(dir.fd);
  if (dir.umaskCleared) umask(dir.savedUmask);
  dir = NodeDir();
}

namespace {

// The parent directory of `path` (created in-root), from the cache when the last node step used the
// same one; `name` gets the last component.
int NodeParent(int rootFd, NodeDir& dir, const std::string& path, std::string& name) {
  const std::string parentPath = SplitLastComponent(path, name);
  if (dir.fd >= 0 && dir.path == parentPath) return dir.fd;
  ReleaseNodeDir(dir);
  dir.fd = MkdirAllInRoot(rootFd, parentPath);
  dir.path = parentPath;
  struct stat st;
  dir.newNodesRootOwned = fstat(dir.fd, &st) == 0 && !(st.st_mode & S_ISGID) && geteuid() == 0 && getegid() == 0;
  return dir.fd;
}

}  // namespace

void MakeDeviceInRoot(int rootFd, NodeDir& dir, const std::string& path, char type, unsigned major, unsigned minor,
                      mode_t mode, uid_t uid, gid_t gid) {
  const std::string shown = InRootPath(path);
  mode_t kind = type == 'c' ? S_IFCHR : type == 'b' ? S_IFBLK : type == 'p' ? S_IFIFO : 0;
  if (!kind) Fail(EINVAL, "mknod", shown, "device type must be c, b or p");
  std::string name;
  int parent = NodeParent(rootFd, dir, path, name);
  // mknod honours the umask: without one the node gets its exact mode (the special bits aside).
  if (!dir.umaskCleared) {
    dir.savedUmask = umask(0);
    dir.umaskCleared = true;
  }
  Trace("mknodat(" + Quote(shown) + ", " + (type == 'c' ? "S_IFCHR" : type == 'b' ? "S_IFBLK" : "S_IFIFO") +
        "|0" + std::to_string((mode >> 6) & 7) + std::to_string((mode >> 3) & 7) + std::to_string(mode & 7) +
        ", makedev(" + std::to_string(major) + ", " + std::to_string(minor) + "))");
  if (mknodat(parent, name.c_str(), kind | (mode & 07777), makedev(major, minor)) == 0) {
    // Set the owner and the special bits only where the kernel could not have.
    if ((uid != 0 || gid != 0 || !dir.newNodesRootOwned) && fchownat(parent, name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) < 0) {
      FailErrno("fchownat", shown);
    }
    if ((mode & 07000) && fchmodat(parent, name.c_str(), mode & 07777, 0) < 0) FailErrno("fchmodat", shown);
  } else if (errno == EEXIST) {
    // Already there (from the image or an earlier mount): keep it.
  } else if (errno == EPERM) {
    // A user namespace may not create device nodes: bind the host's node over an empty file.
    int target = FileInRoot(rootFd, path);
    Mount(shown.c_str(), FdPath(target), shown, nullptr, MS_BIND, nullptr);
    close(target);
  } else {
    FailErrno("mknodat", shown);
  }
}

void SymlinkInRoot(int rootFd, NodeDir& dir, const std::string& target, const std::string& path) {
  const std::string shown = InRootPath(path);
  std::string name;
  int parent = NodeParent(rootFd, dir, path, name);
  Trace("symlinkat(" + Quote(target) + ", " + Quote(shown) + ")");
  if (symlinkat(target.c_str(), parent, name.c_str()) < 0) {
    int err = errno;
    char existing[PATH_MAX];
    ssize_t n = err == EEXIST ? readlinkat(parent, name.c_str(), existing, sizeof existing - 1) : -1;
    if (n < 0 || std::string(existing, static_cast<size_t>(n)) != target) Fail(err, "symlinkat", shown);
  }
}

void PivotRoot(int rootFd, bool chrootOnly) {
  Trace("fchdir(rootfs)");
  if (fchdir(rootFd) < 0) FailErrno("fchdir", "/");
  if (chrootOnly) {
    // --no-pivot: move the rootfs mount over / and chroot into it. Weaker than pivot_root (the old
    // root stays reachable to a process that can escape a chroot), but works on ramfs roots.
    Mount(".", "/", "/", nullptr, MS_MOVE, nullptr);
    Trace("chroot(\".\")");
    if (chroot(".") < 0) FailErrno("chroot", ".");
  } else {
    // pivot_root(".", ".") stacks the old root on top of the new one; then detach it from "."
    // without ever needing a directory for it inside the rootfs.
    int oldRoot = open("/", O_DIRECTORY | O_PATH | O_CLOEXEC);
    if (oldRoot < 0) FailErrno("open", "/");
    Trace("pivot_root(\".\", \".\")");
    if (syscall(SYS_pivot_root, ".", ".") < 0) FailErrno("pivot_root", ".");
    if (fchdir(oldRoot) < 0) FailErrno("fchdir", "old root");
    // The old root may be shared with the host: make it a slave first so the unmount cannot
    // propagate back.
    Mount(nullptr, ".", "old root", nullptr, MS_SLAVE | MS_REC, nullptr);
    Trace("umount2(\".\", MNT_DETACH)");
    if (umount2(".", MNT_DETACH) < 0) FailErrno("umount2", "old root");
    close(oldRoot);
  }
  Trace("chdir(\"/\")");
  if (chdir("/") < 0) FailErrno("chdir", "/");
}

void RemountRootReadonly() { RemountBind("/", "/", MS_RDONLY); }

// An O_PATH fd of a masked or read-only path, or -1 if the image lacks it (runc skips those too).
static int OpenListedPath(int rootFd, const std::string& path, const std::string& shown) {
  int fd = OpenInRoot(rootFd, path, O_PATH);
  if (fd < 0 && errno == ENOENT) {
    Trace("skip " + Quote(shown) + " (missing)");
    return -1;
  }
  if (fd < 0) FailErrno("openat2", shown);
  return fd;
}

void MaskPath(int rootFd, const std::string& path) {
  const std::string shown = InRootPath(path);
  int fd = OpenListedPath(rootFd, path, shown);
  if (fd < 0) return;
  struct stat st;
  if (fstat(fd, &st) < 0) FailErrno("fstat", shown);
  if (S_ISDIR(st.st_mode)) {
    Mount("tmpfs", FdPath(fd), shown, "tmpfs", MS_RDONLY, "nr_blocks=1,nr_inodes=1");
  } else {
    // Never trust the rootfs' /dev/null by name (CVE-2025-31133): check it is the null device.
    int devNull = OpenInRoot(rootFd, "/dev/null", O_PATH);
    if (devNull < 0) FailErrno("openat2", "/dev/null");
    struct stat nullStat;
    if (fstat(devNull, &nullStat) < 0) FailErrno("fstat", "/dev/null");
    if (!S_ISCHR(nullStat.st_mode) || nullStat.st_rdev != makedev(1, 3)) {
      Fail(EINVAL, "fstat", "/dev/null", "/dev/null is not the null device (char 1:3)");
    }
    Bind(FdPath(devNull), "/dev/null", FdPath(fd), shown, 0);
    close(devNull);
  }
  close(fd);
}

void ReadonlyPath(int rootFd, const std::string& path) {
  const std::string shown = InRootPath(path);
  int fd = OpenListedPath(rootFd, path, shown);
  if (fd < 0) return;
  Bind(FdPath(fd), shown, FdPath(fd), shown, MS_REC);
  close(fd);
  int mounted = ReopenInRoot(rootFd, path);
  std::string target = FdPath(mounted);
  RemountBind(target, shown, MS_RDONLY | MS_REC | (CurrentMountFlags(target, shown) & (MS_NOSUID | MS_NODEV | MS_NOEXEC)));
  close(mounted);
}

int OpenIdmappedTree(const std::string& source, bool recursiveTree, bool recursiveIdmap, uint64_t set,
                     uint64_t clear, int usernsFd, const std::string& maps) {
  // Host side, before the clone: mount_setattr(MOUNT_ATTR_IDMAP) needs CAP_SYS_ADMIN over the
  // filesystem's user namespace (the host's) and over the mapping one, which a container process
  // in a user namespace of its own never has. The tree stays detached (in no mount table) until the
  // container process moves it; if it never does, it goes away with the last fd.
  const unsigned treeFlags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursiveTree ? AT_RECURSIVE : 0);
  Trace("open_tree(" + Quote(source) + ", OPEN_TREE_CLONE" + (recursiveTree ? "|AT_RECURSIVE" : "") + ")");
  int tree = open_tree(AT_FDCWD, source.c_str(), treeFlags);
  if (tree < 0) FailErrno("open_tree", source);
  struct mount_attr attr = {};
  attr.attr_set = MOUNT_ATTR_IDMAP | set;
  attr.attr_clr = clear;
  attr.userns_fd = static_cast<uint64_t>(usernsFd);
  const std::string setText = FormatMountAttr(set, clear, true);
  Trace("mount_setattr(" + Quote(source) + ", " + (recursiveIdmap ? "AT_RECURSIVE" : "0") +
        ", {attr_set=MOUNT_ATTR_IDMAP" + (setText == "0" ? "" : "|" + setText) +
        ", attr_clr=" + FormatMountAttr(set, clear, false) + ", userns=" + Quote(maps) + "})");
  // EINVAL: the filesystem has no idmapped mounts (or the source already is one); EPERM: not host root.
  if (mount_setattr(tree, "", AT_EMPTY_PATH | (recursiveIdmap ? AT_RECURSIVE : 0), &attr, sizeof attr) < 0) {
    int err = errno;
    close(tree);
    Fail(err, "mount_setattr", source,
         "idmapped mount of " + source + ": mount_setattr: " + strerror(err) +
             (err == EINVAL ? " (does its filesystem support idmapped mounts?)" : ""));
  }
  return tree;
}

void MoveTreeInRoot(int rootFd, int treeFd, const std::string& source, const std::string& dest,
                    unsigned long propagation) {
  const std::string shown = InRootPath(dest);
  struct stat root;
  if (fstat(treeFd, &root) < 0) FailErrno("fstat", source);
  // As for any bind: a file source needs a file to cover, a directory a directory.
  int destFd = S_ISDIR(root.st_mode) ? MkdirAllInRoot(rootFd, dest) : FileInRoot(rootFd, dest);
  Trace("move_mount(tree, " + Quote(shown) + ", MOVE_MOUNT_F_EMPTY_PATH|MOVE_MOUNT_T_EMPTY_PATH)");
  if (move_mount(treeFd, "", destFd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0) {
    FailErrno("move_mount", shown);
  }
  if (propagation) {
    int mounted = ReopenOurMount(rootFd, dest, destFd, &root);
    ApplyPropagation(mounted, shown, propagation);
    close(mounted);
  }
  close(destFd);
}

void SetMountAttrInRoot(int rootFd, const std::string& path, uint64_t set, uint64_t clear) {
  const std::string shown = InRootPath(path);
  // The destination resolves to the root of the mount just made (mount_setattr refuses anything
  // else with EINVAL); AT_RECURSIVE then reaches every mount below it too (an rbind's submounts).
  int fd = OpenInRoot(rootFd, path, O_PATH);
  if (fd < 0) FailErrno("openat2", shown);
  Trace("mount_setattr(" + Quote(shown) + ", AT_RECURSIVE, {attr_set=" + FormatMountAttr(set, clear, true) +
        ", attr_clr=" + FormatMountAttr(set, clear, false) + "})");
  struct mount_attr attr = {};
  attr.attr_set = set;
  attr.attr_clr = clear;
  // No fallback: without mount_setattr (Linux < 5.12: ENOSYS) the options cannot be honoured, and a
  // tree left writable that was asked to be read-only is worse than a failed start (runc fails too).
  if (mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) < 0) FailErrno("mount_setattr", shown);
  close(fd);
}

}  // namespace hull

#endif  // !HULL_ADDON

#ifdef HULL_ADDON
#include "addon.h"
#include "errors.h"

namespace hull {

namespace {

// A JS `string | null` argument: nullptr for null/undefined.
const char* OptionalString(const Napi::Value& value, std::string& storage) {
  if (value.IsNull() || value.IsUndefined()) return nullptr;
  storage = value.As<Napi::String>().Utf8Value();
  return storage.c_str();
}

// mount(source|null, target, fstype|null, flags, data|null)
Napi::Value MountBinding(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string source, fstype, data;
  const char* sourceArg = OptionalString(info[0], source);
  std::string target = info[1].As<Napi::String>().Utf8Value();
  const char* fstypeArg = OptionalString(info[2], fstype);
  unsigned long flags = static_cast<unsigned long>(info[3].As<Napi::Number>().Int64Value());
  const char* dataArg = OptionalString(info[4], data);
  if (mount(sourceArg, target.c_str(), fstypeArg, flags, dataArg) < 0) {
    ThrowSystemError(env, errno, "mount", target);
  }
  return env.Undefined();
}

// umount(target, flags)
Napi::Value UmountBinding(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string target = info[0].As<Napi::String>().Utf8Value();
  int flags = info[1].IsUndefined() ? 0 : info[1].As<Napi::Number>().Int32Value();
  if (umount2(target.c_str(), flags) < 0) ThrowSystemError(env, errno, "umount2", target);
  return env.Undefined();
}

}  // namespace

void RegisterMount(Napi::Env env, Napi::Object exports) {
  exports.Set("mount", Napi::Function::New(env, MountBinding, "mount"));
  exports.Set("umount", Napi::Function::New(env, UmountBinding, "umount"));
}

}  // namespace hull
#endif  // HULL_ADDON
