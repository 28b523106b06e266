#include "addon.h"

namespace hull {
void RegisterLayer(Napi::Env env, Napi::Object exports) {}
}  // namespace hull
