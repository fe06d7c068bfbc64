// torchlet_cpu: N-API entry point of the oneDNN-backed cpu backend.
#include <omp.h>

#include <cstdlib>  // first: defines __GLIBC__ on glibc systems
#include <cstring>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "common.h"

namespace tl {
namespace {

Napi::Value Version(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  const dnnl_version_t *v = dnnl::version();
  Napi::Object o = Napi::Object::New(env);
  o.Set("major", v->major);
  o.Set("minor", v->minor);
  o.Set("patch", v->patch);
  o.Set("hash", v->hash ? v->hash : "");
  o.Set("cpuRuntime", v->cpu_runtime == DNNL_RUNTIME_OMP ? "omp" : v->cpu_runtime == DNNL_RUNTIME_TBB ? "tbb" : "other");
  return o;
}

Napi::Value GetNumThreads(const Napi::CallbackInfo &info) { return Napi::Number::New(info.Env(), numThreads()); }

Napi::Value SetNumThreads(const Napi::CallbackInfo &info) {
  int64_t n = i64(info, 0);
  if (n < 1 || n > 4096) throw Napi::RangeError::New(info.Env(), "torchlet cpu: thread count must be 1..4096");
  setNumThreads(static_cast<int>(n));
  return info.Env().Undefined();
}

Napi::Value LastImpl(const Napi::CallbackInfo &info) { return Napi::String::New(info.Env(), lastImpl()); }

Napi::Value ClearCache(const Napi::CallbackInfo &info) {
  clearPlanCache();
  return info.Env().Undefined();
}

Napi::Value CacheSize(const Napi::CallbackInfo &info) {
  return Napi::Number::New(info.Env(), static_cast<double>(planCache().size()));
}

/**
 * Training allocates the same activation and gradient sizes every step. glibc serves blocks over
 * its (adaptive) mmap threshold with fresh mappings, so each step faults every page of them in
 * again: about 900 faults a step on LeNet-BN, at roughly 2.7 us each on this kind of VM. Serving
 * blocks up to 32 MiB from the heap and keeping freed memory mapped lets later steps reuse it.
 * Returns whether the settings were applied (glibc only; TORCHLET_MALLOC_TUNING=0 opts out).
 */
bool tuneMalloc() {
#if defined(__GLIBC__)
  const char *e = std::getenv("TORCHLET_MALLOC_TUNING");
  if (e && std::strcmp(e, "0") == 0) return false;
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_TOP_PAD, 16 << 20);
  return true;
#else
  return false;
#endif
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  engine();  // fail at load time, not on the first kernel, if oneDNN cannot start
  static const bool mallocTuned = tuneMalloc();
  exports.Set("mallocTuned", Napi::Boolean::New(env, mallocTuned));
  exports.Set("version", Napi::Function::New(env, Version, "version"));
  exports.Set("getNumThreads", Napi::Function::New(env, GetNumThreads, "getNumThreads"));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads, "setNumThreads"));
  exports.Set("lastImpl", Napi::Function::New(env, LastImpl, "lastImpl"));
  exports.Set("clearCache", Napi::Function::New(env, ClearCache, "clearCache"));
  exports.Set("cacheSize", Napi::Function::New(env, CacheSize, "cacheSize"));
  initElementwise(env, exports);
  initConv(env, exports);
  initPool(env, exports);
  initNorm(env, exports);
  initMatmul(env, exports);
  initLayout(env, exports);
  return exports;
}

}  // namespace tl

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return tl::Init(env, exports); }

NODE_API_MODULE(torchlet_cpu, InitModule)
