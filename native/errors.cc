// Native failures as JS errors shaped like Node's SystemError (see errors.h):
//   "openat2 etc/passwd: ENOENT (No such file or directory)"
//   with code 'ENOENT', errno 2, syscall 'openat2', path 'etc/passwd'.
#include "errors.h"

#include <cerrno>
#include <cstring>

#include "addon.h"

namespace hull {

// Names follow Node (util.getSystemErrorName): 95 is ENOTSUP, 11 EAGAIN, 35 EDEADLK, so a
// native error and an fs error for the same failure carry the same code.
const char* ErrnoName(int err) {
  switch (err) {
#define HULL_ERRNO(name) \
  case name:             \
    return #name;
    HULL_ERRNO(EPERM) HULL_ERRNO(ENOENT) HULL_ERRNO(ESRCH) HULL_ERRNO(EINTR) HULL_ERRNO(EIO)
    HULL_ERRNO(ENXIO) HULL_ERRNO(E2BIG) HULL_ERRNO(ENOEXEC) HULL_ERRNO(EBADF) HULL_ERRNO(ECHILD)
    HULL_ERRNO(EAGAIN) HULL_ERRNO(ENOMEM) HULL_ERRNO(EACCES) HULL_ERRNO(EFAULT) HULL_ERRNO(ENOTBLK)
    HULL_ERRNO(EBUSY) HULL_ERRNO(EEXIST) HULL_ERRNO(EXDEV) HULL_ERRNO(ENODEV) HULL_ERRNO(ENOTDIR)
    HULL_ERRNO(EISDIR) HULL_ERRNO(EINVAL) HULL_ERRNO(ENFILE) HULL_ERRNO(EMFILE) HULL_ERRNO(ENOTTY)
    HULL_ERRNO(ETXTBSY) HULL_ERRNO(EFBIG) HULL_ERRNO(ENOSPC) HULL_ERRNO(ESPIPE) HULL_ERRNO(EROFS)
    HULL_ERRNO(EMLINK) HULL_ERRNO(EPIPE) HULL_ERRNO(EDOM) HULL_ERRNO(ERANGE) HULL_ERRNO(EDEADLK)
    HULL_ERRNO(ENAMETOOLONG) HULL_ERRNO(ENOLCK) HULL_ERRNO(ENOSYS) HULL_ERRNO(ENOTEMPTY)
    HULL_ERRNO(ELOOP) HULL_ERRNO(ENOMSG) HULL_ERRNO(EIDRM) HULL_ERRNO(ECHRNG) HULL_ERRNO(EL2NSYNC)
    HULL_ERRNO(EL3HLT) HULL_ERRNO(EL3RST) HULL_ERRNO(ELNRNG) HULL_ERRNO(EUNATCH) HULL_ERRNO(ENOCSI)
    HULL_ERRNO(EL2HLT) HULL_ERRNO(EBADE) HULL_ERRNO(EBADR) HULL_ERRNO(EXFULL) HULL_ERRNO(ENOANO)
    HULL_ERRNO(EBADRQC) HULL_ERRNO(EBADSLT) HULL_ERRNO(EBFONT) HULL_ERRNO(ENOSTR) HULL_ERRNO(ENODATA)
    HULL_ERRNO(ETIME) HULL_ERRNO(ENOSR) HULL_ERRNO(ENONET) HULL_ERRNO(ENOPKG) HULL_ERRNO(EREMOTE)
    HULL_ERRNO(ENOLINK) HULL_ERRNO(EADV) HULL_ERRNO(ESRMNT) HULL_ERRNO(ECOMM) HULL_ERRNO(EPROTO)
    HULL_ERRNO(EMULTIHOP) HULL_ERRNO(EDOTDOT) HULL_ERRNO(EBADMSG) HULL_ERRNO(EOVERFLOW)
    HULL_ERRNO(ENOTUNIQ) HULL_ERRNO(EBADFD) HULL_ERRNO(EREMCHG) HULL_ERRNO(ELIBACC) HULL_ERRNO(ELIBBAD)
    HULL_ERRNO(ELIBSCN) HULL_ERRNO(ELIBMAX) HULL_ERRNO(ELIBEXEC) HULL_ERRNO(EILSEQ) HULL_ERRNO(ERESTART)
    HULL_ERRNO(ESTRPIPE) HULL_ERRNO(EUSERS) HULL_ERRNO(ENOTSOCK) HULL_ERRNO(EDESTADDRREQ)
    HULL_ERRNO(EMSGSIZE) HULL_ERRNO(EPROTOTYPE) HULL_ERRNO(ENOPROTOOPT) HULL_ERRNO(EPROTONOSUPPORT)
    HULL_ERRNO(ESOCKTNOSUPPORT) HULL_ERRNO(ENOTSUP) HULL_ERRNO(EPFNOSUPPORT) HULL_ERRNO(EAFNOSUPPORT)
    HULL_ERRNO(EADDRINUSE) HULL_ERRNO(EADDRNOTAVAIL) HULL_ERRNO(ENETDOWN) HULL_ERRNO(ENETUNREACH)
    HULL_ERRNO(ENETRESET) HULL_ERRNO(ECONNABORTED) HULL_ERRNO(ECONNRESET) HULL_ERRNO(ENOBUFS)
    HULL_ERRNO(EISCONN) HULL_ERRNO(ENOTCONN) HULL_ERRNO(ESHUTDOWN) HULL_ERRNO(ETOOMANYREFS)
    HULL_ERRNO(ETIMEDOUT) HULL_ERRNO(ECONNREFUSED) HULL_ERRNO(EHOSTDOWN) HULL_ERRNO(EHOSTUNREACH)
    HULL_ERRNO(EALREADY) HULL_ERRNO(EINPROGRESS) HULL_ERRNO(ESTALE) HULL_ERRNO(EUCLEAN)
    HULL_ERRNO(ENOTNAM) HULL_ERRNO(ENAVAIL) HULL_ERRNO(EISNAM) HULL_ERRNO(EREMOTEIO) HULL_ERRNO(EDQUOT)
    HULL_ERRNO(ENOMEDIUM) HULL_ERRNO(EMEDIUMTYPE) HULL_ERRNO(ECANCELED) HULL_ERRNO(ENOKEY)
    HULL_ERRNO(EKEYEXPIRED) HULL_ERRNO(EKEYREVOKED) HULL_ERRNO(EKEYREJECTED) HULL_ERRNO(EOWNERDEAD)
    HULL_ERRNO(ENOTRECOVERABLE) HULL_ERRNO(ERFKILL) HULL_ERRNO(EHWPOISON)
#undef HULL_ERRNO
    default:
      break;
  }
  // Unknown values get a stable, still-unique name. thread_local: callers on worker threads.
  thread_local char unknown[24];
  snprintf(unknown, sizeof unknown, "E%d", err);
  return unknown;
}

Napi::Error SystemError(Napi::Env env, int err, const char* syscall, const std::string& path) {
  const char* code = ErrnoName(err);
  std::string message = syscall;
  if (!path.empty()) message += " " + path;
  message += std::string(": ") + code + " (" + strerror(err) + ")";

  Napi::Error error = Napi::Error::New(env, message);
  Napi::Object object = error.Value();
  object.Set("code", Napi::String::New(env, code));
  object.Set("errno", Napi::Number::New(env, err));
  object.Set("syscall", Napi::String::New(env, syscall));
  if (!path.empty()) object.Set("path", Napi::String::New(env, path));
  return error;
}

void ThrowSystemError(Napi::Env env, int err, const char* syscall, const std::string& path) {
  throw SystemError(env, err, syscall, path);
}

// errnoName(n) for tests and for JS code that formats errno values from the helper.
static Napi::Value ErrnoNameJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    throw Napi::TypeError::New(env, "errnoName: expected an errno number");
  }
  return Napi::String::New(env, ErrnoName(info[0].As<Napi::Number>().Int32Value()));
}

// systemErrorForTest(errno, syscall, path?) builds the error object so tests can check its shape.
static Napi::Value SystemErrorJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsString()) {
    throw Napi::TypeError::New(env, "systemError: expected (errno, syscall, path?)");
  }
  std::string path = info.Length() > 2 && info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "";
  return SystemError(env, info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::String>().Utf8Value().c_str(), path)
      .Value();
}

void RegisterErrors(Napi::Env env, Napi::Object exports) {
  exports.Set("errnoName", Napi::Function::New(env, ErrnoNameJs, "errnoName"));
  exports.Set("systemError", Napi::Function::New(env, SystemErrorJs, "systemError"));
}

}  // namespace hull
