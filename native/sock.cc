// Unix sockets that carry file descriptors (SCM_RIGHTS): the helper's config/sync socketpair and
// the OCI console socket, on which a runtime sends one message: the pty name + the master fd
// (REFERENCE §3; runc's tests/cmd/recvtty is the reference receiver).
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "addon.h"
#include "errors.h"

namespace hull {
namespace {

// The kernel's SCM_MAX_FD: the most fds one message can carry.
constexpr size_t kMaxFdsPerMessage = 253;

struct Message {
  std::vector<char> data;
  std::vector<int> fds;
};

void CloseAll(const std::vector<int>& fds) {
  for (int fd : fds) close(fd);
}

// One recvmsg with room for `maxFds` descriptors, received close-on-exec.
// Returns 0 or an errno; a message cut short (data or fds) is EMSGSIZE and its fds are closed.
// Safe off the JS thread: touches no JS values.
int ReceiveMessage(int sockFd, size_t maxData, size_t maxFds, Message* out) {
  out->data.assign(maxData > 0 ? maxData : 1, 0);
  std::vector<char> control(CMSG_SPACE(sizeof(int) * (maxFds > 0 ? maxFds : 1)), 0);
  struct iovec iov = {out->data.data(), maxData};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();

  ssize_t got;
  do {
    got = recvmsg(sockFd, &msg, MSG_CMSG_CLOEXEC);
  } while (got < 0 && errno == EINTR);
  if (got < 0) return errno;

  for (struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
    if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof fd);
      out->fds.push_back(fd);
    }
  }
  // CMSG_SPACE rounds up, so the kernel may deliver a few more fds than asked for.
  if ((msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) || out->fds.size() > maxFds) {
    CloseAll(out->fds);
    out->fds.clear();
    return EMSGSIZE;
  }
  out->data.resize(static_cast<size_t>(got));
  return 0;
}

Napi::Object MessageToJs(Napi::Env env, const Message& message) {
  Napi::Object result = Napi::Object::New(env);
  result.Set("data", Napi::Buffer<char>::Copy(env, message.data.data(), message.data.size()));
  Napi::Array fds = Napi::Array::New(env, message.fds.size());
  for (size_t i = 0; i < message.fds.size(); i++) fds.Set(static_cast<uint32_t>(i), message.fds[i]);
  result.Set("fds", fds);
  return result;
}

Napi::Value Socketpair(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string type = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  int sockType;
  if (type == "stream") {
    sockType = SOCK_STREAM;
  } else if (type == "seqpacket") {
    sockType = SOCK_SEQPACKET;
  } else {
    throw Napi::TypeError::New(env, "socketpair: expected 'stream' or 'seqpacket' for type but received '" + type + "'");
  }
  int fds[2];
  if (socketpair(AF_UNIX, sockType | SOCK_CLOEXEC, 0, fds) < 0) ThrowSystemError(env, errno, "socketpair");
  Napi::Array result = Napi::Array::New(env, 2);
  result.Set(0u, fds[0]);
  result.Set(1u, fds[1]);
  return result;
}

// sendmsg with the fds attached to the first byte. A stream socket drops fds sent with no data,
// so an empty `data` is sent as one NUL byte. Short stream writes are completed without fds.
Napi::Value SendFds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int sockFd = IntArg(info, 0, "sendFds", "sockFd");
  if (info.Length() < 2 || !info[1].IsBuffer()) throw Napi::TypeError::New(env, "sendFds: expected a Buffer for data");
  if (info.Length() < 3 || !info[2].IsArray()) throw Napi::TypeError::New(env, "sendFds: expected an array of fds");
  Napi::Buffer<char> data = info[1].As<Napi::Buffer<char>>();
  Napi::Array fdArray = info[2].As<Napi::Array>();
  if (fdArray.Length() > kMaxFdsPerMessage) {
    throw Napi::RangeError::New(env, "sendFds: at most 253 fds per message");
  }
  std::vector<int> fds;
  for (uint32_t i = 0; i < fdArray.Length(); i++) {
    Napi::Value value = fdArray.Get(i);
    if (!value.IsNumber()) throw Napi::TypeError::New(env, "sendFds: every fd must be a number");
    fds.push_back(value.As<Napi::Number>().Int32Value());
  }

  char nul = 0;
  const char* bytes = data.Length() > 0 ? data.Data() : &nul;
  size_t length = data.Length() > 0 ? data.Length() : 1;
  std::vector<char> control(fds.empty() ? 0 : CMSG_SPACE(sizeof(int) * fds.size()), 0);
  struct iovec iov = {const_cast<char*>(bytes), length};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (!fds.empty()) {
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    memcpy(CMSG_DATA(cmsg), fds.data(), sizeof(int) * fds.size());
  }
  ssize_t sent;
  do {
    sent = sendmsg(sockFd, &msg, MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) ThrowSystemError(env, errno, "sendmsg");
  size_t done = static_cast<size_t>(sent);
  while (done < length) {
    ssize_t more = send(sockFd, bytes + done, length - done, MSG_NOSIGNAL);
    if (more < 0) {
      if (errno == EINTR) continue;
      ThrowSystemError(env, errno, "send");
    }
    done += static_cast<size_t>(more);
  }
  return env.Undefined();
}

