// Shared plumbing for the torchlet cpu backend: one oneDNN engine, a stream
// and a primitive-plan cache per JS thread, grow-only scratch arenas, and
// helpers that read Float32Array arguments without copying them.
#pragma once

#include <napi.h>

#include <dnnl.hpp>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace tl {

using dnnl::memory;
using dims = memory::dims;
using tag = memory::format_tag;
using dt = memory::data_type;

dnnl::engine &engine();
dnnl::stream &stream();

/** Number of OpenMP threads oneDNN will use. */
int numThreads();
void setNumThreads(int n);

/**
 * Grow-only, 64-byte aligned scratch buffer `id` (per JS thread). Plans run to
 * completion one after another, so every plan can reuse the same arenas for
 * its temporaries (reordered tensors, scratchpads, recomputed workspaces).
 */
void *arena(int id, size_t bytes);
constexpr int kScratchArena = 0;

/** Cache key: an op code (unique per kernel across the native sources) followed by raw int64 fields. */
struct Key {
  std::string s;
  explicit Key(int op) { s.reserve(160); add(op); }
  Key &add(int64_t v) {
    s.append(reinterpret_cast<const char *>(&v), sizeof v);
    return *this;
  }
  Key &addf(float f) {
    int32_t bits;
    std::memcpy(&bits, &f, sizeof bits);
    return add(bits);
  }
  Key &operator<<(int64_t v) { return add(v); }
};

/**
 * A cached execution plan: reorders in, one or more primitives, reorders out.
 * Memories bound to user buffers are addressed by slot number; run() points
 * them at the caller's Float32Array storage, so nothing is copied unless a
 * primitive wants a different (blocked) layout.
 */
class Plan {
 public:
  static constexpr int kMaxSlots = 12;

  /** A memory that will be bound to user slot `slot` on every run. */
  memory user(int slot, const memory::desc &md);
  /** A memory backed by a scratch arena (fresh arena id per temp in a plan). */
  memory temp(const memory::desc &md);
  /** Memory with layout `want` holding user slot `slot` (layout userMd); adds a reorder when they differ. */
  memory in(int slot, const memory::desc &userMd, const memory::desc &want);
  /** Memory with layout `got` whose contents end up in user slot `slot`; adds a reorder out when they differ. */
  memory out(int slot, const memory::desc &userMd, const memory::desc &got);
  /** Append a reorder between two memories of the plan as a compute step. */
  void addReorder(const memory &from, const memory &to);
  /** Append a compute primitive; a scratchpad (user mode) is attached from pd when it needs one. */
  void add(const dnnl::primitive &p, std::unordered_map<int, memory> args, const dnnl::primitive_desc &pd);

  void run(void *const *ptrs);

  std::string impl;  // implementation names, for debugging/benchmarks
  /** Thread cap for this plan (0 = all): small problems run serially, which avoids OpenMP fork/join costs. */
  int threads = 0;
  /** Channel block of the activation the plan writes (0: plain NCHW), when it may choose. */
  int outBlock = 0;

 private:
  struct Step {
    dnnl::primitive p;
    std::unordered_map<int, memory> args;
  };
  struct Bound {
    int id;  // slot for user memories, arena id for temps
    memory mem;
    size_t bytes;
  };
  std::vector<Step> pre_, main_, post_;
  std::vector<Bound> users_, temps_;
  std::vector<memory> scratch_;
  size_t scratchBytes_ = 0;
  int nextArena_ = 1;
};

/** Caps the OpenMP thread count for its lifetime (no-op for n <= 0). */
class ThreadScope {
 public:
  explicit ThreadScope(int n);
  ~ThreadScope();
  ThreadScope(const ThreadScope &) = delete;
  ThreadScope &operator=(const ThreadScope &) = delete;

 private:
  int prev_ = 0;
};

/** Problems with less work than this (elements touched, or multiply-adds) run on one thread. */
constexpr int64_t kSerialWork = 1 << 15;

