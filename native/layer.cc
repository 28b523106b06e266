// Image layer application: an uncompressed tar stream applied onto a layer directory.
//
// JS feeds chunks (createLayerApplier(dir, options).write/end/abort); a dedicated std::thread parses
// and applies them, so no disk I/O ever runs on the JS thread (REFERENCE §6). The parser is our own:
// node-tar drops devices, xattrs and whiteouts and cannot confine links (REFERENCE §6 table).
//
// Confinement: every lookup is openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) on the layer dir fd
// and the last component is never followed, so absolute or `..` symlinks planted by the layer resolve
// inside the layer instead of on the host (REFERENCE §8 "Layer breakouts").
// Overlay form: `.wh.X` becomes a 0/0 char device, `.wh..wh..opq` becomes trusted.overlay.opaque=y.
// docs/internals/layers.md describes the whole pipeline.
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include "addon.h"
#include "errors.h"

namespace hull {
namespace {

// Bytes JS may queue ahead of the worker before write() stops resolving immediately (backpressure).
constexpr size_t kQueueLimitBytes = 8u << 20;
// PAX / GNU long-name payloads are buffered in memory: bound them.
constexpr uint64_t kMaxMetaBytes = 16u << 20;
// Warnings are for humans: keep the list short on pathological layers.
constexpr size_t kMaxWarnings = 100;

const char kWhiteoutPrefix[] = ".wh.";
const char kOpaqueMarker[] = ".wh..wh..opq";
const char kOpaqueXattr[] = "trusted.overlay.opaque";
const char kUserOpaqueXattr[] = "user.overlay.opaque";  // overlays mounted with `userxattr` (rootless)

// ---------------------------------------------------------------------------------------------
// Failures raised on the worker thread; turned into JS errors on the JS thread.

struct Failure {
  enum Kind { kNone, kSystem, kTar, kAborted } kind = kNone;
  int err = 0;
  std::string syscall;
  std::string path;     // host path (layer dir + entry path) for system errors
  std::string entry;    // tar entry name as written in the archive
  std::string message;  // tar-format / confinement errors
};

struct ApplyError {
  Failure failure;
};

[[noreturn]] void FailSys(int err, const char* syscall, const std::string& path, const std::string& entry) {
  Failure f;
  f.kind = Failure::kSystem;
  f.err = err;
  f.syscall = syscall;
  f.path = path;
  f.entry = entry;
  throw ApplyError{f};
}

[[noreturn]] void FailTar(const std::string& entry, const std::string& message) {
  Failure f;
  f.kind = Failure::kTar;
  f.entry = entry;
  f.message = message;
  throw ApplyError{f};
}

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(Fd&& o) noexcept : fd(o.fd) { o.fd = -1; }
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      Reset();
      fd = o.fd;
      o.fd = -1;
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Reset(); }
  void Reset() {
    if (fd >= 0) close(fd);
    fd = -1;
  }
  int get() const { return fd; }
};

// openat2 confined to `rootFd`; returns -1 with errno set on failure.
int OpenInRoot(int rootFd, const std::string& rel, uint64_t flags) {
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = flags | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  const char* p = rel.empty() ? "." : rel.c_str();
  for (;;) {
    long fd = syscall(SYS_openat2, rootFd, p, &how, sizeof how);
    if (fd < 0 && errno == EAGAIN) continue;  // a concurrent rename raced the lookup: retry
    if (fd < 0 && errno == EINTR) continue;
    return static_cast<int>(fd);
  }
}

std::string JoinComponents(const std::vector<std::string>& comps, size_t count) {
  std::string out;
  for (size_t i = 0; i < count && i < comps.size(); i++) {
    if (i) out += '/';
    out += comps[i];
  }
  return out;
}

// Lexically cleans a tar name into components below the root: leading `/` and `./` are dropped
// (absolute names are root-relative), `.` and empty components vanish, `..` pops. A `..` that would
// climb above the root cannot be confined honestly, so it is rejected.
std::vector<std::string> CleanPath(const std::string& raw, const std::string& entry, const char* what) {
  if (raw.find('\0') != std::string::npos) FailTar(entry, std::string(what) + " contains a NUL byte");
  std::vector<std::string> comps;
  size_t i = 0;
  while (i <= raw.size()) {
    size_t j = raw.find('/', i);
    if (j == std::string::npos) j = raw.size();
    std::string c = raw.substr(i, j - i);
    if (c.empty() || c == ".") {
      // skip
    } else if (c == "..") {
      if (comps.empty()) FailTar(entry, std::string(what) + " \"" + raw + "\" escapes the layer root");
      comps.pop_back();
    } else {
      comps.push_back(c);
    }
    i = j + 1;
  }
  return comps;
}

// ---------------------------------------------------------------------------------------------
// Tar headers.

struct Entry {
  std::string name;      // raw (after PAX / GNU long name overrides)
  std::string linkname;  // raw
  char type = '0';
  uint32_t mode = 0;
  uint64_t uid = 0, gid = 0;
  uint64_t size = 0;
  struct timespec mtime = {0, 0};
  struct timespec atime = {0, 0};
  bool hasAtime = false;
  uint32_t devMajor = 0, devMinor = 0;
  std::map<std::string, std::string> xattrs;
};

// Overrides collected from PAX 'x' and GNU 'L'/'K' headers for the next entry.
struct PendingMeta {
  std::optional<std::string> path, linkpath, gnuLongName, gnuLongLink;
  std::optional<uint64_t> size, uid, gid;
  std::optional<struct timespec> mtime, atime;
  std::map<std::string, std::string> xattrs;
  bool any = false;
};

std::string FieldString(const uint8_t* f, size_t n) {
  size_t len = 0;
  while (len < n && f[len] != 0) len++;
  return std::string(reinterpret_cast<const char*>(f), len);
}

// Octal (NUL/space padded) or GNU base-256 (high bit set) numeric field.
int64_t ParseNumeric(const uint8_t* f, size_t n, const std::string& entry, const char* field) {
  if (n > 0 && (f[0] & 0x80)) {
    // GNU base-256: 0x80 marks a positive big-endian value, 0xff a two's complement negative one.
    bool negative = f[0] == 0xff;
    uint64_t v = negative ? ~uint64_t(0) : (f[0] & 0x7f);
    for (size_t i = 1; i < n; i++) {
      if (!negative && (v >> 55)) FailTar(entry, std::string("base-256 ") + field + " overflows");
      v = (v << 8) | f[i];
    }
    return static_cast<int64_t>(v);
  }
  size_t i = 0;
  while (i < n && (f[i] == ' ' || f[i] == 0)) i++;
  uint64_t v = 0;
  for (; i < n && f[i] != ' ' && f[i] != 0; i++) {
    if (f[i] < '0' || f[i] > '7') FailTar(entry, std::string("invalid octal ") + field + " field");
    if (v >> 60) FailTar(entry, std::string("octal ") + field + " overflows");
    v = v * 8 + (f[i] - '0');
  }
  return static_cast<int64_t>(v);
}

