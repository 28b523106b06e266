// eBPF device filters for cgroup v2 (BPF_PROG_TYPE_CGROUP_DEVICE).
#include "addon.h"

namespace hull {
void RegisterCgroup(Napi::Env env, Napi::Object exports) {}
}  // namespace hull
