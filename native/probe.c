/*
 * hull-probe: a tiny static multi-call program that tests copy into container images to report
 * what the container sees (the idea of crun's tests/init.c). Usage: hull-probe <command> [args].
 * Report-type commands print one JSON object per line; docs/internals/probe.md is the contract.
 *
 * Exit status: 0 done, 1 the operation failed (message on stderr), 2 usage error.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/bpf.h>
#include <linux/io_uring.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <linux/reboot.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef AF_ALG
#define AF_ALG 38
#endif
#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

extern char** environ;

/* ---------- errno and signal names ---------- */

/* Same names as the addon (native/errors.cc) and Node: 95 is ENOTSUP. */
static const char* errno_name(int err) {
  switch (err) {
#define E(name) \
  case name:    \
    return #name;
    E(EPERM) E(ENOENT) E(ESRCH) E(EINTR) E(EIO) E(ENXIO) E(E2BIG) E(ENOEXEC) E(EBADF) E(ECHILD)
    E(EAGAIN) E(ENOMEM) E(EACCES) E(EFAULT) E(ENOTBLK) E(EBUSY) E(EEXIST) E(EXDEV) E(ENODEV)
    E(ENOTDIR) E(EISDIR) E(EINVAL) E(ENFILE) E(EMFILE) E(ENOTTY) E(ETXTBSY) E(EFBIG) E(ENOSPC)
    E(ESPIPE) E(EROFS) E(EMLINK) E(EPIPE) E(EDOM) E(ERANGE) E(EDEADLK) E(ENAMETOOLONG) E(ENOLCK)
    E(ENOSYS) E(ENOTEMPTY) E(ELOOP) E(ENOMSG) E(EIDRM) E(ENODATA) E(ETIME) E(ENOLINK) E(EPROTO)
    E(EBADMSG) E(EOVERFLOW) E(EBADFD) E(EILSEQ) E(EUSERS) E(ENOTSOCK) E(EDESTADDRREQ) E(EMSGSIZE)
    E(EPROTOTYPE) E(ENOPROTOOPT) E(EPROTONOSUPPORT) E(ESOCKTNOSUPPORT) E(ENOTSUP) E(EPFNOSUPPORT)
    E(EAFNOSUPPORT) E(EADDRINUSE) E(EADDRNOTAVAIL) E(ENETDOWN) E(ENETUNREACH) E(ENETRESET)
    E(ECONNABORTED) E(ECONNRESET) E(ENOBUFS) E(EISCONN) E(ENOTCONN) E(ESHUTDOWN) E(ETOOMANYREFS)
    E(ETIMEDOUT) E(ECONNREFUSED) E(EHOSTDOWN) E(EHOSTUNREACH) E(EALREADY) E(EINPROGRESS) E(ESTALE)
    E(EUCLEAN) E(EREMOTEIO) E(EDQUOT) E(ENOMEDIUM) E(EMEDIUMTYPE) E(ECANCELED) E(ENOKEY)
    E(EKEYEXPIRED) E(EKEYREVOKED) E(EKEYREJECTED) E(EOWNERDEAD) E(ENOTRECOVERABLE) E(ERFKILL)
    E(EHWPOISON)
#undef E
    default: {
      static char unknown[24];
      snprintf(unknown, sizeof unknown, "E%d", err);
      return unknown;
    }
  }
}

static const char* const signal_names[32] = {
    NULL,     "SIGHUP",  "SIGINT",  "SIGQUIT", "SIGILL",    "SIGTRAP", "SIGABRT",  "SIGBUS",
    "SIGFPE", "SIGKILL", "SIGUSR1", "SIGSEGV", "SIGUSR2",   "SIGPIPE", "SIGALRM",  "SIGTERM",
    "SIGSTKFLT", "SIGCHLD", "SIGCONT", "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG",
    "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO", "SIGPWR", "SIGSYS"};

/* "TERM", "SIGTERM", "sigterm" or "15" -> 15; -1 if unknown. */
static int parse_signal(const char* text) {
  char* end;
  long number = strtol(text, &end, 10);
  if (*text && !*end) return number > 0 && number < 65 ? (int)number : -1;
  for (int sig = 1; sig < 32; sig++) {
    if (!strcasecmp(text, signal_names[sig]) || !strcasecmp(text, signal_names[sig] + 3)) return sig;
  }
  return -1;
}

static void die_usage(const char* message) {
  fprintf(stderr, "hull-probe: %s (try: hull-probe help)\n", message);
  exit(2);
}

/* "hull-probe: open /x: ENOENT (No such file or directory)" and exit 1. */
static void die_errno(const char* what, const char* path) {
  int err = errno;
  fflush(stdout);
  fprintf(stderr, "hull-probe: %s%s%s: %s (%s)\n", what, path ? " " : "", path ? path : "", errno_name(err),
          strerror(err));
  exit(1);
}

/* ---------- a minimal JSON writer on stdout ---------- */

static int json_depth;
static int json_count[64]; /* values written at each nesting level, for commas */
static int json_after_key;

static void json_separator(void) {
  if (json_after_key) {
    json_after_key = 0;
  } else if (json_count[json_depth]++ > 0) {
    putchar(',');
  }
}

static void json_string_n(const char* s, size_t len) {
  json_separator();
  putchar('"');
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      putchar('\\');
      putchar(c);
    } else if (c == '\n') {
      fputs("\\n", stdout);
    } else if (c == '\t') {
      fputs("\\t", stdout);
    } else if (c < 0x20 || c == 0x7f) {
      printf("\\u%04x", c);
    } else {
      putchar(c);
    }
  }
  putchar('"');
}

static void json_string(const char* s) {
  if (!s) {
    json_separator();
    fputs("null", stdout);
    return;
  }
  json_string_n(s, strlen(s));
}

