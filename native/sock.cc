#include "addon.h"

namespace hull {
void RegisterSock(Napi::Env env, Napi::Object exports) {}
}  // namespace hull
