// Native failures become JS errors shaped like Node's SystemError:
//   message "mount /x/rootfs/proc: EPERM (Operation not permitted)", code "EPERM", errno 1,
//   syscall "mount", path "/x/rootfs/proc".
#pragma once
#include <napi.h>
#include <string>

namespace hull {
// errno name for a positive errno value ("EPERM"); "E<n>" if unknown.
const char* ErrnoName(int err);
// Build (not throw) the error object.
Napi::Error SystemError(Napi::Env env, int err, const char* syscall, const std::string& path = "");
// Throw it as a C++ exception (node-addon-api turns it into a JS exception).
[[noreturn]] void ThrowSystemError(Napi::Env env, int err, const char* syscall, const std::string& path = "");
}  // namespace hull