bool ParseDecimal(const std::string& s, uint64_t* out) {
  if (s.empty() || s.size() > 19) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

// PAX time: "-?seconds[.fraction]", nanosecond precision kept.
bool ParsePaxTime(const std::string& s, struct timespec* out) {
  size_t dot = s.find('.');
  std::string secPart = s.substr(0, dot);
  bool negative = !secPart.empty() && secPart[0] == '-';
  if (negative) secPart = secPart.substr(1);
  uint64_t sec;
  if (!ParseDecimal(secPart, &sec)) return false;
  long nsec = 0;
  if (dot != std::string::npos) {
    std::string frac = s.substr(dot + 1);
    int digits = 0;
    for (char c : frac) {
      if (c < '0' || c > '9') return false;
      if (digits < 9) {
        nsec = nsec * 10 + (c - '0');
        digits++;
      }
    }
    while (digits < 9) {
      nsec *= 10;
      digits++;
    }
  }
  if (negative) {
    out->tv_sec = -static_cast<time_t>(sec);
    if (nsec) {
      out->tv_sec -= 1;
      nsec = 1000000000L - nsec;
    }
  } else {
    out->tv_sec = static_cast<time_t>(sec);
  }
  out->tv_nsec = nsec;
  return true;
}

int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

bool DecodeBase64(const std::string& in, std::string* out) {
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=' || c == '\n' || c == '\r') continue;
    int v = Base64Value(c);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return true;
}

// libarchive percent-encodes xattr names in its PAX keys.
std::string PercentDecode(const std::string& in) {
  std::string out;
  for (size_t i = 0; i < in.size(); i++) {
    if (in[i] == '%' && i + 2 < in.size()) {
      auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
      };
      int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(in[i]);
  }
  return out;
}

void ParsePaxRecords(const std::string& data, PendingMeta* meta, const std::string& entry) {
  size_t pos = 0;
  while (pos < data.size()) {
    if (data[pos] == '\0') break;  // some writers pad the record block with NULs
    size_t sp = data.find(' ', pos);
    if (sp == std::string::npos) FailTar(entry, "malformed PAX record (no length)");
    uint64_t len;
    if (!ParseDecimal(data.substr(pos, sp - pos), &len) || len < sp - pos + 3 || pos + len > data.size()) {
      FailTar(entry, "malformed PAX record length");
    }
    std::string record = data.substr(sp + 1, pos + len - sp - 1);
    if (record.empty() || record.back() != '\n') FailTar(entry, "malformed PAX record (no newline)");
    record.pop_back();
    size_t eq = record.find('=');
    if (eq == std::string::npos) FailTar(entry, "malformed PAX record (no '=')");
    std::string key = record.substr(0, eq);
    std::string value = record.substr(eq + 1);  // byte-exact: may hold NULs (SCHILY.xattr)
    pos += len;
    meta->any = true;
    if (key == "path") {
      meta->path = value;
    } else if (key == "linkpath") {
      meta->linkpath = value;
    } else if (key == "size" || key == "uid" || key == "gid") {
      uint64_t v;
      if (!ParseDecimal(value, &v)) FailTar(entry, "invalid PAX " + key + " \"" + value + "\"");
      if (key == "size") meta->size = v;
      if (key == "uid") meta->uid = v;
      if (key == "gid") meta->gid = v;
    } else if (key == "mtime" || key == "atime") {
      struct timespec ts;
      if (!ParsePaxTime(value, &ts)) FailTar(entry, "invalid PAX " + key + " \"" + value + "\"");
      if (key == "mtime") meta->mtime = ts;
      else meta->atime = ts;
    } else if (key.compare(0, 13, "SCHILY.xattr.") == 0) {
      meta->xattrs[key.substr(13)] = value;
    } else if (key.compare(0, 17, "LIBARCHIVE.xattr.") == 0) {
      std::string decoded;
      if (!DecodeBase64(value, &decoded)) FailTar(entry, "invalid base64 in PAX " + key);
      meta->xattrs[PercentDecode(key.substr(17))] = decoded;
    } else if (key.compare(0, 11, "GNU.sparse.") == 0) {
      FailTar(entry, "sparse files are not supported in image layers");
    }
    // Everything else (uname, gname, ctime, comment, charset, ...) carries nothing we apply.
  }
}

// ---------------------------------------------------------------------------------------------
// The input queue shared by the JS thread (producer) and the worker (consumer).

struct Stats {
  uint64_t entries = 0;
  uint64_t bytes = 0;
  std::vector<std::string> warnings;
  size_t droppedWarnings = 0;
};

struct Options {
  std::string dir;
  bool overlay = false;
  bool userxattr = false;
  std::vector<std::string> lowerDirs;
  int64_t uidShift = 0, gidShift = 0;
};

struct State;
enum class MsgKind { kDrained, kDone };
struct Msg {
  State* state;
  MsgKind kind;
};

struct State {
  // --- shared, guarded by mu ---
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::vector<uint8_t>> chunks;
  size_t queuedBytes = 0;
  bool inputEnded = false;
  bool aborted = false;
  bool drainWanted = false;  // JS has a write() waiting for the queue to shrink

  // --- written by the worker before it posts kDone ---
  Failure failure;
  Stats stats;

  // --- owned by the JS thread ---
  Options options;
  int rootFd = -1;
  std::vector<int> lowerFds;
  std::thread worker;
  Napi::ThreadSafeFunction tsfn;
  std::optional<Napi::Promise::Deferred> pendingWrite;
  std::optional<Napi::Promise::Deferred> pendingEnd;
  bool endCalled = false;
  bool finished = false;
  bool refed = false;

  ~State() {
    if (rootFd >= 0) close(rootFd);
    for (int fd : lowerFds) close(fd);
  }

  void Post(MsgKind kind) {
    // Non-blocking: the queue is unbounded and JS never waits on the worker.
    tsfn.NonBlockingCall(new Msg{this, kind}, [](Napi::Env env, Napi::Function, Msg* msg) {
      std::unique_ptr<Msg> owned(msg);
      msg->state->OnMessage(env, msg->kind);
    });
  }

  void OnMessage(Napi::Env env, MsgKind kind);
  Napi::Value MakeError(Napi::Env env);
  Napi::Value MakeStats(Napi::Env env);
  void UpdateRef(Napi::Env env) {
    bool want = pendingWrite.has_value() || pendingEnd.has_value();
    if (finished) want = false;
    if (want && !refed) tsfn.Ref(env);
    if (!want && refed) tsfn.Unref(env);
    refed = want;
  }
};

// Blocking pull-reader over the queue, used only on the worker thread.
class Reader {
 public:
  explicit Reader(State* st) : st_(st) {}

  // Fills dst with n bytes; returns the number read before end of input.
  size_t Read(uint8_t* dst, size_t n) {
    size_t done = 0;
    while (done < n) {
      if (!Ensure()) break;
      size_t take = std::min(n - done, cur_.size() - off_);
      memcpy(dst + done, cur_.data() + off_, take);
      off_ += take;
      done += take;
    }
    return done;
  }

  void Skip(uint64_t n, const std::string& entry) {
    while (n > 0) {
      if (!Ensure()) FailTar(entry, "unexpected end of archive (truncated layer)");
      size_t take = static_cast<size_t>(std::min<uint64_t>(n, cur_.size() - off_));
      off_ += take;
      n -= take;
    }
  }

  // Streams n bytes of file data into fd.
  void CopyTo(int fd, uint64_t n, const std::string& hostPath, const std::string& entry) {
    while (n > 0) {
      if (!Ensure()) FailTar(entry, "unexpected end of archive (truncated layer)");
      size_t take = static_cast<size_t>(std::min<uint64_t>(n, cur_.size() - off_));
      const uint8_t* p = cur_.data() + off_;
      size_t left = take;
      while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
          if (errno == EINTR) continue;
          FailSys(errno, "write", hostPath, entry);
        }
        p += w;
        left -= static_cast<size_t>(w);
      }
      off_ += take;
      n -= take;
    }
  }

  std::string ReadString(uint64_t n, const std::string& entry) {
    if (n > kMaxMetaBytes) FailTar(entry, "metadata header larger than 16 MiB");
    std::string s(static_cast<size_t>(n), '\0');
    if (Read(reinterpret_cast<uint8_t*>(&s[0]), s.size()) != s.size()) {
      FailTar(entry, "unexpected end of archive (truncated layer)");
    }
    return s;
  }

  void Drain() {
    while (Ensure()) off_ = cur_.size();
  }

 private:
  bool Ensure() {
    if (off_ < cur_.size()) return true;
    if (eof_) return false;
    std::unique_lock<std::mutex> lock(st_->mu);
    st_->cv.wait(lock, [&] { return st_->aborted || !st_->chunks.empty() || st_->inputEnded; });
    if (st_->aborted) {
      Failure f;
      f.kind = Failure::kAborted;
      throw ApplyError{f};
    }
    if (st_->chunks.empty()) {
      eof_ = true;
      return false;
    }
    cur_ = std::move(st_->chunks.front());
    st_->chunks.pop_front();
    st_->queuedBytes -= cur_.size();
    off_ = 0;
    if (st_->drainWanted && st_->queuedBytes <= kQueueLimitBytes) {
      st_->drainWanted = false;
      lock.unlock();
      st_->Post(MsgKind::kDrained);
    }
    return off_ < cur_.size() || Ensure();
  }

  State* st_;
  std::vector<uint8_t> cur_;
  size_t off_ = 0;
  bool eof_ = false;
};