static void json_key(const char* key) {
  json_string(key);
  putchar(':');
  json_after_key = 1;
}

static void json_int(long long value) {
  json_separator();
  printf("%lld", value);
}

static void json_bool(int value) {
  json_separator();
  fputs(value ? "true" : "false", stdout);
}

static void json_null(void) {
  json_separator();
  fputs("null", stdout);
}

static void json_open(char bracket) {
  json_separator();
  putchar(bracket);
  json_count[++json_depth] = 0;
}

static void json_close(char bracket) {
  putchar(bracket);
  json_depth--;
  if (json_depth == 0) {
    putchar('\n');
    fflush(stdout);
    json_count[0] = 0;
  }
}

/* ---------- small file helpers ---------- */

/* Reads a whole (proc) file into a malloc'd NUL-terminated buffer; NULL on error (errno set). */
static char* read_all(const char* path, size_t* length) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  size_t size = 0, capacity = 4096;
  char* buffer = malloc(capacity);
  for (;;) {
    if (size + 1 >= capacity) buffer = realloc(buffer, capacity *= 2);
    ssize_t got = read(fd, buffer + size, capacity - size - 1);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      int err = errno;
      free(buffer);
      close(fd);
      errno = err;
      return NULL;
    }
    if (got == 0) break;
    size += (size_t)got;
  }
  close(fd);
  buffer[size] = '\0';
  if (length) *length = size;
  return buffer;
}

/* The value of "Name:\tvalue" in /proc/self/status, copied into out; 0 if missing. */
static int status_field(const char* name, char* out, size_t out_size) {
  char* status = read_all("/proc/self/status", NULL);
  if (!status) return 0;
  size_t name_len = strlen(name);
  int found = 0;
  for (char* line = status; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
    if (!strncmp(line, name, name_len) && line[name_len] == ':') {
      char* value = line + name_len + 1;
      while (*value == ' ' || *value == '\t') value++;
      size_t len = strcspn(value, "\n");
      if (len >= out_size) len = out_size - 1;
      memcpy(out, value, len);
      out[len] = '\0';
      found = 1;
      break;
    }
  }
  free(status);
  return found;
}

static void json_status_string(const char* key, const char* field) {
  char value[256];
  json_key(key);
  if (status_field(field, value, sizeof value)) {
    json_string(value);
  } else {
    json_null();
  }
}

static void json_status_int(const char* key, const char* field) {
  char value[256];
  json_key(key);
  if (status_field(field, value, sizeof value)) {
    json_int(atoll(value));
  } else {
    json_null();
  }
}

static int compare_strings(const void* a, const void* b) {
  return strcmp(*(char* const*)a, *(char* const*)b);
}

/* Sorted names in a directory, without "." and "..". NULL on error (errno set). */
static char** list_dir(const char* path, size_t* count) {
  DIR* dir = opendir(path);
  if (!dir) return NULL;
  size_t n = 0, capacity = 32;
  char** names = malloc(capacity * sizeof *names);
  struct dirent* entry;
  while ((entry = readdir(dir))) {
    if (!strcmp(entry->d_name, ".") || !strcmp(entry->d_name, "..")) continue;
    if (n == capacity) names = realloc(names, (capacity *= 2) * sizeof *names);
    names[n++] = strdup(entry->d_name);
  }
  closedir(dir);
  qsort(names, n, sizeof *names, compare_strings);
  *count = n;
  return names;
}

/* ---------- report pieces ---------- */

static void json_groups(void) {
  gid_t groups[NGROUPS_MAX];
  int count = getgroups(NGROUPS_MAX, groups);
  json_key("groups");
  json_open('[');
  for (int i = 0; i < count; i++) json_int(groups[i]);
  json_close(']');
}

static void json_ids(void) {
  uid_t ruid, euid, suid;
  gid_t rgid, egid, sgid;
  getresuid(&ruid, &euid, &suid);
  getresgid(&rgid, &egid, &sgid);
  json_key("uid"), json_int(ruid);
  json_key("gid"), json_int(rgid);
  json_key("euid"), json_int(euid);
  json_key("egid"), json_int(egid);
  json_key("suid"), json_int(suid);
  json_key("sgid"), json_int(sgid);
  json_groups();
}

/* /proc/self/fd entries with their link targets, skipping the fd used to list them. */
static void json_fds(void) {
  json_key("fds");
  json_open('[');
  DIR* dir = opendir("/proc/self/fd");
  if (dir) {
    int listing = dirfd(dir);
    int fds[4096];
    size_t n = 0;
    struct dirent* entry;
    while ((entry = readdir(dir)) && n < 4096) {
      if (!isdigit((unsigned char)entry->d_name[0])) continue;
      int fd = atoi(entry->d_name);
      if (fd != listing) fds[n++] = fd;
    }
    for (size_t i = 0; i < n; i++) { /* ascending order */
      for (size_t j = i + 1; j < n; j++) {
        if (fds[j] < fds[i]) {
          int t = fds[i];
          fds[i] = fds[j];
          fds[j] = t;
        }
      }
    }
    for (size_t i = 0; i < n; i++) {
      char name[32], target[PATH_MAX];
      snprintf(name, sizeof name, "%d", fds[i]);
      ssize_t len = readlinkat(listing, name, target, sizeof target - 1);
      json_open('{');
      json_key("fd"), json_int(fds[i]);
      json_key("target");
      if (len >= 0) {
        json_string_n(target, (size_t)len);
      } else {
        json_null();
      }
      json_close('}');
    }
    closedir(dir);
  }
  json_close(']');
}

