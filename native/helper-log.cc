// Container logs in docker's json-file format (plan op `log-file`), written by the monitor.
//
// The container's stdout and stderr are the write ends of two pipes; the monitor reads the other
// ends in its poll loop and appends one JSON object per line of output to the log file:
//   {"log":"hello\n","stream":"stdout","time":"2026-11-27T21:00:00.123456789Z"}
// `docker logs` and `hull logs` read exactly this. A line without its "\n" yet is written as its
// own entry (without "\n") once the pipe has nothing more to give, or once it reaches 16 KiB, so a
// prompt or a progress bar shows up without waiting for a newline that may never come.
// When the file has reached the size limit it is rotated: PATH -> PATH.1 -> PATH.2 ...
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <string>

#include "kernel.h"

namespace hull {

namespace {

constexpr size_t kMaxPartialLine = 16 * 1024;  // docker's limit for one entry without "\n"

// RFC 3339 with nanoseconds as Go's time.RFC3339Nano prints it: trailing zeros of the fraction
// dropped (and the dot too when nothing is left), always UTC.
std::string GoRfc3339NanoNow() {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  struct tm utc;
  gmtime_r(&now.tv_sec, &utc);
  char text[64];
  size_t len = strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  std::string result(text, len);
  if (now.tv_nsec != 0) {
    char fraction[16];
    snprintf(fraction, sizeof fraction, ".%09ld", now.tv_nsec);
    std::string digits = fraction;
    while (digits.back() == '0') digits.pop_back();
    result += digits;
  }
  return result + "Z";
}

// Length of the valid UTF-8 sequence at text[i], or 0 if the bytes there are not one (bad lead
// byte, missing or wrong continuation, overlong form, surrogate, above U+10FFFF), as Go decides.
size_t Utf8SequenceLength(const std::string& text, size_t i) {
  const unsigned char* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t left = text.size() - i;
  const unsigned char lead = s[i];
  auto continuation = [&](size_t k) { return k < left && (s[i + k] & 0xC0) == 0x80; };
  if (lead >= 0xC2 && lead <= 0xDF) return continuation(1) ? 2 : 0;
  if (lead >= 0xE0 && lead <= 0xEF) {
    if (!continuation(1) || !continuation(2)) return 0;
    if (lead == 0xE0 && s[i + 1] < 0xA0) return 0;   // overlong
    if (lead == 0xED && s[i + 1] >= 0xA0) return 0;  // UTF-16 surrogate halves
    return 3;
  }
  if (lead >= 0xF0 && lead <= 0xF4) {
    if (!continuation(1) || !continuation(2) || !continuation(3)) return 0;
    if (lead == 0xF0 && s[i + 1] < 0x90) return 0;   // overlong
    if (lead == 0xF4 && s[i + 1] >= 0x90) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;  // 0x80-0xC1 (continuation or overlong lead), 0xF5-0xFF
}

}  // namespace

// The same escaping as docker's json-file writer (Go's encoding/json): quotes and backslashes,
// \n \r \t, other control characters and HTML-sensitive < > & as \u00XX, U+2028/U+2029 escaped,
// and every byte that is not part of valid UTF-8 replaced by \ufffd.
std::string JsonString(const std::string& text) {
  static const char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      if (c == '"' || c == '\\') out += '\\', out += static_cast<char>(c);
      else if (c == '\n') out += "\\n";
      else if (c == '\r') out += "\\r";
      else if (c == '\t') out += "\\t";
      else if (c < 0x20 || c == '<' || c == '>' || c == '&') out += "\\u00", out += kHex[c >> 4], out += kHex[c & 15];
      else out += static_cast<char>(c);
      i++;
      continue;
    }
    size_t len = Utf8SequenceLength(text, i);
    if (len == 0) {
      out += "\\ufffd";
      i++;
    } else if (len == 3 && c == 0xE2 && static_cast<unsigned char>(text[i + 1]) == 0x80 &&
               (static_cast<unsigned char>(text[i + 2]) == 0xA8 || static_cast<unsigned char>(text[i + 2]) == 0xA9)) {
      out += static_cast<unsigned char>(text[i + 2]) == 0xA8 ? "\\u2028" : "\\u2029";  // JavaScript line separators
      i += 3;
    } else {
      out.append(text, i, len);
      i += len;
    }
  }
  return out + "\"";
}

void ContainerLog::Open(const std::string& logPath, uint64_t maxSizeBytes, unsigned maxFileCount) {
  path = logPath;
  maxSize = maxSizeBytes;
  maxFiles = maxFileCount == 0 ? 1 : maxFileCount;
  // Rotation renames inside the log's directory: keep that directory, not the path string.
  size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  name = slash == std::string::npos ? path : path.substr(slash + 1);
  Trace("open(" + Quote(dir) + ", O_PATH|O_DIRECTORY)");
  dirFd = open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dirFd < 0) FailErrno("open", dir);
  Trace("openat(dir, " + Quote(name) + ", O_WRONLY|O_APPEND|O_CREAT, 0640)");
  fd = openat(dirFd, name.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
  if (fd < 0) FailErrno("openat", path);
  struct stat st;
  size = fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;  // a restarted container appends
}