// ---------------------------------------------------------------------------------------------
// The applier proper (worker thread).

bool IsDroppedXattr(const std::string& name) {
  // Overlay metadata (redirect, metacopy, opaque, origin...) planted by a layer would be trusted by
  // the kernel when the layer becomes an overlay lower (REFERENCE §8 "Overlay xattr trust").
  return name.compare(0, 16, "trusted.overlay.") == 0 || name.compare(0, 13, "user.overlay.") == 0;
}

bool IsXattrWarning(int err) { return err == EPERM || err == ENOTSUP || err == EOPNOTSUPP || err == EACCES; }

struct DirTimes {
  struct timespec atime, mtime;
};

class Applier {
 public:
  Applier(State* st) : st_(st), opts_(st->options), rootFd_(st->rootFd), stats_(st->stats) {}

  void Run() {
    Reader reader(st_);
    PendingMeta meta;
    uint8_t block[512];
    for (;;) {
      size_t got = reader.Read(block, 512);
      if (got == 0) {
        if (meta.any) FailTar(PendingName(meta), "unexpected end of archive after an extended header");
        break;  // end of input at an entry boundary (no end-of-archive blocks): accepted like Go's reader
      }
      if (got < 512) FailTar(lastEntry_, "unexpected end of archive inside a header (truncated layer)");
      if (IsZeroBlock(block)) {
        if (meta.any) FailTar(PendingName(meta), "end-of-archive marker after an extended header");
        reader.Drain();
        break;
      }
      Entry e;
      ParseHeader(block, &e);
      uint64_t padded = (e.size + 511) & ~uint64_t(511);
      switch (e.type) {
        case 'x': {
          std::string data = reader.ReadString(e.size, e.name);
          reader.Skip(padded - e.size, e.name);
          ParsePaxRecords(data, &meta, e.name);
          continue;
        }
        case 'g': {  // global PAX header: nothing in it applies to a layer
          reader.Skip(padded, e.name);
          continue;
        }
        case 'L':
        case 'K': {
          std::string data = reader.ReadString(e.size, e.name);
          reader.Skip(padded - e.size, e.name);
          while (!data.empty() && data.back() == '\0') data.pop_back();
          (e.type == 'L' ? meta.gnuLongName : meta.gnuLongLink) = data;
          meta.any = true;
          continue;
        }
        default:
          break;
      }
      ApplyMeta(meta, &e);
      meta = PendingMeta();
      // Pre-POSIX archives mark directories only by a trailing slash.
      if ((e.type == '0' || e.type == '\0') && e.size == 0 && !e.name.empty() && e.name.back() == '/') e.type = '5';
      lastEntry_ = e.name;
      // Types without content (links, dirs, devices) carry no data whatever the size field says.
      bool hasData = e.type == '0' || e.type == '\0' || e.type == '7';
      if (!hasData) e.size = 0;
      stats_.entries++;
      ApplyEntry(e, reader);
      uint64_t pad = ((e.size + 511) & ~uint64_t(511)) - e.size;
      reader.Skip(pad, e.name);
    }
    Finish();
  }

 private:
  static bool IsZeroBlock(const uint8_t* b) {
    for (int i = 0; i < 512; i++)
      if (b[i]) return false;
    return true;
  }

  static std::string PendingName(const PendingMeta& m) {
    if (m.path) return *m.path;
    if (m.gnuLongName) return *m.gnuLongName;
    return "(extended header)";
  }