static const struct {
  const char* name;
  int resource;
} rlimit_names[] = {
    {"cpu", RLIMIT_CPU},         {"fsize", RLIMIT_FSIZE},       {"data", RLIMIT_DATA},
    {"stack", RLIMIT_STACK},     {"core", RLIMIT_CORE},         {"rss", RLIMIT_RSS},
    {"nproc", RLIMIT_NPROC},     {"nofile", RLIMIT_NOFILE},     {"memlock", RLIMIT_MEMLOCK},
    {"as", RLIMIT_AS},           {"locks", RLIMIT_LOCKS},       {"sigpending", RLIMIT_SIGPENDING},
    {"msgqueue", RLIMIT_MSGQUEUE}, {"nice", RLIMIT_NICE},       {"rtprio", RLIMIT_RTPRIO},
    {"rttime", RLIMIT_RTTIME},
};

static void json_rlimit_value(rlim_t value) {
  if (value == RLIM_INFINITY) {
    json_int(-1); /* unlimited */
  } else {
    json_int((long long)value);
  }
}

static void json_rlimits(void) {
  json_key("rlimits");
  json_open('{');
  for (size_t i = 0; i < sizeof rlimit_names / sizeof rlimit_names[0]; i++) {
    struct rlimit limit;
    if (getrlimit(rlimit_names[i].resource, &limit) < 0) continue;
    json_key(rlimit_names[i].name);
    json_open('{');
    json_key("soft"), json_rlimit_value(limit.rlim_cur);
    json_key("hard"), json_rlimit_value(limit.rlim_max);
    json_close('}');
  }
  json_close('}');
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. Decodes in place. */
static char* unescape_octal(char* s) {
  char* out = s;
  for (char* in = s; *in; in++) {
    if (in[0] == '\\' && in[1] >= '0' && in[1] <= '7' && in[2] >= '0' && in[2] <= '7' && in[3] >= '0' &&
        in[3] <= '7') {
      *out++ = (char)((in[1] - '0') * 64 + (in[2] - '0') * 8 + (in[3] - '0'));
      in += 3;
    } else {
      *out++ = *in;
    }
  }
  *out = '\0';
  return s;
}

/* One /proc/self/mountinfo line:
 * 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue */
static void json_mount_line(char* line) {
  char* fields[64];
  int n = 0;
  for (char* save = NULL, *token = strtok_r(line, " ", &save); token && n < 64; token = strtok_r(NULL, " ", &save)) {
    fields[n++] = token;
  }
  int dash = -1;
  for (int i = 6; i < n; i++) {
    if (!strcmp(fields[i], "-")) {
      dash = i;
      break;
    }
  }
  if (n < 6 || dash < 0 || dash + 3 > n) return;
  json_open('{');
  json_key("id"), json_int(atoll(fields[0]));
  json_key("parent"), json_int(atoll(fields[1]));
  json_key("dev"), json_string(fields[2]);
  json_key("root"), json_string(unescape_octal(fields[3]));
  json_key("mountpoint"), json_string(unescape_octal(fields[4]));
  json_key("options"), json_string(fields[5]);
  json_key("optional");
  json_open('[');
  for (int i = 6; i < dash; i++) json_string(fields[i]);
  json_close(']');
  json_key("fstype"), json_string(fields[dash + 1]);
  json_key("source"), json_string(unescape_octal(fields[dash + 2]));
  json_key("superOptions"), json_string(dash + 3 < n ? fields[dash + 3] : "");
  json_close('}');
}

static void json_mounts(void) {
  json_key("mounts");
  json_open('[');
  char* mountinfo = read_all("/proc/self/mountinfo", NULL);
  if (mountinfo) {
    for (char* save = NULL, *line = strtok_r(mountinfo, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
      json_mount_line(line);
    }
    free(mountinfo);
  }
  json_close(']');
}

static void json_namespaces(void) {
  json_key("namespaces");
  json_open('{');
  size_t count = 0;
  char** names = list_dir("/proc/self/ns", &count);
  for (size_t i = 0; names && i < count; i++) {
    char path[PATH_MAX], target[256];
    snprintf(path, sizeof path, "/proc/self/ns/%s", names[i]);
    ssize_t len = readlink(path, target, sizeof target - 1);
    json_key(names[i]);
    if (len >= 0) {
      json_string_n(target, (size_t)len);
    } else {
      json_null();
    }
    free(names[i]);
  }
  free(names);
  json_close('}');
}

static void json_cgroups(void) {
  json_key("cgroup");
  json_open('[');
  char* cgroups = read_all("/proc/self/cgroup", NULL);
  if (cgroups) {
    for (char* save = NULL, *line = strtok_r(cgroups, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
      json_string(line);
    }
    free(cgroups);
  }
  json_close(']');
}

static int cmd_report(void) {
  struct utsname uts;
  uname(&uts);
  char cwd[PATH_MAX];
  char* oom = read_all("/proc/self/oom_score_adj", NULL);
  int env_count = 0;
  while (environ && environ[env_count]) env_count++;

  json_open('{');
  json_key("hostname"), json_string(uts.nodename);
  json_key("domainname"), json_string(uts.domainname);
  json_key("kernel"), json_string(uts.release);
  json_key("pid"), json_int(getpid());
  json_key("ppid"), json_int(getppid());
  json_key("pgid"), json_int(getpgid(0));
  json_key("sid"), json_int(getsid(0));
  json_ids();
  json_status_string("umask", "Umask");
  json_key("cwd");
  if (getcwd(cwd, sizeof cwd)) {
    json_string(cwd);
  } else {
    json_null();
  }
  json_key("caps");
  json_open('{');
  json_status_string("bnd", "CapBnd");
  json_status_string("eff", "CapEff");
  json_status_string("prm", "CapPrm");
  json_status_string("inh", "CapInh");
  json_status_string("amb", "CapAmb");
  json_close('}');
  json_key("no_new_privs"), json_bool(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1);
  json_status_int("seccomp", "Seccomp");
  json_status_int("seccomp_filters", "Seccomp_filters");
  json_key("signals");
  json_open('{');
  json_status_string("blocked", "SigBlk");
  json_status_string("ignored", "SigIgn");
  json_status_string("caught", "SigCgt");
  json_close('}');
  json_rlimits();
  json_mounts();
  json_namespaces();
  json_cgroups();
  json_key("env_count"), json_int(env_count);
  json_fds();
  json_key("tty");
  json_open('{');
  json_key("stdin"), json_bool(isatty(0));
  json_key("stdout"), json_bool(isatty(1));
  json_key("stderr"), json_bool(isatty(2));
  json_close('}');
  json_key("oom_score_adj");
  if (oom) {
    json_int(atoll(oom));
  } else {
    json_null();
  }
  json_key("dumpable"), json_int(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
  json_close('}');
  free(oom);
  return 0;
}

/* ---------- simple commands ---------- */

static int cmd_hostname(void) {
  struct utsname uts;
  uname(&uts);
  printf("%s\n", uts.nodename);
  return 0;
}

static int cmd_id(void) {
  json_open('{');
  json_ids();
  json_close('}');
  return 0;
}

static int cmd_cwd(void) {
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof cwd)) die_errno("getcwd", NULL);
  printf("%s\n", cwd);
  return 0;
}

static int cmd_env(void) {
  for (char** entry = environ; entry && *entry; entry++) printf("%s\n", *entry);
  return 0;
}

static int cmd_cat(const char* path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) die_errno("open", path);
  char buffer[65536];
  for (;;) {
    ssize_t got = read(fd, buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) die_errno("read", path);
    if (got == 0) break;
    if (fwrite(buffer, 1, (size_t)got, stdout) != (size_t)got) die_errno("write", "stdout");
  }
  close(fd);
  return 0;
}

static int cmd_write(const char* path, const char* text) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) die_errno("open", path);
  size_t length = strlen(text), done = 0;
  while (done < length) {
    ssize_t wrote = write(fd, text + done, length - done);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote < 0) die_errno("write", path);
    done += (size_t)wrote;
  }
  if (close(fd) < 0) die_errno("close", path);
  return 0;
}

