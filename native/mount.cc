// Mounts: used by the helper (container side) and, under HULL_ADDON, bound into the addon.
#ifdef HULL_ADDON
#include "addon.h"
namespace hull {
void RegisterMount(Napi::Env env, Napi::Object exports) {}
}  // namespace hull
#endif
