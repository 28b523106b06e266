#include "addon.h"

namespace hull {
void RegisterErrors(Napi::Env env, Napi::Object exports) {}
}  // namespace hull
