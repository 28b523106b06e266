#include "addon.h"

namespace hull {
void RegisterOverlay(Napi::Env env, Napi::Object exports) {}
}  // namespace hull