static int cmd_ls(const char* path) {
  size_t count = 0;
  char** names = list_dir(path, &count);
  if (!names) die_errno("opendir", path);
  for (size_t i = 0; i < count; i++) printf("%s\n", names[i]);
  return 0;
}

static int cmd_fds(void) {
  json_open('{');
  json_fds();
  json_close('}');
  return 0;
}

static double parse_seconds(const char* text) {
  char* end;
  double seconds = strtod(text, &end);
  if (!*text || *end || seconds < 0) die_usage("expected a number of seconds");
  return seconds;
}

static void sleep_seconds(double seconds) {
  struct timespec left = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
  while (nanosleep(&left, &left) < 0 && errno == EINTR) {
  }
}

static int cmd_kill_self(const char* name) {
  int sig = parse_signal(name);
  if (sig < 0) die_usage("unknown signal");
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  sigprocmask(SIG_UNBLOCK, &set, NULL);
  signal(sig, SIG_DFL);
  kill(getpid(), sig);
  /* Still here: ignored by default (SIGCHLD...) or we are the init of a PID namespace. */
  json_open('{');
  json_key("killed"), json_bool(0);
  json_key("signal"), json_int(sig);
  json_close('}');
  return 1;
}

static double monotonic_seconds(clockid_t clock) {
  struct timespec now;
  clock_gettime(clock, &now);
  return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

/* Allocates and touches MB mebibytes, reports, then holds them (forever, or SECONDS). */
static int cmd_memhog(const char* mb_text, const char* hold_text) {
  long megabytes = atol(mb_text);
  if (megabytes <= 0) die_usage("memhog: expected a positive number of MB");
  const size_t chunk = 1 << 20;
  for (long i = 0; i < megabytes; i++) {
    char* block = mmap(NULL, chunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (block == MAP_FAILED) {
      int err = errno;
      json_open('{');
      json_key("allocated_mb"), json_int(i);
      json_key("errno"), json_int(err);
      json_key("errnoName"), json_string(errno_name(err));
      json_close('}');
      return 1;
    }
    memset(block, 0xa5, chunk); /* touch every page so it is really charged */
  }
  json_open('{');
  json_key("allocated_mb"), json_int(megabytes);
  json_close('}');
  if (hold_text) {
    sleep_seconds(parse_seconds(hold_text));
    return 0;
  }
  for (;;) pause();
}

/* Forks N children that sleep; reports how many forks worked, then kills and reaps them. */
static int cmd_forkbomb(const char* n_text, const char* hold_text) {
  long requested = atol(n_text);
  if (requested <= 0) die_usage("forkbomb: expected a positive count");
  pid_t* children = calloc((size_t)requested, sizeof *children);
  pid_t parent = getpid();
  long forked = 0;
  int first_errno = 0;
  fflush(stdout);
  for (long i = 0; i < requested; i++) {
    pid_t pid = fork();
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
      if (getppid() != parent) _exit(0);
      for (;;) pause();
    }
    if (pid < 0) {
      first_errno = errno;
      break;
    }
    children[forked++] = pid;
  }
  json_open('{');
  json_key("requested"), json_int(requested);
  json_key("forked"), json_int(forked);
  json_key("errno"), json_int(first_errno);
  json_key("errnoName");
  if (first_errno) {
    json_string(errno_name(first_errno));
  } else {
    json_null();
  }
  json_close('}');
  if (hold_text) sleep_seconds(parse_seconds(hold_text));
  for (long i = 0; i < forked; i++) kill(children[i], SIGKILL);
  for (long i = 0; i < forked; i++) waitpid(children[i], NULL, 0);
  free(children);
  return 0;
}

static int cmd_spin(const char* seconds_text) {
  double seconds = parse_seconds(seconds_text);
  double wall_start = monotonic_seconds(CLOCK_MONOTONIC);
  double cpu_start = monotonic_seconds(CLOCK_PROCESS_CPUTIME_ID);
  volatile unsigned long counter = 0;
  while (monotonic_seconds(CLOCK_MONOTONIC) - wall_start < seconds) {
    for (int i = 0; i < 10000; i++) counter++;
  }
  json_open('{');
  json_key("wall_ms"), json_int((long long)((monotonic_seconds(CLOCK_MONOTONIC) - wall_start) * 1000));
  json_key("cpu_ms"), json_int((long long)((monotonic_seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu_start) * 1000));
  json_close('}');
  return 0;
}

static void ignore_signal_handler(int sig) { (void)sig; }

/*
 * A minimal init for a long-lived sandbox (src/sandbox, PID 1 of its PID namespace): processes that
 * `exec` calls leave behind are re-parented here, so it reaps them, or they would stay zombies until
 * the sandbox ends. Every signal is blocked and taken with sigwaitinfo; SIGCHLD reaps whatever has
 * exited; the sandbox ends it with SIGKILL (the only signal a namespace's init cannot ignore).
 */
_Noreturn static void cmd_init(void) {
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, NULL);
  for (;;) {
    siginfo_t info;
    if (sigwaitinfo(&all, &info) < 0) continue;
    if (info.si_signo != SIGCHLD) continue;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
  }
}