/** Find or build (and cache) the plan for key k. */
template <class F>
Plan &cached(const Key &k, F build);

/** As cached(), but a plan for a small problem (work < kSerialWork) is built and run on one thread. */
template <class F>
Plan &cachedSized(Key k, int64_t work, F build) {
  const bool serial = work < kSerialWork;
  k << serial;
  return cached(k, [&](Plan &p) {
    ThreadScope scope(serial ? 1 : 0);
    p.threads = serial ? 1 : 0;
    build(p);
  });
}

std::unordered_map<std::string, std::unique_ptr<Plan>> &planCache();
void clearPlanCache();
/**
 * Drop the cached plans for keys (the plans that lost a shape's race) and every scratch arena, so what the
 * losers needed (Winograd's scratchpads, reordered copies of large activations) does not stay
 * resident for the rest of the run; the arenas grow back to what the chosen plans need.
 */
void evictPlans(const std::vector<Key> &keys);
/** Bumped by clearPlanCache(); per-shape state elsewhere (conv layout tuning) resets when it changes. */
int cacheGeneration();
/** Implementation names of the most recently run plan (benchmarks, debugging). */
const std::string &lastImpl();

template <class F>
Plan &cached(const Key &k, F build) {
  auto &cache = planCache();
  auto it = cache.find(k.s);
  if (it != cache.end()) return *it->second;
  if (cache.size() >= 4096) clearPlanCache();  // crude bound; shapes in a training run are few
  auto plan = std::make_unique<Plan>();
  build(*plan);
  Plan &ref = *plan;
  cache.emplace(k.s, std::move(plan));
  return ref;
}

/** Attributes every primitive is created with: user-managed scratchpad. */
dnnl::primitive_attr baseAttr();

memory::desc plainMd(const dims &d);  // row-major f32
/**
 * An NCHW activation's layout by channel block: 0 plain NCHW, 8 nChw8c, 16 nChw16c (oneDNN's
 * aBcd8b / aBcd16b). Blocked activations are only kept when the channel count is a multiple of
 * the block, so they take exactly the bytes of the plain tensor.
 */
memory::desc actMd(const dims &d, int block);
/** 8 or 16 when md is that channel-blocked layout with no padding, else 0. */
int blockOf(const memory::desc &md);
memory::desc anyMd(const dims &d);

// ---- argument helpers ----
float *f32(const Napi::CallbackInfo &info, size_t i, size_t expect, const char *name);
float *f32OrNull(const Napi::CallbackInfo &info, size_t i, size_t expect, const char *name);
int64_t i64(const Napi::CallbackInfo &info, size_t i);
double num(const Napi::CallbackInfo &info, size_t i);
bool flag(const Napi::CallbackInfo &info, size_t i);
std::vector<int64_t> dimsArg(const Napi::CallbackInfo &info, size_t i);
/** Argument i as a channel block (0, 8 or 16); 0 when absent. */
int blockArg(const Napi::CallbackInfo &info, size_t i);

/** Right padding that makes oneDNN's output-size formula give `o`. */
int64_t padRight(int64_t in, int64_t k, int64_t s, int64_t pl, int64_t o);

/** y = act(y) in place, act 1 relu, 2 sigmoid, 3 tanh (oneDNN eltwise): the fused activations of the direct convolution and batch norm. */
void activateInPlace(float *y, int64_t n, int act);

// ---- registration (one per source file) ----
void initElementwise(Napi::Env env, Napi::Object exports);
void initConv(Napi::Env env, Napi::Object exports);
void initPool(Napi::Env env, Napi::Object exports);
void initNorm(Napi::Env env, Napi::Object exports);
void initMatmul(Napi::Env env, Napi::Object exports);
void initLayout(Napi::Env env, Napi::Object exports);
void initHostMemory(Napi::Env env, Napi::Object exports);
void initBatchGather(Napi::Env env, Napi::Object exports);

}  // namespace tl