Napi::Value RecvFds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int sockFd = IntArg(info, 0, "recvFds", "sockFd");
  int maxData = IntArg(info, 1, "recvFds", "maxData");
  int maxFds = IntArg(info, 2, "recvFds", "maxFds");
  if (maxData < 0 || maxFds < 0 || static_cast<size_t>(maxFds) > kMaxFdsPerMessage) {
    throw Napi::RangeError::New(env, "recvFds: maxData must be >= 0 and maxFds between 0 and 253");
  }
  Message message;
  if (int err = ReceiveMessage(sockFd, static_cast<size_t>(maxData), static_cast<size_t>(maxFds), &message)) {
    ThrowSystemError(env, err, "recvmsg");
  }
  return MessageToJs(env, message);
}

// --- receiveFdOnce: a console-socket receiver on its own thread ---

int64_t NowMs() {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<int64_t>(now.tv_sec) * 1000 + now.tv_nsec / 1000000;
}

// Waits until `fd` is readable or the deadline (-1 = none) passes. Returns 0 or an errno.
int WaitReadable(int fd, int64_t deadlineMs) {
  for (;;) {
    int timeout = -1;
    if (deadlineMs >= 0) {
      int64_t left = deadlineMs - NowMs();
      if (left <= 0) return ETIMEDOUT;
      timeout = left > 1000000 ? 1000000 : static_cast<int>(left);
    }
    struct pollfd pfd = {fd, POLLIN, 0};
    int ready = poll(&pfd, 1, timeout);
    if (ready > 0) return 0;
    if (ready < 0 && errno != EINTR) return errno;
  }
}

struct ReceiveJob {
  Napi::Promise::Deferred deferred;
  std::string socketPath;
  int listenFd;
  int64_t deadlineMs;
  int err = 0;
  const char* syscall = "";
  Message message;
};

// Runs on the background thread: accept one connection, read one message, remove the socket.
void ReceiveOnThread(ReceiveJob* job) {
  job->syscall = "accept";
  job->err = WaitReadable(job->listenFd, job->deadlineMs);
  int conn = -1;
  if (!job->err) {
    do {
      conn = accept4(job->listenFd, nullptr, nullptr, SOCK_CLOEXEC);
    } while (conn < 0 && errno == EINTR);
    if (conn < 0) job->err = errno;
  }
  if (!job->err) {
    job->syscall = "recvmsg";
    job->err = WaitReadable(conn, job->deadlineMs);
    if (!job->err) job->err = ReceiveMessage(conn, 4096, kMaxFdsPerMessage, &job->message);
  }
  if (conn >= 0) close(conn);
  close(job->listenFd);
  unlink(job->socketPath.c_str());
}

// Runs on the JS thread once the background thread is done.
void SettleReceive(Napi::Env env, Napi::Function, ReceiveJob* job) {
  if (env == nullptr) {  // the environment is shutting down: nobody will read the fds
    CloseAll(job->message.fds);
  } else if (job->err) {
    job->deferred.Reject(SystemError(env, job->err, job->syscall, job->socketPath).Value());
  } else {
    job->deferred.Resolve(MessageToJs(env, job->message));
  }
  delete job;
}

