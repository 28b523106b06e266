// Credentials: capability bounding set, uid/gid/groups switch, capset, ambient capabilities,
// no_new_privs, umask and the cwd breakout check. Order (REFERENCE §2.15): drop bounding ->
// KEEPCAPS -> setgroups -> setgid -> setuid -> verifyCwd -> clear KEEPCAPS -> capset -> ambient.
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "kernel.h"

namespace hull {

namespace {

// In a user namespace whose /proc/self/setgroups says "deny", setgroups() always fails; with no
// additional groups requested that is fine.
bool SetgroupsDenied() {
  // Plain read(2), not <fstream>: iostreams and locales would be most of a static helper's size.
  int fd = open("/proc/self/setgroups", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char value[16] = {};
  ssize_t n = read(fd, value, sizeof value - 1);
  close(fd);
  return n >= 4 && strncmp(value, "deny", 4) == 0 && (n == 4 || value[4] == '\n');
}

}  // namespace

void DropBounding(uint64_t keep) {
  Trace("prctl(PR_CAPBSET_DROP, every capability not in " + Hex(keep) + ")");
  // One prctl per capability we drop (dropping one no longer in the set is a no-op), none for
  // those we keep. The first capability the kernel does not know ends the loop: DROP answers
  // EINVAL for it, or EPERM without CAP_SETPCAP, where READ (EINVAL past the last) tells them apart.
  for (int cap = 0; cap < 64; cap++) {
    if (keep & (1ULL << cap)) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0) continue;
    const int err = errno;
    if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) < 0) break;  // past the kernel's last capability
    Fail(err, "prctl(PR_CAPBSET_DROP)", std::to_string(cap));
  }
}

void SwitchUser(uid_t uid, gid_t gid, const std::vector<gid_t>& groups) {
  // Keep the permitted set across the uid change; capset then picks what stays.
  Trace("prctl(PR_SET_KEEPCAPS, 1)");
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) FailErrno("prctl(PR_SET_KEEPCAPS)");
  std::string list;
  for (gid_t g : groups) list += (list.empty() ? "" : ", ") + std::to_string(g);
  Trace("setgroups(" + std::to_string(groups.size()) + ", [" + list + "])");
  if (setgroups(groups.size(), groups.data()) < 0) {
    if (!(errno == EPERM && groups.empty() && SetgroupsDenied())) FailErrno("setgroups");
  }
  Trace("setresgid(" + std::to_string(gid) + ", " + std::to_string(gid) + ", " + std::to_string(gid) + ")");
  if (setresgid(gid, gid, gid) < 0) FailErrno("setresgid", std::to_string(gid));
  Trace("setresuid(" + std::to_string(uid) + ", " + std::to_string(uid) + ", " + std::to_string(uid) + ")");
  if (setresuid(uid, uid, uid) < 0) FailErrno("setresuid", std::to_string(uid));
  VerifyCwd();
  Trace("prctl(PR_SET_KEEPCAPS, 0)");
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) FailErrno("prctl(PR_SET_KEEPCAPS)");
}

void ApplyCaps(const CapSets& caps) {
  Trace("capset({effective=" + Hex(caps.effective) + ", permitted=" + Hex(caps.permitted) +
        ", inheritable=" + Hex(caps.inheritable) + "})");
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2] = {};  // v3: two 32-bit halves of each 64-bit set
  data[0].effective = static_cast<uint32_t>(caps.effective);
  data[1].effective = static_cast<uint32_t>(caps.effective >> 32);
  data[0].permitted = static_cast<uint32_t>(caps.permitted);
  data[1].permitted = static_cast<uint32_t>(caps.permitted >> 32);
  data[0].inheritable = static_cast<uint32_t>(caps.inheritable);
  data[1].inheritable = static_cast<uint32_t>(caps.inheritable >> 32);
  if (syscall(SYS_capset, &header, data) < 0) FailErrno("capset");

  // Ambient capabilities survive execve of a non-setuid binary for a non-root user.
  Trace("prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, " + Hex(caps.ambient) + ")");
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) {
    FailErrno("prctl(PR_CAP_AMBIENT_CLEAR_ALL)");
  }
  for (int cap = 0; cap < 64; cap++) {
    if (!(caps.ambient & (1ULL << cap))) continue;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0) {
      FailErrno("prctl(PR_CAP_AMBIENT_RAISE)", std::to_string(cap));
    }
  }
}

void SetNoNewPrivs() {
  Trace("prctl(PR_SET_NO_NEW_PRIVS, 1)");
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) FailErrno("prctl(PR_SET_NO_NEW_PRIVS)");
}

void SetUmask(mode_t mask) {
  char text[8];
  snprintf(text, sizeof text, "0%03o", mask & 0777);
  Trace(std::string("umask(") + text + ")");
  umask(mask & 0777);
}

void VerifyCwd() {
  // A cwd outside our root (a leaked host fd's directory, CVE-2024-21626) makes the kernel return
  // "(unreachable)/...", which glibc reports as ENOENT.
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof cwd)) {
    if (errno == ENOENT) Fail(ENOENT, "getcwd", "", "current working directory is outside of container mount namespace root -- possible container breakout detected");
    FailErrno("getcwd");
  }
  if (cwd[0] != '/') {
    Fail(EPERM, "getcwd", cwd, "current working directory is outside of container mount namespace root -- possible container breakout detected");
  }
}

}  // namespace hull