  void ParseHeader(const uint8_t* b, Entry* e) {
    std::string name = FieldString(b, 100);
    std::string label = name.empty() ? lastEntry_ : name;
    // Checksum: the field itself counts as spaces; old writers used signed bytes.
    uint64_t want = static_cast<uint64_t>(ParseNumeric(b + 148, 8, label, "checksum"));
    uint64_t sumUnsigned = 0;
    int64_t sumSigned = 0;
    for (int i = 0; i < 512; i++) {
      uint8_t c = (i >= 148 && i < 156) ? ' ' : b[i];
      sumUnsigned += c;
      sumSigned += static_cast<int8_t>(c);
    }
    if (want != sumUnsigned && static_cast<int64_t>(want) != sumSigned) {
      FailTar(label, "invalid tar header checksum (corrupt or not a tar stream)");
    }
    e->type = static_cast<char>(b[156]);
    e->mode = static_cast<uint32_t>(ParseNumeric(b + 100, 8, label, "mode"));
    e->uid = static_cast<uint64_t>(ParseNumeric(b + 108, 8, label, "uid"));
    e->gid = static_cast<uint64_t>(ParseNumeric(b + 116, 8, label, "gid"));
    int64_t size = ParseNumeric(b + 124, 12, label, "size");
    if (size < 0) FailTar(label, "negative size");
    e->size = static_cast<uint64_t>(size);
    e->mtime.tv_sec = static_cast<time_t>(ParseNumeric(b + 136, 12, label, "mtime"));
    e->mtime.tv_nsec = 0;
    e->linkname = FieldString(b + 157, 100);
    bool ustar = memcmp(b + 257, "ustar\0", 6) == 0;  // POSIX: prefix field holds the name's head
    bool gnu = memcmp(b + 257, "ustar ", 6) == 0;
    if (ustar || gnu) {
      e->devMajor = static_cast<uint32_t>(ParseNumeric(b + 329, 8, label, "devmajor"));
      e->devMinor = static_cast<uint32_t>(ParseNumeric(b + 337, 8, label, "devminor"));
    }
    if (ustar) {
      std::string prefix = FieldString(b + 345, 155);
      if (!prefix.empty()) name = prefix + "/" + name;
    }
    e->name = name;
  }

  void ApplyMeta(const PendingMeta& m, Entry* e) {
    if (m.gnuLongName) e->name = *m.gnuLongName;
    if (m.gnuLongLink) e->linkname = *m.gnuLongLink;
    if (m.path) e->name = *m.path;
    if (m.linkpath) e->linkname = *m.linkpath;
    if (m.size) e->size = *m.size;
    if (m.uid) e->uid = *m.uid;
    if (m.gid) e->gid = *m.gid;
    if (m.mtime) e->mtime = *m.mtime;
    if (m.atime) {
      e->atime = *m.atime;
      e->hasAtime = true;
    }
    e->xattrs = m.xattrs;
  }

  void Warn(const std::string& w) {
    if (stats_.warnings.size() < kMaxWarnings) stats_.warnings.push_back(w);
    else stats_.droppedWarnings++;
  }

  std::string HostPath(const std::string& rel) const { return rel.empty() ? opts_.dir : opts_.dir + "/" + rel; }

  // ---- directory resolution ----

  // Drops the cached parent fd when `rel` (just replaced or removed) is it or one of its ancestors.
  void InvalidateCache(const std::string& rel) {
    if (cachedParentFd_.get() < 0) return;
    if (rel.empty() || cachedParent_ == rel ||
        (cachedParent_.size() > rel.size() && cachedParent_.compare(0, rel.size(), rel) == 0 &&
         cachedParent_[rel.size()] == '/')) {
      cachedParentFd_.Reset();
      cachedParent_.clear();
    }
  }

