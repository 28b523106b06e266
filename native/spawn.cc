// helper spawn without child_process (sealed memfd copy, clone3 + pidfd, fd watches).
#include "addon.h"

namespace hull {
void RegisterSpawn(Napi::Env env, Napi::Object exports) {}
}  // namespace hull