/* Waits for any catchable signal (also as PID 1, where default actions are ignored). */
static int cmd_wait_signal(const char* seconds_text) {
  sigset_t all;
  sigemptyset(&all);
  for (int sig = 1; sig < 32; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    struct sigaction action = {0};
    action.sa_handler = ignore_signal_handler;
    sigaction(sig, &action, NULL);
    sigaddset(&all, sig);
  }
  sigprocmask(SIG_BLOCK, &all, NULL);
  json_open('{');
  json_key("ready"), json_bool(1);
  json_key("pid"), json_int(getpid());
  json_close('}');
  struct timespec timeout = {0, 0};
  if (seconds_text) {
    double seconds = parse_seconds(seconds_text);
    timeout.tv_sec = (time_t)seconds;
    timeout.tv_nsec = (long)((seconds - (double)(time_t)seconds) * 1e9);
  }
  int sig;
  do {
    sig = seconds_text ? sigtimedwait(&all, NULL, &timeout) : sigwaitinfo(&all, NULL);
  } while (sig < 0 && errno == EINTR);
  json_open('{');
  if (sig < 0) {
    json_key("signal"), json_int(0);
    json_key("name"), json_null();
    json_key("timeout"), json_bool(1);
    json_close('}');
    return 1;
  }
  json_key("signal"), json_int(sig);
  json_key("name"), json_string(sig < 32 ? signal_names[sig] : NULL);
  json_close('}');
  return 0;
}

/* ---------- try: attempt a dangerous operation, report whether the kernel allowed it ---------- */

struct attempt {
  int ok;
  int err;
  const char* detail;
};

static struct attempt result_of(int returned) {
  struct attempt result = {returned >= 0, returned >= 0 ? 0 : errno, NULL};
  return result;
}

/* For calls made with deliberately harmless, invalid arguments: getting past the permission
 * check (any errno other than EPERM/EACCES/ENOSYS) counts as allowed. Nothing is changed. */
static struct attempt permission_check_of(int returned, const char* detail) {
  struct attempt result = {1, returned >= 0 ? 0 : errno, detail};
  if (returned < 0 && (errno == EPERM || errno == EACCES || errno == ENOSYS)) result.ok = 0;
  return result;
}

/* Set by a child-side function when a preparatory step (not the call under test) failed. */
static const char* child_failed_step;

/* Runs fn in a forked child so changes to namespaces, root or limits stay out of this process.
 * The child sends back its errno (0 = success) and the failed step, if any, through a pipe. */
static struct attempt in_child(int (*fn)(const char* arg), const char* arg) {
  struct report {
    int err;
    char step[64];
  } report;
  static char step[64];
  int pipe_fds[2];
  struct attempt result = {0, 0, NULL};
  if (pipe2(pipe_fds, O_CLOEXEC) < 0) {
    result.err = errno;
    result.detail = "pipe2";
    return result;
  }
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) {
    result.err = errno;
    result.detail = "fork";
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    return result;
  }
  if (pid == 0) {
    memset(&report, 0, sizeof report);
    report.err = fn(arg) < 0 ? errno : 0;
    if (report.err && child_failed_step) snprintf(report.step, sizeof report.step, "%s", child_failed_step);
    if (write(pipe_fds[1], &report, sizeof report) != sizeof report) _exit(1);
    _exit(0);
  }
  close(pipe_fds[1]);
  ssize_t got;
  do {
    got = read(pipe_fds[0], &report, sizeof report);
  } while (got < 0 && errno == EINTR);
  close(pipe_fds[0]);
  waitpid(pid, NULL, 0);
  if (got != sizeof report) {
    result.err = ECHILD;
    result.detail = "child died without reporting";
    return result;
  }
  result.ok = report.err == 0;
  result.err = report.err;
  if (report.step[0]) {
    memcpy(step, report.step, sizeof step);
    result.detail = step;
  }
  return result;
}

/* A scratch directory /tmp/hull-probe-<pid>-<what> for mount attempts. */
static const char* scratch_dir(const char* what) {
  static char path[128];
  snprintf(path, sizeof path, "/tmp/hull-probe-%d-%s", getpid(), what);
  return path;
}