  // Attributes for a directory this layer must create implicitly: copied from the same directory in
  // the nearest lower layer (containerd mkparent), else 0755 root.
  void InitImpliedDir(int fd, const std::string& rel) {
    for (int lower : st_->lowerFds) {
      Fd lfd(OpenInRoot(lower, rel, O_PATH | O_NOFOLLOW));
      struct stat st;
      if (lfd.get() < 0 || fstat(lfd.get(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
      fchown(fd, st.st_uid, st.st_gid);
      fchmod(fd, st.st_mode & 07777);
      dirTimes_[rel] = DirTimes{st.st_atim, st.st_mtim};
      return;
    }
    if (opts_.uidShift || opts_.gidShift) fchown(fd, opts_.uidShift, opts_.gidShift);
    fchmod(fd, 0755);
  }

  // Opens directory `comps[0..count)` inside the root, creating missing directories.
  Fd OpenDir(const std::vector<std::string>& comps, size_t count, const std::string& entry, bool create) {
    std::string rel = JoinComponents(comps, count);
    Fd fd(OpenInRoot(rootFd_, rel, O_RDONLY | O_DIRECTORY));
    if (fd.get() >= 0) return fd;
    if (errno != ENOENT || !create) FailSys(errno, "openat2", HostPath(rel), entry);
    Fd prev(OpenInRoot(rootFd_, "", O_RDONLY | O_DIRECTORY));
    if (prev.get() < 0) FailSys(errno, "openat2", opts_.dir, entry);
    for (size_t i = 0; i < count; i++) {
      std::string sub = JoinComponents(comps, i + 1);
      Fd cur(OpenInRoot(rootFd_, sub, O_RDONLY | O_DIRECTORY));
      if (cur.get() < 0) {
        if (errno != ENOENT) FailSys(errno, "openat2", HostPath(sub), entry);
        // mkdirat under the *resolved* previous directory: whatever symlinks led there, it is in-root.
        if (mkdirat(prev.get(), comps[i].c_str(), 0700) != 0) {
          if (errno == EEXIST) {
            FailTar(entry, "parent \"" + sub + "\" is a symlink whose target does not exist inside the layer");
          }
          FailSys(errno, "mkdirat", HostPath(sub), entry);
        }
        cur = Fd(openat(prev.get(), comps[i].c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (cur.get() < 0) FailSys(errno, "openat", HostPath(sub), entry);
        InitImpliedDir(cur.get(), sub);
      }
      prev = std::move(cur);
    }
    return prev;
  }

  // The parent directory of an entry, cached across entries of the same directory.
  int ParentFd(const std::vector<std::string>& comps, const std::string& entry) {
    std::string parent = JoinComponents(comps, comps.size() - 1);
    if (cachedParentFd_.get() >= 0 && cachedParent_ == parent) return cachedParentFd_.get();
    cachedParentFd_ = OpenDir(comps, comps.size() - 1, entry, true);
    cachedParent_ = parent;
    return cachedParentFd_.get();
  }

  // ---- removal ----

  void RemoveTree(int dirFd, const std::string& name, const std::string& hostPath, const std::string& entry) {
    Fd fd(openat(dirFd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (fd.get() < 0) FailSys(errno, "openat", hostPath, entry);
    DIR* d = fdopendir(dup(fd.get()));
    if (!d) FailSys(errno, "fdopendir", hostPath, entry);
    std::vector<std::pair<std::string, bool>> children;
    while (struct dirent* de = readdir(d)) {
      std::string n = de->d_name;
      if (n == "." || n == "..") continue;
      bool isDir = de->d_type == DT_DIR;
      if (de->d_type == DT_UNKNOWN) {
        struct stat st;
        isDir = fstatat(fd.get(), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
      }
      children.emplace_back(n, isDir);
    }
    closedir(d);
    for (auto& c : children) {
      if (c.second) RemoveTree(fd.get(), c.first, hostPath + "/" + c.first, entry);
      else if (unlinkat(fd.get(), c.first.c_str(), 0) != 0 && errno != ENOENT)
        FailSys(errno, "unlinkat", hostPath + "/" + c.first, entry);
    }
    if (unlinkat(dirFd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) FailSys(errno, "unlinkat", hostPath, entry);
  }

  // Removes whatever is at dirFd/name (never following it). Returns false if nothing was there.
  bool RemovePath(int dirFd, const std::string& name, const std::string& rel, const std::string& entry) {
    struct stat st;
    if (fstatat(dirFd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) return false;
      FailSys(errno, "fstatat", HostPath(rel), entry);
    }
    InvalidateCache(rel);
    if (S_ISDIR(st.st_mode)) RemoveTree(dirFd, name, HostPath(rel), entry);
    else if (unlinkat(dirFd, name.c_str(), 0) != 0) FailSys(errno, "unlinkat", HostPath(rel), entry);
    return true;
  }

  // ---- metadata ----

  void SetXattrs(int parentFd, const std::string& name, int fd, const Entry& e, const std::string& rel) {
    for (auto& kv : e.xattrs) {
      if (IsDroppedXattr(kv.first)) {
        Warn("dropped xattr " + kv.first + " on " + e.name);
        continue;
      }
      int rc;
      if (fd >= 0) {
        rc = fsetxattr(fd, kv.first.c_str(), kv.second.data(), kv.second.size(), 0);
      } else {
        // Symlinks and devices: go through the already-resolved parent; the last component is not followed.
        std::string p = "/proc/self/fd/" + std::to_string(parentFd) + "/" + name;
        rc = lsetxattr(p.c_str(), kv.first.c_str(), kv.second.data(), kv.second.size(), 0);
      }
      if (rc != 0) {
        if (IsXattrWarning(errno)) Warn("xattr " + kv.first + " on " + e.name + ": " + strerror(errno));
        else FailSys(errno, "setxattr", HostPath(rel), e.name);
      }
    }
  }

  // create -> lchown -> xattrs -> chmod (chown clears setuid) -> times (REFERENCE §6 metadata order).
  void SetMetadata(int parentFd, const std::string& name, int fd, const Entry& e, const std::string& rel,
                   bool isSymlink, bool isDir) {
    uid_t uid = static_cast<uid_t>(e.uid + opts_.uidShift);
    gid_t gid = static_cast<gid_t>(e.gid + opts_.gidShift);
    int rc = fd >= 0 ? fchown(fd, uid, gid) : fchownat(parentFd, name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW);
    if (rc != 0) FailSys(errno, "lchown", HostPath(rel), e.name);
    SetXattrs(parentFd, name, fd, e, rel);
    if (!isSymlink) {
      rc = fd >= 0 ? fchmod(fd, e.mode & 07777) : fchmodat(parentFd, name.c_str(), e.mode & 07777, 0);
      if (rc != 0) FailSys(errno, "chmod", HostPath(rel), e.name);
    }
    struct timespec times[2] = {e.hasAtime ? e.atime : e.mtime, e.mtime};
    if (isDir) {
      dirTimes_[rel] = DirTimes{times[0], times[1]};  // set last: later entries change dir mtimes
      return;
    }
    rc = fd >= 0 ? futimens(fd, times) : utimensat(parentFd, name.c_str(), times, AT_SYMLINK_NOFOLLOW);
    if (rc != 0) FailSys(errno, "utimensat", HostPath(rel), e.name);
  }

  // ---- entries ----

  void ApplyEntry(Entry& e, Reader& reader) {
    std::vector<std::string> comps = CleanPath(e.name, e.name, "entry name");
    std::string rel = JoinComponents(comps, comps.size());
    if (comps.empty()) {
      if (e.type != '5') FailTar(e.name, "only a directory may replace the layer root");
      ApplyRootDir(e);
      return;
    }
    const std::string& base = comps.back();
    if (base.compare(0, 4, kWhiteoutPrefix) == 0) {
      ApplyWhiteout(e, comps);
      return;
    }
    int parentFd = ParentFd(comps, e.name);
    bool isDir = e.type == '5';

    // Replace what is there: dir over dir keeps the directory (attributes updated), anything else
    // is removed first (last entry wins).
    struct stat existing;
    bool exists = fstatat(parentFd, base.c_str(), &existing, AT_SYMLINK_NOFOLLOW) == 0;
    if (!exists && errno != ENOENT) FailSys(errno, "fstatat", HostPath(rel), e.name);
    bool keepDir = exists && isDir && S_ISDIR(existing.st_mode);
    if (exists && !keepDir && e.type != '1') RemovePath(parentFd, base, rel, e.name);
    written_.insert(rel);

    switch (e.type) {
      case '0':
      case '\0':
      case '7': {
        Fd fd(openat(parentFd, base.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
        if (fd.get() < 0) FailSys(errno, "openat", HostPath(rel), e.name);
        reader.CopyTo(fd.get(), e.size, HostPath(rel), e.name);
        stats_.bytes += e.size;
        SetMetadata(parentFd, base, fd.get(), e, rel, false, false);
        break;
      }
      case '5': {
        if (!keepDir && mkdirat(parentFd, base.c_str(), 0700) != 0) FailSys(errno, "mkdirat", HostPath(rel), e.name);
        Fd fd(openat(parentFd, base.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (fd.get() < 0) FailSys(errno, "openat", HostPath(rel), e.name);
        SetMetadata(parentFd, base, fd.get(), e, rel, false, true);
        break;
      }
      case '2': {
        // Stored verbatim: absolute and `..` targets keep their meaning inside the image root.
        if (e.linkname.empty()) FailTar(e.name, "symlink with an empty target");
        if (symlinkat(e.linkname.c_str(), parentFd, base.c_str()) != 0) FailSys(errno, "symlinkat", HostPath(rel), e.name);
        SetMetadata(parentFd, base, -1, e, rel, true, false);
        break;
      }
      case '1':
        ApplyHardlink(e, comps, parentFd, exists);
        break;
      case '3':
      case '4':
      case '6': {
        mode_t type = e.type == '3' ? S_IFCHR : e.type == '4' ? S_IFBLK : S_IFIFO;
        dev_t dev = e.type == '6' ? 0 : makedev(e.devMajor, e.devMinor);
        if (mknodat(parentFd, base.c_str(), type | (e.mode & 0777), dev) != 0) FailSys(errno, "mknodat", HostPath(rel), e.name);
        SetMetadata(parentFd, base, -1, e, rel, false, false);
        break;
      }
      default:
        FailTar(e.name, std::string("unsupported tar entry type '") + (e.type >= 32 && e.type < 127 ? std::string(1, e.type) : std::to_string(static_cast<int>(e.type))) + "'");
    }
  }

  void ApplyRootDir(const Entry& e) {
    Fd fd(OpenInRoot(rootFd_, "", O_RDONLY | O_DIRECTORY));
    if (fd.get() < 0) FailSys(errno, "openat2", opts_.dir, e.name);
    SetMetadata(-1, "", fd.get(), e, "", false, true);
  }

  void ApplyWhiteout(const Entry& e, const std::vector<std::string>& comps) {
    const std::string& base = comps.back();
    std::string dirRel = JoinComponents(comps, comps.size() - 1);
    if (base == kOpaqueMarker) {
      int parentFd = ParentFd(comps, e.name);
      if (opts_.overlay) {
        const char* xattr = opts_.userxattr ? kUserOpaqueXattr : kOpaqueXattr;
        if (fsetxattr(parentFd, xattr, "y", 1, 0) != 0) FailSys(errno, "fsetxattr", HostPath(dirRel), e.name);
      } else {
        opaqueDirs_.push_back(dirRel);  // applied at the end: children written by this layer survive
      }
      return;
    }
    std::string target = base.substr(4);
    if (target.empty() || target == "." || target == "..") FailTar(e.name, "invalid whiteout name");
    if (target.compare(0, 4, kWhiteoutPrefix) == 0) {
      Warn("skipped aufs metadata entry " + e.name);  // `.wh..wh.plnk` and friends
      return;
    }
    std::vector<std::string> targetComps(comps.begin(), comps.end() - 1);
    targetComps.push_back(target);
    std::string rel = JoinComponents(targetComps, targetComps.size());
    if (written_.count(rel)) return;  // a whiteout hides lower layers only, never this layer's entry
    int parentFd = ParentFd(comps, e.name);
    if (!opts_.overlay) {
      RemovePath(parentFd, target, rel, e.name);
      return;
    }
    RemovePath(parentFd, target, rel, e.name);
    if (mknodat(parentFd, target.c_str(), S_IFCHR, makedev(0, 0)) != 0) FailSys(errno, "mknodat", HostPath(rel), e.name);
    if (fchownat(parentFd, target.c_str(), static_cast<uid_t>(e.uid + opts_.uidShift),
                 static_cast<gid_t>(e.gid + opts_.gidShift), AT_SYMLINK_NOFOLLOW) != 0) {
      FailSys(errno, "lchown", HostPath(rel), e.name);
    }
  }

  void ApplyHardlink(const Entry& e, const std::vector<std::string>& comps, int parentFd, bool linkExists) {
    const std::string& base = comps.back();
    std::string rel = JoinComponents(comps, comps.size());
    // Absolute targets (kaniko) are root-relative; `..` above the root is rejected.
    std::vector<std::string> tcomps = CleanPath(e.linkname, e.name, "hardlink target");
    if (tcomps.empty()) FailTar(e.name, "hardlink to the layer root");
    std::string trel = JoinComponents(tcomps, tcomps.size());
    if (trel == rel) return;  // a link to itself: the file is already there
    Fd tparent = OpenTargetParent(tcomps, e.name);
    struct stat st;
    bool found = tparent.get() >= 0 && fstatat(tparent.get(), tcomps.back().c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (!found) {
      // image-spec#1204: the target may live only in a lower layer; copy it up, then link.
      if (!CopyUpFromLower(tcomps, e.name)) {
        FailTar(e.name, "hardlink target \"" + e.linkname + "\" not found in this layer or its lower layers");
      }
      tparent = OpenDir(tcomps, tcomps.size() - 1, e.name, false);
      if (fstatat(tparent.get(), tcomps.back().c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) FailSys(errno, "fstatat", HostPath(trel), e.name);
    }
    if (S_ISDIR(st.st_mode)) FailTar(e.name, "hardlink to a directory \"" + e.linkname + "\"");
    if (opts_.overlay && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {
      FailTar(e.name, "hardlink target \"" + e.linkname + "\" was deleted by a whiteout");
    }
    // The link target is resolved before the old link path is removed, so replacing a path by a
    // link to itself keeps working.
    if (linkExists) RemovePath(parentFd, base, rel, e.name);
    parentFd = ParentFd(comps, e.name);
    // flags 0: a link to a symlink links the symlink itself, never what it points to.
    if (linkat(tparent.get(), tcomps.back().c_str(), parentFd, base.c_str(), 0) != 0) FailSys(errno, "linkat", HostPath(rel), e.name);
  }

  Fd OpenTargetParent(const std::vector<std::string>& tcomps, const std::string& entry) {
    std::string rel = JoinComponents(tcomps, tcomps.size() - 1);
    Fd fd(OpenInRoot(rootFd_, rel, O_RDONLY | O_DIRECTORY));
    if (fd.get() < 0 && errno != ENOENT && errno != ENOTDIR) FailSys(errno, "openat2", HostPath(rel), entry);
    return fd;
  }

  // Copies a non-directory from the nearest lower layer into this layer at the same path.
  bool CopyUpFromLower(const std::vector<std::string>& tcomps, const std::string& entry) {
    std::string parentRel = JoinComponents(tcomps, tcomps.size() - 1);
    std::string rel = JoinComponents(tcomps, tcomps.size());
    const std::string& name = tcomps.back();
    for (size_t i = 0; i < st_->lowerFds.size(); i++) {
      Fd lparent(OpenInRoot(st_->lowerFds[i], parentRel, O_RDONLY | O_DIRECTORY));
      if (lparent.get() < 0) continue;
      struct stat st;
      if (fstatat(lparent.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) return false;  // whited out below us
      if (S_ISDIR(st.st_mode)) return false;
      std::string lowerPath = st_->options.lowerDirs[i] + "/" + rel;
      Fd dparent = OpenDir(tcomps, tcomps.size() - 1, entry, true);
      written_.insert(rel);
      if (S_ISREG(st.st_mode)) {
        Fd src(openat(lparent.get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
        if (src.get() < 0) FailSys(errno, "openat", lowerPath, entry);
        Fd dst(openat(dparent.get(), name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
        if (dst.get() < 0) FailSys(errno, "openat", HostPath(rel), entry);
        CopyData(src.get(), dst.get(), st.st_size, HostPath(rel), entry);
        if (fchown(dst.get(), st.st_uid, st.st_gid) != 0) FailSys(errno, "fchown", HostPath(rel), entry);
        CopyXattrs(src.get(), dst.get(), rel, entry);
        if (fchmod(dst.get(), st.st_mode & 07777) != 0) FailSys(errno, "fchmod", HostPath(rel), entry);
        struct timespec times[2] = {st.st_atim, st.st_mtim};
        futimens(dst.get(), times);
      } else if (S_ISLNK(st.st_mode)) {
        std::vector<char> buf(st.st_size + 1);
        ssize_t n = readlinkat(lparent.get(), name.c_str(), buf.data(), buf.size());
        if (n < 0) FailSys(errno, "readlinkat", lowerPath, entry);
        std::string target(buf.data(), static_cast<size_t>(n));
        if (symlinkat(target.c_str(), dparent.get(), name.c_str()) != 0) FailSys(errno, "symlinkat", HostPath(rel), entry);
        fchownat(dparent.get(), name.c_str(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW);
        struct timespec times[2] = {st.st_atim, st.st_mtim};
        utimensat(dparent.get(), name.c_str(), times, AT_SYMLINK_NOFOLLOW);
      } else {
        if (mknodat(dparent.get(), name.c_str(), st.st_mode, st.st_rdev) != 0) FailSys(errno, "mknodat", HostPath(rel), entry);
        fchownat(dparent.get(), name.c_str(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW);
        fchmodat(dparent.get(), name.c_str(), st.st_mode & 07777, 0);
        struct timespec times[2] = {st.st_atim, st.st_mtim};
        utimensat(dparent.get(), name.c_str(), times, AT_SYMLINK_NOFOLLOW);
      }
      return true;
    }
    return false;
  }

  void CopyData(int src, int dst, off_t size, const std::string& hostPath, const std::string& entry) {
    off_t left = size;
    while (left > 0) {
      ssize_t n = copy_file_range(src, nullptr, dst, nullptr, static_cast<size_t>(left), 0);
      if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP)) break;
      if (n < 0) {
        if (errno == EINTR) continue;
        FailSys(errno, "copy_file_range", hostPath, entry);
      }
      if (n == 0) return;
      left -= n;
    }
    char buf[65536];
    for (;;) {
      ssize_t n = read(src, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) FailSys(errno, "read", hostPath, entry);
      if (n == 0) return;
      for (ssize_t off = 0; off < n;) {
        ssize_t w = write(dst, buf + off, static_cast<size_t>(n - off));
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) FailSys(errno, "write", hostPath, entry);
        off += w;
      }
    }
  }

  void CopyXattrs(int src, int dst, const std::string& rel, const std::string& entry) {
    ssize_t len = flistxattr(src, nullptr, 0);
    if (len <= 0) return;
    std::vector<char> names(static_cast<size_t>(len));
    len = flistxattr(src, names.data(), names.size());
    if (len <= 0) return;
    for (ssize_t off = 0; off < len;) {
      std::string n(names.data() + off);
      off += static_cast<ssize_t>(n.size()) + 1;
      if (IsDroppedXattr(n)) continue;
      ssize_t vlen = fgetxattr(src, n.c_str(), nullptr, 0);
      if (vlen < 0) continue;
      std::vector<char> value(static_cast<size_t>(vlen) + 1);
      vlen = fgetxattr(src, n.c_str(), value.data(), value.size());
      if (vlen < 0) continue;
      if (fsetxattr(dst, n.c_str(), value.data(), static_cast<size_t>(vlen), 0) != 0) {
        if (IsXattrWarning(errno)) Warn("xattr " + n + " on copied-up " + rel + ": " + strerror(errno));
        else FailSys(errno, "fsetxattr", HostPath(rel), entry);
      }
    }
  }

  // ---- end of archive ----

  void Finish() {
    cachedParentFd_.Reset();
    if (!opts_.overlay) {
      for (auto& dirRel : opaqueDirs_) ClearOpaqueDir(dirRel);
    }
    // Directory times last: creating and removing children above changed them.
    for (auto it = dirTimes_.rbegin(); it != dirTimes_.rend(); ++it) {
      Fd fd(OpenInRoot(rootFd_, it->first, O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
      if (fd.get() < 0) continue;  // replaced by a non-directory later in the layer
      struct timespec times[2] = {it->second.atime, it->second.mtime};
      if (futimens(fd.get(), times) != 0) FailSys(errno, "futimens", HostPath(it->first), it->first);
    }
  }

  // Non-overlay form of an opaque directory: remove lower children this layer did not write.
  void ClearOpaqueDir(const std::string& dirRel) {
    Fd fd(OpenInRoot(rootFd_, dirRel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
    if (fd.get() < 0) return;
    DIR* d = fdopendir(dup(fd.get()));
    if (!d) FailSys(errno, "fdopendir", HostPath(dirRel), dirRel);
    std::vector<std::string> names;
    while (struct dirent* de = readdir(d)) {
      std::string n = de->d_name;
      if (n != "." && n != "..") names.push_back(n);
    }
    closedir(d);
    for (auto& n : names) {
      std::string rel = dirRel.empty() ? n : dirRel + "/" + n;
      if (!written_.count(rel)) RemovePath(fd.get(), n, rel, dirRel + "/" + kOpaqueMarker);
    }
  }

  State* st_;
  const Options& opts_;
  int rootFd_;
  Stats& stats_;
  std::string lastEntry_ = "(start of archive)";
  std::string cachedParent_;
  Fd cachedParentFd_;
  std::map<std::string, DirTimes> dirTimes_;
  std::vector<std::string> opaqueDirs_;
  std::unordered_set<std::string> written_;
};

// ---------------------------------------------------------------------------------------------
// JS side.

void WorkerMain(State* st) {
  try {
    Applier(st).Run();
  } catch (const ApplyError& e) {
    st->failure = e.failure;
  } catch (const std::exception& e) {
    st->failure.kind = Failure::kTar;
    st->failure.message = std::string("internal error: ") + e.what();
  }
  {
    // Free queued input now: nobody will read it.
    std::lock_guard<std::mutex> lock(st->mu);
    st->chunks.clear();
    st->queuedBytes = 0;
  }
  st->Post(MsgKind::kDone);
  st->tsfn.Release();
}

Napi::Value State::MakeError(Napi::Env env) {
  Napi::Error err;
  switch (failure.kind) {
    case Failure::kSystem:
      err = SystemError(env, failure.err, failure.syscall.c_str(), failure.path);
      break;
    case Failure::kAborted:
      err = Napi::Error::New(env, "layer apply of " + options.dir + " aborted");
      err.Value().Set("code", "ABORT_ERR");
      break;
    default:
      err = Napi::Error::New(env, "layer tar entry \"" + failure.entry + "\": " + failure.message);
      err.Value().Set("code", "EHULLTAR");
      break;
  }
  if (!failure.entry.empty()) err.Value().Set("entry", failure.entry);
  return err.Value();
}

Napi::Value State::MakeStats(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("entries", Napi::Number::New(env, static_cast<double>(stats.entries)));
  o.Set("bytes", Napi::Number::New(env, static_cast<double>(stats.bytes)));
  Napi::Array warnings = Napi::Array::New(env);
  uint32_t i = 0;
  for (auto& w : stats.warnings) warnings.Set(i++, w);
  if (stats.droppedWarnings) warnings.Set(i++, std::to_string(stats.droppedWarnings) + " more warnings");
  o.Set("warnings", warnings);
  return o;
}

void State::OnMessage(Napi::Env env, MsgKind kind) {
  Napi::HandleScope scope(env);
  if (kind == MsgKind::kDrained) {
    if (pendingWrite) {
      pendingWrite->Resolve(env.Undefined());
      pendingWrite.reset();
    }
  } else {
    finished = true;
    bool failed = failure.kind != Failure::kNone;
    if (pendingWrite) {
      if (failed) pendingWrite->Reject(MakeError(env));
      else pendingWrite->Resolve(env.Undefined());
      pendingWrite.reset();
    }
    if (pendingEnd) {
      if (failed) pendingEnd->Reject(MakeError(env));
      else pendingEnd->Resolve(MakeStats(env));
      pendingEnd.reset();
    }
  }
  UpdateRef(env);
}

using StatePtr = std::shared_ptr<State>;

StatePtr& StateOf(const Napi::CallbackInfo& info) { return *static_cast<StatePtr*>(info.Data()); }

Napi::Value Write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  State* st = StateOf(info).get();
  auto deferred = Napi::Promise::Deferred::New(env);
  if (info.Length() < 1 || !info[0].IsBuffer()) {
    throw Napi::TypeError::New(env, "LayerApplier.write: expected a Buffer");
  }
  if (st->finished) {
    if (st->failure.kind != Failure::kNone) deferred.Reject(st->MakeError(env));
    else deferred.Reject(Napi::Error::New(env, "LayerApplier.write after the layer finished").Value());
    return deferred.Promise();
  }
  if (st->endCalled) throw Napi::Error::New(env, "LayerApplier.write after end()");
  if (st->pendingWrite) throw Napi::Error::New(env, "LayerApplier.write: await the previous write first");
  auto buf = info[0].As<Napi::Buffer<uint8_t>>();
  bool mustWait;
  {
    std::lock_guard<std::mutex> lock(st->mu);
    if (buf.Length() > 0) {
      st->chunks.emplace_back(buf.Data(), buf.Data() + buf.Length());
      st->queuedBytes += buf.Length();
    }
    mustWait = st->queuedBytes > kQueueLimitBytes;
    if (mustWait) st->drainWanted = true;
  }
  st->cv.notify_one();
  if (mustWait) {
    st->pendingWrite = deferred;
    st->UpdateRef(env);
  } else {
    deferred.Resolve(env.Undefined());
  }
  return deferred.Promise();
}

Napi::Value End(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  State* st = StateOf(info).get();
  auto deferred = Napi::Promise::Deferred::New(env);
  if (st->finished) {
    if (st->failure.kind != Failure::kNone) deferred.Reject(st->MakeError(env));
    else deferred.Resolve(st->MakeStats(env));
    return deferred.Promise();
  }
  if (st->endCalled) throw Napi::Error::New(env, "LayerApplier.end called twice");
  st->endCalled = true;
  {
    std::lock_guard<std::mutex> lock(st->mu);
    st->inputEnded = true;
  }
  st->cv.notify_one();
  st->pendingEnd = deferred;
  st->UpdateRef(env);
  return deferred.Promise();
}

void Abort(State* st) {
  {
    std::lock_guard<std::mutex> lock(st->mu);
    st->aborted = true;
    st->chunks.clear();
    st->queuedBytes = 0;
  }
  st->cv.notify_one();
}

Napi::Value AbortJs(const Napi::CallbackInfo& info) {
  Abort(StateOf(info).get());
  return info.Env().Undefined();
}

std::string StringOption(Napi::Env env, const Napi::Value& v, const char* what) {
  if (!v.IsString()) throw Napi::TypeError::New(env, std::string("createLayerApplier: expected a string for ") + what);
  return v.As<Napi::String>().Utf8Value();
}

Napi::Value CreateLayerApplier(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto st = std::make_shared<State>();
  st->options.dir = StringOption(env, info[0], "dir");
  if (info.Length() < 2 || !info[1].IsObject()) throw Napi::TypeError::New(env, "createLayerApplier: expected an options object");
  Napi::Object o = info[1].As<Napi::Object>();
  st->options.overlay = o.Get("overlay").ToBoolean().Value();
  // Not in src/native.ts yet: opaque dirs as user.overlay.opaque for `userxattr` (rootless) overlays.
  st->options.userxattr = o.Get("userxattr").ToBoolean().Value();
  Napi::Value lowers = o.Get("lowerDirs");
  if (lowers.IsArray()) {
    Napi::Array arr = lowers.As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); i++) st->options.lowerDirs.push_back(StringOption(env, arr.Get(i), "lowerDirs[]"));
  } else if (!lowers.IsUndefined() && !lowers.IsNull()) {
    throw Napi::TypeError::New(env, "createLayerApplier: lowerDirs must be an array of strings");
  }
  if (o.Get("uidShift").IsNumber()) st->options.uidShift = o.Get("uidShift").As<Napi::Number>().Int64Value();
  if (o.Get("gidShift").IsNumber()) st->options.gidShift = o.Get("gidShift").As<Napi::Number>().Int64Value();

  // Opening a handful of directories is cheap; everything else runs on the worker.
  st->rootFd = open(st->options.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (st->rootFd < 0) ThrowSystemError(env, errno, "open", st->options.dir);
  for (auto& d : st->options.lowerDirs) {
    int fd = open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) ThrowSystemError(env, errno, "open", d);
    st->lowerFds.push_back(fd);
  }

  // The tsfn's finalizer joins the worker (it runs after the worker's Release) and drops the last
  // reference to the state.
  auto* finalizeRef = new StatePtr(st);
  st->tsfn = Napi::ThreadSafeFunction::New(
      env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}), "hull-layer-apply", 0, 1, finalizeRef,
      [](Napi::Env, StatePtr* ref) {
        Abort(ref->get());
        if ((*ref)->worker.joinable()) (*ref)->worker.join();
        delete ref;
      });
  st->tsfn.Unref(env);  // only pending promises keep the event loop alive
  st->worker = std::thread(WorkerMain, st.get());

  Napi::Object applier = Napi::Object::New(env);
  auto bind = [&](const char* name, Napi::Function::Callback fn) {
    auto* ref = new StatePtr(st);
    Napi::Function f = Napi::Function::New(env, fn, name, ref);
    f.AddFinalizer([](Napi::Env, StatePtr* r) { delete r; }, ref);
    applier.Set(name, f);
  };
  bind("write", Write);
  bind("end", End);
  bind("abort", AbortJs);
  return applier;
}

}  // namespace

void RegisterLayer(Napi::Env env, Napi::Object exports) {
  exports.Set("createLayerApplier", Napi::Function::New(env, CreateLayerApplier, "createLayerApplier"));
}

}  // namespace hull