// Binding and listening happen before returning, so a client may connect as soon as the
// promise exists; only accept + recvmsg wait on the thread. timeoutMs <= 0 waits forever.
Napi::Value ReceiveFdOnce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    throw Napi::TypeError::New(env, "receiveFdOnce: expected a string for socketPath");
  }
  std::string socketPath = info[0].As<Napi::String>().Utf8Value();
  int timeoutMs = IntArg(info, 1, "receiveFdOnce", "timeoutMs");
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);

  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (socketPath.empty() || socketPath.size() >= sizeof addr.sun_path) {
    deferred.Reject(SystemError(env, socketPath.empty() ? ENOENT : ENAMETOOLONG, "bind", socketPath).Value());
    return deferred.Promise();
  }
  memcpy(addr.sun_path, socketPath.c_str(), socketPath.size() + 1);

  int listenFd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listenFd < 0) {
    deferred.Reject(SystemError(env, errno, "socket").Value());
    return deferred.Promise();
  }
  if (bind(listenFd, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) < 0) {
    int err = errno;
    close(listenFd);
    deferred.Reject(SystemError(env, err, "bind", socketPath).Value());
    return deferred.Promise();
  }
  if (listen(listenFd, 1) < 0) {
    int err = errno;
    close(listenFd);
    unlink(socketPath.c_str());
    deferred.Reject(SystemError(env, err, "listen", socketPath).Value());
    return deferred.Promise();
  }

  auto* job = new ReceiveJob{deferred, socketPath, listenFd, timeoutMs > 0 ? NowMs() + timeoutMs : -1};
  // The thread-safe function keeps the event loop alive until the job settles.
  auto tsfn = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}),
                                            "hull.receiveFdOnce", 0, 1);
  std::thread([job, tsfn]() mutable {
    ReceiveOnThread(job);
    if (tsfn.BlockingCall(job, SettleReceive) != napi_ok) {
      CloseAll(job->message.fds);
      delete job;
    }
    tsfn.Release();
  }).detach();
  return deferred.Promise();
}

// --- writeSome / readSome: the helper's control channel (a non-blocking stream socket) ---
// One syscall each, and no JS Buffer and no thrown EAGAIN on the usual path: Node's fs.writeSync
// and fs.readSync cost ~0.25 ms each on their first call in a process, and a container start
// waits for the plan written here and for the lines read back.

// writeSome(fd, data): write(2) of `data` (a string as UTF-8, or a Buffer) until the fd would
// block. null once all of it is written, else a Buffer of the rest. Other failures throw (EPIPE:
// the reader is gone).
Napi::Value WriteSome(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = IntArg(info, 0, "writeSome", "fd");
  std::string text;
  const char* data;
  size_t size;
  if (info.Length() > 1 && info[1].IsBuffer()) {
    auto buffer = info[1].As<Napi::Buffer<char>>();
    data = buffer.Data();
    size = buffer.Length();
  } else if (info.Length() > 1 && info[1].IsString()) {
    text = info[1].As<Napi::String>().Utf8Value();
    data = text.data();
    size = text.size();
  } else {
    throw Napi::TypeError::New(env, "writeSome: expected a string or a Buffer for data");
  }
  size_t done = 0;
  while (done < size) {
    ssize_t n = write(fd, data + done, size - done);
    if (n >= 0) {
      done += static_cast<size_t>(n);
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return Napi::Buffer<char>::Copy(env, data + done, size - done);
    } else if (errno != EINTR) {
      ThrowSystemError(env, errno, "write", std::to_string(fd));
    }
  }
  return env.Null();
}

// readSome(fd, max): one read(2) of up to `max` bytes, decoded as UTF-8. "" at end of file, null
// if the fd would block; other failures throw (ECONNRESET).
Napi::Value ReadSome(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = IntArg(info, 0, "readSome", "fd");
  int max = IntArg(info, 1, "readSome", "max");
  if (max <= 0 || max > (1 << 20)) throw Napi::RangeError::New(env, "readSome: max must be between 1 and 1 MiB");
  std::vector<char> buffer(static_cast<size_t>(max));
  ssize_t n;
  do {
    n = read(fd, buffer.data(), buffer.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return env.Null();
  if (n < 0) ThrowSystemError(env, errno, "read", std::to_string(fd));
  return Napi::String::New(env, buffer.data(), static_cast<size_t>(n));
}

}  // namespace

void RegisterSock(Napi::Env env, Napi::Object exports) {
  exports.Set("writeSome", Napi::Function::New(env, WriteSome, "writeSome"));
  exports.Set("readSome", Napi::Function::New(env, ReadSome, "readSome"));
  exports.Set("socketpair", Napi::Function::New(env, Socketpair, "socketpair"));
  exports.Set("sendFds", Napi::Function::New(env, SendFds, "sendFds"));
  exports.Set("recvFds", Napi::Function::New(env, RecvFds, "recvFds"));
  exports.Set("receiveFdOnce", Napi::Function::New(env, ReceiveFdOnce, "receiveFdOnce"));
}

}  // namespace hull
