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
 * Host buffers of 64 KiB and up come from allocHost (host_memory.cc) and are reused through the
 * JavaScript pool, which frees them (freeHost) when it lets them go. Blocks from 256 KiB are then
 * given their own mappings, so a freed activation is returned to the system at once instead of
 * staying in malloc's heap: on VGG-11 at batch 128 that kept peak RSS 230 MiB lower than a heap
 * that held blocks up to 32 MiB and kept 1 GiB of freed memory (measured with /usr/bin/time). A
 * fixed threshold also stops glibc raising it as big blocks are freed. A fresh mapping faults its
 * pages in, but the pool serves a training step's repeat allocations without one.
 * Returns whether the settings were applied (glibc only; TORCHLET_MALLOC_TUNING=0 opts out).
 */
bool tuneMalloc() {
#if defined(__GLIBC__)
  const char *e = std::getenv("TORCHLET_MALLOC_TUNING");
  if (e && std::strcmp(e, "0") == 0) return false;
  mallopt(M_MMAP_THRESHOLD, 256 << 10);
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
  initHostMemory(env, exports);
  initBatchGather(env, exports);
  return exports;
}

}  // namespace tl

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return tl::Init(env, exports); }

NODE_API_MODULE(torchlet_cpu, InitModule)
