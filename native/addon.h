// Registration hooks: each native/<concept>.cc adds its own exports to the addon.
#pragma once
#include <napi.h>

namespace hull {
// info[index] as an int32, or a TypeError "fn: expected a number for name" (every addon export).
int IntArg(const Napi::CallbackInfo& info, size_t index, const char* fn, const char* name);

void RegisterErrors(Napi::Env env, Napi::Object exports);
void RegisterFs(Napi::Env env, Napi::Object exports);       // fs.cc: openat2, mkdir-in-root, xattrs, mknod, flock
void RegisterProc(Napi::Env env, Napi::Object exports);     // proc.cc: pidfd, kill, subreaper, cloexec
void RegisterSock(Napi::Env env, Napi::Object exports);     // sock.cc: socketpair, SCM_RIGHTS
void RegisterMount(Napi::Env env, Napi::Object exports);    // mount.cc: mount, umount
void RegisterOverlay(Napi::Env env, Napi::Object exports);  // overlay.cc: overlay mounts for image layers
void RegisterLayer(Napi::Env env, Napi::Object exports);    // layer.cc: tar layer application
void RegisterSpawn(Napi::Env env, Napi::Object exports);    // spawn.cc: helper spawn, sealed copy, fd/pidfd watches
void RegisterCgroup(Napi::Env env, Napi::Object exports);   // cgroup.cc: cgroup v2 eBPF device filters
void RegisterUserns(Napi::Env env, Napi::Object exports);   // userns.cc: userns fds, idmapped mounts
void RegisterSeccomp(Napi::Env env, Napi::Object exports);  // seccomp.cc: the filter compiler (seccomp-bpf plan ops)
}  // namespace hull
