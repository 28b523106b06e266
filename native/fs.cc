#include "addon.h"

namespace hull {
void RegisterFs(Napi::Env env, Napi::Object exports) {}
}  // namespace hull