/* mount(2) onto a fresh scratch dir, unmounting and removing it afterwards. */
static struct attempt try_mount_fs(const char* what, const char* source, const char* fstype, unsigned long flags,
                                   const char* data) {
  const char* dir = scratch_dir(what);
  struct attempt result = {0, 0, NULL};
  if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
    result.err = errno;
    result.detail = "mkdir /tmp scratch dir";
    return result;
  }
  result = result_of(mount(source, dir, fstype, flags, data));
  if (result.ok) umount2(dir, MNT_DETACH);
  rmdir(dir);
  return result;
}

static struct attempt op_mount(const char* arg) {
  return try_mount_fs("mount", "tmpfs", "tmpfs", 0, arg ? arg : "size=64k");
}

static struct attempt op_umount(const char* arg) {
  const char* dir = scratch_dir("umount");
  struct attempt result = {0, 0, NULL};
  if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
    result.err = errno;
    result.detail = "mkdir /tmp scratch dir";
    return result;
  }
  if (mount("tmpfs", dir, "tmpfs", 0, "size=64k") == 0) {
    result = result_of(umount2(dir, 0));
    result.detail = "unmounted a fresh tmpfs";
    if (!result.ok) umount2(dir, MNT_DETACH);
  } else {
    /* Could not mount: umount a plain directory. EINVAL (not a mountpoint) comes after the
     * permission check, so it means umount itself is allowed. */
    result = permission_check_of(umount2(dir, 0), "umount of a non-mountpoint (permission check only)");
  }
  rmdir(dir);
  return result;
}

static int do_unshare_user(const char* arg) { return unshare(CLONE_NEWUSER); }
static int do_unshare_mnt(const char* arg) { return unshare(CLONE_NEWNS); }

static int do_setns(const char* arg) {
  int fd = open(arg ? arg : "/proc/1/ns/mnt", O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    child_failed_step = "open";
    return -1;
  }
  return setns(fd, 0);
}

static int do_chroot(const char* arg) { return chroot(arg ? arg : "/"); }

/* Lower the nofile hard limit by one, then raise it back: raising needs CAP_SYS_RESOURCE. */
static int do_setrlimit_raise(const char* arg) {
  struct rlimit limit;
  child_failed_step = "lower";
  if (getrlimit(RLIMIT_NOFILE, &limit) < 0) return -1;
  rlim_t hard = limit.rlim_max;
  struct rlimit lowered = {limit.rlim_cur < hard - 1 ? limit.rlim_cur : hard - 1, hard - 1};
  if (setrlimit(RLIMIT_NOFILE, &lowered) < 0) return -1;
  child_failed_step = NULL;
  struct rlimit raised = {lowered.rlim_cur, hard};
  return setrlimit(RLIMIT_NOFILE, &raised);
}

static int do_personality(const char* arg) {
  return personality(PER_LINUX | ADDR_NO_RANDOMIZE) == -1 ? -1 : 0;
}

/* PTRACE_SEIZE (the same permission checks as PTRACE_ATTACH, without stopping the target);
 * the tracer is this short-lived child, so the kernel detaches when it exits. */
static int do_ptrace(const char* arg) {
  pid_t target = arg ? (pid_t)atoi(arg) : 1;
  return ptrace(PTRACE_SEIZE, target, NULL, NULL) < 0 ? -1 : 0;
}

static int do_clone_newns(const char* arg) {
  long pid = syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0);
  if (pid < 0) return -1;
  if (pid == 0) syscall(SYS_exit_group, 0);
  waitpid((pid_t)pid, NULL, 0);
  return 0;
}

static struct attempt op_unshare_user(const char* arg) { return in_child(do_unshare_user, arg); }
static struct attempt op_unshare_mnt(const char* arg) { return in_child(do_unshare_mnt, arg); }
static struct attempt op_setns(const char* arg) { return in_child(do_setns, arg); }
static struct attempt op_chroot(const char* arg) { return in_child(do_chroot, arg); }
static struct attempt op_setrlimit_raise(const char* arg) { return in_child(do_setrlimit_raise, arg); }
static struct attempt op_personality(const char* arg) { return in_child(do_personality, arg); }
static struct attempt op_clone_newns(const char* arg) { return in_child(do_clone_newns, arg); }

static struct attempt op_ptrace(const char* arg) {
  if (arg || getpid() != 1) return in_child(do_ptrace, arg);
  /* We are PID 1: trace a sleeping child of ours instead of ourselves. */
  pid_t sleeper = fork();
  if (sleeper == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    for (;;) pause();
  }
  char pid_text[16];
  snprintf(pid_text, sizeof pid_text, "%d", sleeper);
  struct attempt result = in_child(do_ptrace, pid_text);
  kill(sleeper, SIGKILL);
  waitpid(sleeper, NULL, 0);
  return result;
}

static struct attempt op_keyctl(const char* arg) {
  return result_of((int)syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
}

static struct attempt op_bpf(const char* arg) {
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.map_type = BPF_MAP_TYPE_ARRAY;
  attr.key_size = 4;
  attr.value_size = 4;
  attr.max_entries = 1;
  int fd = (int)syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr);
  struct attempt result = result_of(fd);
  if (fd >= 0) close(fd);
  return result;
}

static struct attempt op_perf_event_open(const char* arg) {
  struct perf_event_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.size = sizeof attr;
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = PERF_COUNT_SW_CPU_CLOCK;
  attr.disabled = 1;
  attr.exclude_kernel = 1;
  attr.exclude_hv = 1;
  int fd = (int)syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
  struct attempt result = result_of(fd);
  if (fd >= 0) close(fd);
  return result;
}

