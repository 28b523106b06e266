// Reporting, shared by the monitor and the container process: failures (StepFailure), the trace
// text of each step, the messages on fd 3 (monitor) and on the channel (container process), and
// the small parsers for plan fields.
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "kernel.h"
#include "plan.h"

namespace hull {

// ===== Failures and trace =====

[[noreturn]] void Fail(int err, const std::string& syscall, const std::string& path, const std::string& message) {
  StepFailure failure;
  failure.err = err;
  failure.syscall = syscall;
  failure.path = path;
  failure.message = message;
  throw failure;
}

[[noreturn]] void FailErrno(const std::string& syscall, const std::string& path) { Fail(errno, syscall, path); }

std::string ErrnoName(int err) {
  const char* name = strerrorname_np(err);
  return name ? name : "E" + std::to_string(err);
}

bool gTracing = false;
std::vector<std::string> gTraceLines;  // syscalls of the step being run

void Trace(const std::string& text) {
  if (gTracing) gTraceLines.push_back(text);
}

std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string Hex(uint64_t value) {
  char text[24];
  snprintf(text, sizeof text, "0x%llx", static_cast<unsigned long long>(value));
  return text;
}

std::string FormatFlags(uint64_t flags, const FlagName* names, size_t count) {
  std::string out;
  for (size_t i = 0; i < count; i++) {
    if ((flags & names[i].bit) == names[i].bit && names[i].bit) {
      out += (out.empty() ? "" : "|") + std::string(names[i].name);
      flags &= ~names[i].bit;
    }
  }
  if (flags) out += (out.empty() ? "" : "|") + Hex(flags);
  return out.empty() ? "0" : out;
}

// ===== Messages =====

bool gControlOpen = true;
int gChannel = -1;
bool gInContainerProcess = false;

namespace {

void SendAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == ENOTSOCK) n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (fd == kControlFd) gControlOpen = false;  // the caller went away; keep monitoring
      return;
    }
    done += static_cast<size_t>(n);
  }
}

std::string PlainStep(const Step& step) {
  std::string text = step.op;
  for (const std::string& field : step.fields) text += " " + field;
  return text;
}

}  // namespace

void SendControl(const std::vector<std::string>& fields) {
  if (gControlOpen) SendAll(kControlFd, FormatLine(fields));
}

// A message for TypeScript from whichever process we are in.
void Report(const std::vector<std::string>& fields) {
  if (gInContainerProcess) {
    std::string line = FormatLine(fields);
    send(gChannel, line.data(), line.size(), MSG_NOSIGNAL);
  } else {
    SendControl(fields);
  }
}

// sendmsg of `data` with one fd attached (SCM_RIGHTS), retried on EINTR: the console socket's
// pty master, the seccomp listener to the monitor and on to listenerPath. Returns what sendmsg did.
ssize_t SendWithFd(int socket, const std::string& data, int fd) {
  char control[CMSG_SPACE(sizeof(int))] = {};
  struct iovec iov = {const_cast<char*>(data.data()), data.size()};
  struct msghdr message = {};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  struct cmsghdr* header = CMSG_FIRSTHDR(&message);
  header->cmsg_level = SOL_SOCKET;
  header->cmsg_type = SCM_RIGHTS;
  header->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(header), &fd, sizeof(int));
  ssize_t sent;
  while ((sent = sendmsg(socket, &message, MSG_NOSIGNAL)) < 0 && errno == EINTR) {
  }
  return sent;
}

// recvmsg into `buffer`, retried on EINTR; an fd that came along (SCM_RIGHTS) goes to *fd, else -1.
// Returns what recvmsg did.
ssize_t ReceiveWithFd(int socket, char* buffer, size_t size, int* fd) {
  char control[CMSG_SPACE(sizeof(int))] = {};
  struct iovec iov = {buffer, size};
  struct msghdr message = {};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = recvmsg(socket, &message, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  *fd = -1;
  struct cmsghdr* header = n > 0 ? CMSG_FIRSTHDR(&message) : nullptr;
  if (header && header->cmsg_level == SOL_SOCKET && header->cmsg_type == SCM_RIGHTS && header->cmsg_len == CMSG_LEN(sizeof(int))) {
    memcpy(fd, CMSG_DATA(header), sizeof(int));
  }
  return n;
}

// One channel packet as fields; false at EOF. A packet may carry one fd (SCM_RIGHTS: the
// `seccomp-listener` hand-off): it goes to *fd, or is closed when the caller wants none.
bool ReceivePacket(int fd, std::vector<std::string>& fields, int* passedFd) {
  static char buffer[1 << 16];
  int received;
  ssize_t n = ReceiveWithFd(fd, buffer, sizeof buffer, &received);
  if (passedFd) *passedFd = received;
  else if (received >= 0) close(received);
  if (n <= 0) return false;
  std::string line(buffer, static_cast<size_t>(n));
  if (!line.empty() && line.back() == '\n') line.pop_back();
  std::string error;
  return ParseLine(line, fields, error);
}

void FlushTrace(const Step& step) {
  if (!gTracing) return;
  std::string text;
  for (const std::string& line : gTraceLines) text += (text.empty() ? "" : "; ") + line;
  gTraceLines.clear();
  // A channel packet must fit the socket buffer: huge argv or env lists are shortened.
  constexpr size_t kMaxTrace = 16384;
  if (text.size() > kMaxTrace) text = text.substr(0, kMaxTrace) + "...";
  Report({"trace", std::to_string(step.index), step.op, text.empty() ? PlainStep(step) : text});
}

std::vector<std::string> ErrorMessage(const Step& step, const StepFailure& failure) {
  std::string message = failure.message;
  if (message.empty()) {
    message = failure.syscall + (failure.path.empty() ? "" : " " + failure.path) + ": " + strerror(failure.err);
  }
  return {"error", std::to_string(step.index), step.op, ErrnoName(failure.err), failure.syscall, failure.path, message};
}

// Run one step: its syscalls become one `trace` message, a failure one `error` message.
void RunStep(const Step& step, const std::function<void()>& body) {
  gTraceLines.clear();
  try {
    body();
  } catch (const StepFailure& failure) {
    FlushTrace(step);
    Report(ErrorMessage(step, failure));
    throw StepAborted();
  }
  FlushTrace(step);
}

void PrepareStep(const Step& step, const std::function<void()>& body) {
  try {
    body();
  } catch (const StepFailure& failure) {
    Report(ErrorMessage(step, failure));
    throw StepAborted();
  }
}

// ===== Parsing fields =====

uint64_t Number(const std::string& text, int base) {
  char* end = nullptr;
  errno = 0;
  unsigned long long value = strtoull(text.c_str(), &end, base);
  if (text.empty() || *end || errno) Fail(EINVAL, "plan", "", "not a number: \"" + text + "\"");
  return value;
}

int64_t SignedNumber(const std::string& text) {
  char* end = nullptr;
  errno = 0;
  long long value = strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end || errno) Fail(EINVAL, "plan", "", "not a number: \"" + text + "\"");
  return value;
}

}  // namespace hull
