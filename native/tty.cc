// The console: a pty created from the container's own devpts instance (after pivot), whose master
// goes to the caller over the OCI console socket (one message: data = pty name, SCM_RIGHTS = master
// fd) and whose slave becomes the container process' stdio and controlling terminal.
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "kernel.h"

#ifndef DEVPTS_SUPER_MAGIC
#define DEVPTS_SUPER_MAGIC 0x1cd1
#endif

namespace hull {

int ConnectConsoleSocket(const std::string& path) {
  Trace("connect(" + Quote(path) + ")");
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) FailErrno("socket", path);
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  // sun_path holds 107 bytes: reach longer paths through their directory's fd.
  std::string target = path;
  int dirFd = -1;
  if (target.size() >= sizeof addr.sun_path) {
    size_t slash = path.find_last_of('/');
    std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
    dirFd = open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dirFd < 0) FailErrno("open", dir);
    target = FdPath(dirFd) + "/" + path.substr(slash + 1);
    if (target.size() >= sizeof addr.sun_path) Fail(ENAMETOOLONG, "connect", path);
  }
  memcpy(addr.sun_path, target.c_str(), target.size() + 1);
  int rc = connect(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr);
  int err = errno;
  if (dirFd >= 0) close(dirFd);
  if (rc < 0) Fail(err, "connect", path);
  return fd;
}

void SetupConsole(int rootFd, int consoleSocket, unsigned short rows, unsigned short columns) {
  // The container's devpts (mounted with newinstance by the plan), never a host pty: open ptmx with
  // no symlinks on the way and check the filesystem really is devpts (CVE-2025-52565).
  Trace("open(\"/dev/pts/ptmx\", O_RDWR|O_NOCTTY)");
  int master = OpenInRoot(rootFd, "/dev/pts/ptmx", O_RDWR | O_NOCTTY, RESOLVE_NO_SYMLINKS);
  if (master < 0) FailErrno("openat2", "/dev/pts/ptmx");
  struct statfs fs;
  if (fstatfs(master, &fs) < 0) FailErrno("fstatfs", "/dev/pts/ptmx");
  if (fs.f_type != DEVPTS_SUPER_MAGIC) Fail(EINVAL, "fstatfs", "/dev/pts/ptmx", "/dev/pts/ptmx is not on devpts");
  int unlock = 0;
  if (ioctl(master, TIOCSPTLCK, &unlock) < 0) FailErrno("ioctl(TIOCSPTLCK)", "/dev/pts/ptmx");
  if (rows > 0 && columns > 0) {
    // `console-size`: the caller's terminal size from the first moment, so a shell's first prompt
    // and line editing already fit (later changes come as SIGWINCH through the monitor or the
    // console socket's owner).
    Trace("ioctl(master, TIOCSWINSZ, {" + std::to_string(rows) + ", " + std::to_string(columns) + "})");
    struct winsize size = {};
    size.ws_row = rows;
    size.ws_col = columns;
    if (ioctl(master, TIOCSWINSZ, &size) < 0) FailErrno("ioctl(TIOCSWINSZ)", "/dev/pts/ptmx");
  }
  unsigned number = 0;
  if (ioctl(master, TIOCGPTN, &number) < 0) FailErrno("ioctl(TIOCGPTN)", "/dev/pts/ptmx");
  const std::string name = "/dev/pts/" + std::to_string(number);
  // TIOCGPTPEER opens the slave through the master: no path lookup that could be redirected.
  Trace("ioctl(master, TIOCGPTPEER, O_RDWR|O_NOCTTY) = " + Quote(name));
  int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) FailErrno("ioctl(TIOCGPTPEER)", name);

  // /dev/console is the slave too (bound over an empty file), for programs that open it by name.
  int console = FileOrNewFileInRoot(rootFd, "/dev/console");
  Trace("mount(" + Quote(name) + ", \"/dev/console\", NULL, MS_BIND, NULL)");
  if (mount(FdPath(slave).c_str(), FdPath(console).c_str(), nullptr, MS_BIND, nullptr) < 0) {
    FailErrno("mount", "/dev/console");
  }
  close(console);

  Trace("sendmsg(console socket, " + Quote(name) + ", SCM_RIGHTS [master])");
  if (SendWithFd(consoleSocket, name, master) < 0) FailErrno("sendmsg", "console socket");
  close(master);
  close(consoleSocket);

  // The slave becomes stdio and, since we are a session leader, the controlling terminal.
  Trace("dup2(slave, 0/1/2); ioctl(0, TIOCSCTTY, 0)");
  for (int fd = 0; fd <= 2; fd++) {
    if (dup2(slave, fd) < 0) FailErrno("dup2", name);
  }
  if (slave > 2) close(slave);
  if (ioctl(0, TIOCSCTTY, 0) < 0) FailErrno("ioctl(TIOCSCTTY)", name);
}

void GiveStdioToUser(uid_t uid) {
  // A non-root container process must be able to reopen its own stdio (nginx opens /dev/stdout,
  // i.e. /proc/self/fd/1): make it the owner of the pipes or files it was given, as runc does.
  // /dev/null stays as it is; ids not mapped here (EINVAL/EPERM) or a read-only fs are left alone.
  for (int fd = 0; fd <= 2; fd++) {
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_uid == uid) continue;
    if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3)) continue;
    Trace("fchown(" + std::to_string(fd) + ", " + std::to_string(uid) + ", -1)");
    if (fchown(fd, uid, static_cast<gid_t>(-1)) < 0 && errno != EINVAL && errno != EPERM && errno != EROFS) {
      FailErrno("fchown", "stdio fd " + std::to_string(fd));
    }
  }
}

int ReceivePtyMaster(int socket) {
  char name[64];
  int master;
  if (ReceiveWithFd(socket, name, sizeof name, &master) <= 0) return -1;  // no fd comes with EOF
  return master;  // -1 if the message had none
}

bool MakeRaw(int fd, struct termios* saved) {
  if (!isatty(fd) || tcgetattr(fd, saved) < 0) return false;
  struct termios raw = *saved;
  cfmakeraw(&raw);
  return tcsetattr(fd, TCSANOW, &raw) == 0;
}

void CopyWindowSize(int from, int to) {
  struct winsize size;
  if (ioctl(from, TIOCGWINSZ, &size) == 0) ioctl(to, TIOCSWINSZ, &size);
}

void SendEndOfFile(int master, bool lineComplete) {
  struct termios settings;
  if (tcgetattr(master, &settings) < 0) return;
  const char eof = static_cast<char>(settings.c_cc[VEOF]);
  // In canonical mode the first ^D only hands over a started line; a second one is the EOF.
  const char twice[2] = {eof, eof};
  if (write(master, twice, lineComplete ? 1 : 2) < 0) return;
}

}  // namespace hull