/* mknod b 8 0 in /tmp, then open it: the device cgroup should refuse the open. */
static struct attempt op_mknod_block(const char* arg) {
  char path[128];
  snprintf(path, sizeof path, "/tmp/hull-probe-%d-blk", getpid());
  struct attempt result = result_of(mknod(path, S_IFBLK | 0600, makedev(8, 0)));
  if (!result.ok) {
    result.detail = "mknod";
    return result;
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  result = result_of(fd);
  result.detail = fd >= 0 ? "mknod and open succeeded" : "open";
  if (fd >= 0) close(fd);
  unlink(path);
  return result;
}

static struct attempt op_read_kcore(const char* arg) {
  int fd = open("/proc/kcore", O_RDONLY | O_CLOEXEC);
  struct attempt result = result_of(fd);
  if (fd < 0) {
    result.detail = "open";
    return result;
  }
  char buffer[64];
  ssize_t got = read(fd, buffer, sizeof buffer);
  result = result_of((int)got);
  if (got == 0) {
    result.ok = 0;
    result.detail = "empty read (masked)";
  } else if (got < 0) {
    result.detail = "read";
  }
  close(fd);
  return result;
}

/* Opening for writing is the test; writing zero bytes triggers nothing. */
static struct attempt op_write_sysrq(const char* arg) {
  int fd = open("/proc/sysrq-trigger", O_WRONLY | O_CLOEXEC);
  struct attempt result = result_of(fd);
  if (fd >= 0) {
    result.detail = "opened O_WRONLY, wrote 0 bytes";
    if (write(fd, "", 0) < 0) result = result_of(-1);
    close(fd);
  }
  return result;
}

/* Sets the hostname it already has. */
static struct attempt op_sethostname(const char* arg) {
  struct utsname uts;
  uname(&uts);
  return result_of(sethostname(uts.nodename, strlen(uts.nodename)));
}

/* Bad magic: EINVAL comes after the CAP_SYS_BOOT check, and nothing reboots. */
static struct attempt op_reboot(const char* arg) {
  return permission_check_of((int)syscall(SYS_reboot, 0, 0, LINUX_REBOOT_CMD_CAD_OFF, NULL),
                             "invalid magic (permission check only)");
}

static struct attempt op_swapon(const char* arg) {
  return permission_check_of(swapon("/nonexistent/hull-probe-swap", 0), "missing file (permission check only)");
}

static struct attempt op_init_module(const char* arg) {
  static const char not_elf[16] = {0};
  return permission_check_of((int)syscall(SYS_init_module, not_elf, sizeof not_elf, ""),
                             "not an ELF module (permission check only)");
}

static struct attempt op_open_by_handle_at(const char* arg) {
  struct {
    struct file_handle handle;
    unsigned char bytes[MAX_HANDLE_SZ];
  } fh;
  memset(&fh, 0, sizeof fh);
  fh.handle.handle_bytes = MAX_HANDLE_SZ;
  int mount_id;
  int root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) {
    struct attempt result = result_of(-1);
    result.detail = "open /";
    return result;
  }
  struct attempt result;
  if (name_to_handle_at(AT_FDCWD, "/", &fh.handle, &mount_id, 0) == 0) {
    int fd = open_by_handle_at(root, &fh.handle, O_RDONLY | O_CLOEXEC);
    result = result_of(fd);
    if (fd >= 0) close(fd);
  } else {
    /* The root filesystem cannot export handles: a bogus one still shows the permission check. */
    fh.handle.handle_bytes = 8;
    fh.handle.handle_type = 1;
    int fd = open_by_handle_at(root, &fh.handle, O_RDONLY | O_CLOEXEC);
    result = permission_check_of(fd, "bogus handle (permission check only)");
    if (fd >= 0) close(fd);
  }
  close(root);
  return result;
}

static struct attempt op_userfaultfd(const char* arg) {
  int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
  struct attempt result = result_of(fd);
  if (fd >= 0) close(fd);
  return result;
}

static struct attempt op_io_uring_setup(const char* arg) {
  struct io_uring_params params;
  memset(&params, 0, sizeof params);
  int fd = (int)syscall(SYS_io_uring_setup, 1, &params);
  struct attempt result = result_of(fd);
  if (fd >= 0) close(fd);
  return result;
}

static struct attempt try_socket(int family, int type) {
  int fd = socket(family, type | SOCK_CLOEXEC, 0);
  struct attempt result = result_of(fd);
  if (fd >= 0) close(fd);
  return result;
}

static struct attempt op_socket_alg(const char* arg) { return try_socket(AF_ALG, SOCK_SEQPACKET); }
static struct attempt op_socket_vsock(const char* arg) { return try_socket(AF_VSOCK, SOCK_STREAM); }

/* CVE-2019-5736: the running binary is busy, so this should fail with ETXTBSY at least. */
static struct attempt op_write_proc_self_exe(const char* arg) {
  int fd = open("/proc/self/exe", O_WRONLY | O_CLOEXEC);
  struct attempt result = result_of(fd);
  if (fd >= 0) close(fd);
  return result;
}

/* CVE-2022-0492 needs a writable cgroup v1 mount; mounts an existing controller (memory). */
static struct attempt op_cgroup_mount(const char* arg) {
  return try_mount_fs("cgroup", "cgroup", "cgroup", MS_NOSUID | MS_NODEV | MS_NOEXEC, arg ? arg : "memory");
}

