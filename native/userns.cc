// user namespace fds and idmapped mounts (mount_setattr MOUNT_ATTR_IDMAP).
#include "addon.h"

namespace hull {
void RegisterUserns(Napi::Env env, Napi::Object exports) {}
}  // namespace hull
