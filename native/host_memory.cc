// Host buffers the cpu backend frees when it says so, not when the garbage collector gets to them.
//
// A Float32Array made in JS keeps its memory until V8 collects the object, however early the tensor
// holding it was disposed, and every new one counts as external memory, which V8 answers with a
// scavenge about every training step. These buffers are malloc'd here and handed to JS as external
// ArrayBuffers. freeHost detaches one, so that every view of it reads as empty from then on (a stale
// reference sees nothing rather than reused memory), and frees the memory at once: Node runs an
// external buffer's own finalizer only at a later turn of the event loop, too late for memory freed
// in the middle of a training step. A buffer that is never freed is freed by that finalizer.
#include <sys/mman.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>

#include "common.h"

namespace tl {
namespace {

constexpr size_t kHugePage = size_t(2) << 20;
/** Buffers from this size on are offered huge pages (smaller ones would mostly be partial pages). */
constexpr size_t kHugeMin = size_t(4) << 20;

/** One allocation: the finalizer's hint, so it knows whether freeHost got there first. */
struct Block {
  void *data;
  bool freed;
};

/** Live blocks by address, for freeHost (JS gives back the array, not the block). Main thread only. */
std::unordered_map<void *, Block *> &liveBlocks() {
  static std::unordered_map<void *, Block *> blocks;
  return blocks;
}

void finalizeBlock(napi_env, void *, void *hint) {
  Block *b = static_cast<Block *>(hint);
  if (!b->freed) {
    auto &live = liveBlocks();
    auto it = live.find(b->data);
    if (it != live.end() && it->second == b) live.erase(it);
    std::free(b->data);
  }
  delete b;
}

/** allocHost(n): a Float32Array of n values over fresh, uninitialised, 64-byte-aligned memory. */
Napi::Value AllocHost(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int64_t n = i64(info, 0);
  if (n < 1 || n > (int64_t(1) << 40)) throw Napi::RangeError::New(env, "torchlet cpu: allocHost needs 1..2^40 values");
  size_t bytes = static_cast<size_t>(n) * sizeof(float);
  size_t rounded = (bytes + 63) & ~size_t(63);
  // Big buffers start on a 2 MiB boundary and are offered to transparent huge pages (Debian's
  // default is THP on madvise): each fresh 2 MiB then faults in once instead of 512 times. Only the
  // buffer's own bytes are advised, so a partial last 2 MiB keeps small pages, and the rounding up
  // that aligned_alloc asks for is address space never touched: RSS counts no more than before.
  const bool huge = rounded >= kHugeMin;
  void *p = std::aligned_alloc(huge ? kHugePage : 64, huge ? (rounded + kHugePage - 1) & ~(kHugePage - 1) : rounded);
  if (!p) throw Napi::Error::New(env, "torchlet cpu: out of host memory allocating " + std::to_string(bytes) + " bytes");
#if defined(MADV_HUGEPAGE)
  if (huge) madvise(p, rounded, MADV_HUGEPAGE);  // advice only: failure leaves small pages
#endif
  Block *b = new Block{p, false};
  napi_value ab;
  if (napi_create_external_arraybuffer(env, p, bytes, finalizeBlock, b, &ab) != napi_ok) {
    std::free(p);
    delete b;
    throw Napi::Error::New(env, "torchlet cpu: could not wrap a host buffer");
  }
  liveBlocks()[p] = b;
  napi_value arr;
  NAPI_THROW_IF_FAILED(env, napi_create_typedarray(env, napi_float32_array, static_cast<size_t>(n), ab, 0, &arr), Napi::Value());
  return Napi::Value(env, arr);
}

/** freeHost(f32): give an allocHost buffer back now; its views become empty. Other arrays are left alone. */
Napi::Value FreeHost(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray()) throw Napi::TypeError::New(env, "torchlet cpu: freeHost expects a Float32Array from allocHost");
  Napi::ArrayBuffer ab = info[0].As<Napi::TypedArray>().ArrayBuffer();
  void *p = ab.Data();
  auto &live = liveBlocks();
  auto it = p ? live.find(p) : live.end();
  if (it == live.end()) return env.Undefined();  // already freed, or not ours
  Block *b = it->second;
  live.erase(it);
  ab.Detach();
  b->freed = true;
  std::free(p);
  return env.Undefined();
}

}  // namespace

void initHostMemory(Napi::Env env, Napi::Object exports) {
  exports.Set("allocHost", Napi::Function::New(env, AllocHost, "allocHost"));
  exports.Set("freeHost", Napi::Function::New(env, FreeHost, "freeHost"));
}

}  // namespace tl