static struct attempt op_proc_mount(const char* arg) {
  return try_mount_fs("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
}

static const struct {
  const char* name;
  struct attempt (*run)(const char* arg);
} operations[] = {
    {"mount", op_mount},
    {"umount", op_umount},
    {"unshare-user", op_unshare_user},
    {"unshare-mnt", op_unshare_mnt},
    {"setns", op_setns},
    {"keyctl", op_keyctl},
    {"bpf", op_bpf},
    {"perf_event_open", op_perf_event_open},
    {"ptrace", op_ptrace},
    {"mknod-block", op_mknod_block},
    {"read-kcore", op_read_kcore},
    {"write-sysrq", op_write_sysrq},
    {"setrlimit-raise", op_setrlimit_raise},
    {"chroot", op_chroot},
    {"sethostname", op_sethostname},
    {"reboot", op_reboot},
    {"swapon", op_swapon},
    {"init_module", op_init_module},
    {"open_by_handle_at", op_open_by_handle_at},
    {"userfaultfd", op_userfaultfd},
    {"io_uring_setup", op_io_uring_setup},
    {"clone-newns", op_clone_newns},
    {"personality", op_personality},
    {"socket-alg", op_socket_alg},
    {"socket-vsock", op_socket_vsock},
    {"write-proc-self-exe", op_write_proc_self_exe},
    {"cgroup-mount", op_cgroup_mount},
    {"proc-mount", op_proc_mount},
};
#define OPERATION_COUNT (sizeof operations / sizeof operations[0])

static void print_attempt(const char* name, struct attempt result) {
  json_open('{');
  json_key("name"), json_string(name);
  json_key("ok"), json_bool(result.ok);
  json_key("errno"), json_int(result.err);
  json_key("errnoName");
  if (result.err) {
    json_string(errno_name(result.err));
  } else {
    json_null();
  }
  if (result.detail) json_key("detail"), json_string(result.detail);
  json_close('}');
}

/* try NAME[=ARG]... | try all: one JSON line per operation. */
static int cmd_try(int argc, char** argv) {
  if (argc < 1) die_usage("try: expected operation names");
  int unknown = 0;
  for (int i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "all")) {
      for (size_t k = 0; k < OPERATION_COUNT; k++) print_attempt(operations[k].name, operations[k].run(NULL));
      continue;
    }
    char name[64];
    const char* arg = strchr(argv[i], '=');
    size_t name_len = arg ? (size_t)(arg - argv[i]) : strlen(argv[i]);
    if (name_len >= sizeof name) name_len = sizeof name - 1;
    memcpy(name, argv[i], name_len);
    name[name_len] = '\0';
    if (arg) arg++;
    size_t k = 0;
    while (k < OPERATION_COUNT && strcmp(operations[k].name, name)) k++;
    if (k == OPERATION_COUNT) {
      struct attempt result = {0, EINVAL, "unknown operation"};
      print_attempt(name, result);
      unknown = 1;
      continue;
    }
    print_attempt(name, operations[k].run(arg));
  }
  return unknown ? 2 : 0;
}

static void usage(FILE* out) {
  fputs(
      "usage: hull-probe <command> [args]  (docs/internals/probe.md)\n"
      "  report | id | fds                 JSON reports\n"
      "  hostname | cwd | env              plain text\n"
      "  cat FILE | write FILE TEXT | ls DIR\n"
      "  sleep SECONDS | exit N | kill-self SIG | wait-signal [SECONDS]\n"
      "  init                              reap orphans until SIGKILL (a long-lived sandbox's PID 1)\n"
      "  memhog MB [SECONDS] | forkbomb N [SECONDS] | spin SECONDS\n"
      "  try NAME[=ARG]... | try all       one JSON line per operation:\n",
      out);
  for (size_t k = 0; k < OPERATION_COUNT; k++) fprintf(out, "%s%s", k % 6 ? " " : "\n    ", operations[k].name);
  fputc('\n', out);
}

int main(int argc, char** argv) {
  if (argc < 2) die_usage("expected a command");
  const char* command = argv[1];
  int nargs = argc - 2;
  char** args = argv + 2;
  int status;

  if (!strcmp(command, "report")) {
    status = cmd_report();
  } else if (!strcmp(command, "hostname")) {
    status = cmd_hostname();
  } else if (!strcmp(command, "id")) {
    status = cmd_id();
  } else if (!strcmp(command, "cwd")) {
    status = cmd_cwd();
  } else if (!strcmp(command, "env")) {
    status = cmd_env();
  } else if (!strcmp(command, "cat") && nargs == 1) {
    status = cmd_cat(args[0]);
  } else if (!strcmp(command, "write") && nargs == 2) {
    status = cmd_write(args[0], args[1]);
  } else if (!strcmp(command, "ls") && nargs == 1) {
    status = cmd_ls(args[0]);
  } else if (!strcmp(command, "fds")) {
    status = cmd_fds();
  } else if (!strcmp(command, "sleep") && nargs == 1) {
    sleep_seconds(parse_seconds(args[0]));
    status = 0;
  } else if (!strcmp(command, "exit") && nargs == 1) {
    status = atoi(args[0]);
  } else if (!strcmp(command, "kill-self") && nargs == 1) {
    status = cmd_kill_self(args[0]);
  } else if (!strcmp(command, "init") && nargs == 0) {
    cmd_init();
  } else if (!strcmp(command, "wait-signal") && nargs <= 1) {
    status = cmd_wait_signal(nargs ? args[0] : NULL);
  } else if (!strcmp(command, "memhog") && (nargs == 1 || nargs == 2)) {
    status = cmd_memhog(args[0], nargs == 2 ? args[1] : NULL);
  } else if (!strcmp(command, "forkbomb") && (nargs == 1 || nargs == 2)) {
    status = cmd_forkbomb(args[0], nargs == 2 ? args[1] : NULL);
  } else if (!strcmp(command, "spin") && nargs == 1) {
    status = cmd_spin(args[0]);
  } else if (!strcmp(command, "try")) {
    status = cmd_try(nargs, args);
  } else if (!strcmp(command, "help") || !strcmp(command, "--help")) {
    usage(stdout);
    status = 0;
  } else {
    usage(stderr);
    die_usage("unknown command or wrong number of arguments");
  }
  if (fflush(stdout) != 0) return 1;
  return status;
}