void ContainerLog::MakePipes() {
  Trace("pipe2(stdout, O_CLOEXEC); pipe2(stderr, O_CLOEXEC)");
  for (int s = 0; s < 2; s++) {
    int ends[2];
    if (pipe2(ends, O_CLOEXEC) < 0) FailErrno("pipe2", "log-file");
    streams[s].readFd = ends[0];
    streams[s].writeFd = ends[1];
  }
}

void ContainerLog::AttachToContainerProcess() {
  // fds 1 and 2 become the pipes; dup2 leaves the copies without CLOEXEC, so execve keeps them.
  for (int s = 0; s < 2; s++) {
    if (streams[s].writeFd < 0) continue;
    dup2(streams[s].writeFd, 1 + s);
    close(streams[s].writeFd);
    close(streams[s].readFd);
  }
}

void ContainerLog::CloseWriteEnds() {
  // Only the container may hold the write ends: then EOF means every writer inside is gone.
  for (LogStream& stream : streams) {
    if (stream.writeFd >= 0) close(stream.writeFd);
    stream.writeFd = -1;
  }
}

void ContainerLog::Rotate() {
  if (maxFiles <= 1) {
    // One file only: start it over (docker truncates too).
    ftruncate(fd, 0);
    size = 0;
    return;
  }
  // PATH.(n-1) -> PATH.n ... PATH -> PATH.1: the oldest falls off the end.
  for (unsigned n = maxFiles - 1; n >= 2; n--) {
    const std::string from = name + "." + std::to_string(n - 1), to = name + "." + std::to_string(n);
    renameat(dirFd, from.c_str(), dirFd, to.c_str());  // ENOENT: fewer files so far
  }
  renameat(dirFd, name.c_str(), dirFd, (name + ".1").c_str());
  int fresh = openat(dirFd, name.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
  if (fresh < 0) return;  // keep writing to the renamed file rather than lose output
  close(fd);
  fd = fresh;
  size = 0;
}

void ContainerLog::WriteEntry(const std::string& chunk, const char* stream) {
  if (fd < 0 || chunk.empty()) return;
  const std::string line = "{\"log\":" + JsonString(chunk) + ",\"stream\":\"" + stream + "\",\"time\":\"" +
                           GoRfc3339NanoNow() + "\"}\n";
  // As docker: rotate once the file has reached the limit, so a file may exceed it by one entry.
  if (maxSize > 0 && size >= maxSize) Rotate();
  for (size_t done = 0; done < line.size();) {
    ssize_t n = write(fd, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // disk full: the container must not stall on its logs
    done += static_cast<size_t>(n);
    size += static_cast<uint64_t>(n);
  }
}

void ContainerLog::Add(LogStream& stream, const char* data, size_t length, bool more) {
  stream.pending.append(data, length);
  size_t start = 0;
  for (size_t newline; (newline = stream.pending.find('\n', start)) != std::string::npos; start = newline + 1) {
    WriteEntry(stream.pending.substr(start, newline + 1 - start), stream.name);
  }
  stream.pending.erase(0, start);
  while (stream.pending.size() >= kMaxPartialLine) {
    WriteEntry(stream.pending.substr(0, kMaxPartialLine), stream.name);
    stream.pending.erase(0, kMaxPartialLine);
  }
  if (!more && !stream.pending.empty()) {
    WriteEntry(stream.pending, stream.name);
    stream.pending.clear();
  }
}

void ContainerLog::AddTerminalOutput(const char* data, size_t length) {
  // A pty mixes both streams: docker logs it all as stdout.
  Add(streams[0], data, length, false);
}

bool ContainerLog::ReadStream(int s, const OutputSeen& seen) {
  LogStream& stream = streams[s];
  if (stream.readFd < 0) return false;
  char buffer[16384];
  ssize_t n = read(stream.readFd, buffer, sizeof buffer);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
  if (n <= 0) {
    Add(stream, "", 0, false);  // EOF: what is left is a last partial line
    close(stream.readFd);
    stream.readFd = -1;
    return false;
  }
  int queued = 0;
  const bool more = ioctl(stream.readFd, FIONREAD, &queued) == 0 && queued > 0;
  if (seen) seen(s, buffer, static_cast<size_t>(n));
  Add(stream, buffer, static_cast<size_t>(n), more);
  return true;
}

void ContainerLog::Drain(const OutputSeen& seen) {
  // The container process has exited: everything it wrote is in the pipes already. Read without
  // blocking (a leftover descendant outside a pid namespace may still hold a write end).
  for (int s = 0; s < 2; s++) {
    if (streams[s].readFd < 0) continue;
    fcntl(streams[s].readFd, F_SETFL, fcntl(streams[s].readFd, F_GETFL) | O_NONBLOCK);
    for (;;) {
      char buffer[16384];
      ssize_t n = read(streams[s].readFd, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      if (seen) seen(s, buffer, static_cast<size_t>(n));
      Add(streams[s], buffer, static_cast<size_t>(n), true);
    }
    Add(streams[s], "", 0, false);
  }
}

}  // namespace hull
