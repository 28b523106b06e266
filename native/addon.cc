// The Node-API addon: host-side primitives only (src/native.ts is the typed contract).
#include "addon.h"

namespace hull {
int IntArg(const Napi::CallbackInfo& info, size_t index, const char* fn, const char* name) {
  if (info.Length() <= index || !info[index].IsNumber()) {
    throw Napi::TypeError::New(info.Env(), std::string(fn) + ": expected a number for " + name);
  }
  return info[index].As<Napi::Number>().Int32Value();
}
}  // namespace hull

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("version", Napi::String::New(env, "0.1.0"));
  hull::RegisterErrors(env, exports);
  hull::RegisterFs(env, exports);
  hull::RegisterProc(env, exports);
  hull::RegisterSock(env, exports);
  hull::RegisterMount(env, exports);
  hull::RegisterOverlay(env, exports);
  hull::RegisterLayer(env, exports);
  hull::RegisterSpawn(env, exports);
  hull::RegisterCgroup(env, exports);
  hull::RegisterUserns(env, exports);
  hull::RegisterSeccomp(env, exports);
  return exports;
}

NODE_API_MODULE(hull_native, Init)
