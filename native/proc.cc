#include "addon.h"

namespace hull {
void RegisterProc(Napi::Env env, Napi::Object exports) {}
}  // namespace hull
