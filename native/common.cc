#include "common.h"

#include <omp.h>

#include <algorithm>
#include <cstdlib>

namespace tl {

dnnl::engine &engine() {
  static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}

dnnl::stream &stream() {
  // Streams are not thread-safe; worker_threads each get their own.
  thread_local dnnl::stream s(engine());
  return s;
}

int numThreads() { return omp_get_max_threads(); }

ThreadScope::ThreadScope(int n) {
  if (n > 0 && n < omp_get_max_threads()) {
    prev_ = omp_get_max_threads();
    omp_set_num_threads(n);
  }
}

ThreadScope::~ThreadScope() {
  if (prev_ > 0) omp_set_num_threads(prev_);
}

void setNumThreads(int n) {
  if (n < 1) n = 1;
  if (n == omp_get_max_threads()) return;
  omp_set_num_threads(n);
  // Implementations pick their blocking from the thread count at creation.
  clearPlanCache();
}

namespace {
struct Arena {
  void *ptr = nullptr;
  size_t bytes = 0;
  Arena() = default;
  Arena(const Arena &) = delete;
  Arena &operator=(const Arena &) = delete;
  ~Arena() { std::free(ptr); }
};

thread_local std::unordered_map<int, std::unique_ptr<Arena>> arenas;
}  // namespace

void *arena(int id, size_t bytes) {
  std::unique_ptr<Arena> &slot = arenas[id];
  if (!slot) slot = std::make_unique<Arena>();
  Arena &a = *slot;
  if (bytes > a.bytes || !a.ptr) {
    std::free(a.ptr);
    a.ptr = nullptr;
    a.bytes = 0;
    size_t rounded = (std::max<size_t>(bytes, 64) + 4095) & ~size_t(4095);
    a.ptr = std::aligned_alloc(64, rounded);
    if (!a.ptr) throw std::bad_alloc();
    a.bytes = rounded;
  }
  return a.ptr;
}

namespace {
thread_local const Plan *lastPlan = nullptr;
}

std::unordered_map<std::string, std::unique_ptr<Plan>> &planCache() {
  thread_local std::unordered_map<std::string, std::unique_ptr<Plan>> cache;
  return cache;
}

namespace {
thread_local int generation = 0;
}

int cacheGeneration() { return generation; }

void clearPlanCache() {
  generation++;
  lastPlan = nullptr;
  planCache().clear();
  arenas.clear();  // the scratch memory of large shapes goes back too
}

void evictPlans(const std::vector<Key> &keys) {
  auto &cache = planCache();
  for (const Key &k : keys) {
    auto it = cache.find(k.s);
    if (it == cache.end()) continue;
    if (lastPlan == it->second.get()) lastPlan = nullptr;
    cache.erase(it);
  }
  arenas.clear();
}

dnnl::primitive_attr baseAttr() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

memory::desc plainMd(const dims &d) {
  dims strides(d.size());
  int64_t s = 1;
  for (size_t i = d.size(); i-- > 0;) {
    strides[i] = s;
    s *= d[i];
  }
  return memory::desc(d, dt::f32, strides);
}

memory::desc anyMd(const dims &d) { return memory::desc(d, dt::f32, tag::any); }

memory::desc actMd(const dims &d, int block) {
  if (d.size() != 4 || block == 0) return plainMd(d);
  return memory::desc(d, dt::f32, block == 16 ? tag::aBcd16b : tag::aBcd8b);
}

int blockOf(const memory::desc &md) {
  const dims d = md.dims();
  if (d.size() != 4 || md.data_type() != dt::f32) return 0;
  for (int b : {16, 8}) {
    if (d[1] % b == 0 && md == memory::desc(d, dt::f32, b == 16 ? tag::aBcd16b : tag::aBcd8b)) return b;
  }
  return 0;
}

// ---------------------------------------------------------------- Plan

memory Plan::user(int slot, const memory::desc &md) {
  if (slot < 0 || slot >= kMaxSlots) throw std::runtime_error("torchlet: bad slot");
  memory m(md, engine(), DNNL_MEMORY_NONE);
  users_.push_back({slot, m, md.get_size()});
  return m;
}

memory Plan::temp(const memory::desc &md) {
  memory m(md, engine(), DNNL_MEMORY_NONE);
  temps_.push_back({nextArena_++, m, md.get_size()});
  return m;
}

memory Plan::in(int slot, const memory::desc &userMd, const memory::desc &want) {
  memory u = user(slot, userMd);
  if (want == userMd) return u;
  memory t = temp(want);
  pre_.push_back({dnnl::reorder(u, t), {{DNNL_ARG_FROM, u}, {DNNL_ARG_TO, t}}});
  return t;
}

memory Plan::out(int slot, const memory::desc &userMd, const memory::desc &got) {
  memory u = user(slot, userMd);
  if (got == userMd) return u;
  memory t = temp(got);
  post_.push_back({dnnl::reorder(t, u), {{DNNL_ARG_FROM, t}, {DNNL_ARG_TO, u}}});
  return t;
}

void Plan::addReorder(const memory &from, const memory &to) {
  main_.push_back({dnnl::reorder(from, to), {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}}});
  if (!impl.empty()) impl += ",";
  impl += "reorder";
}

void Plan::add(const dnnl::primitive &p, std::unordered_map<int, memory> args, const dnnl::primitive_desc &pd) {
  memory::desc sd = pd.scratchpad_desc();
  size_t bytes = sd.get_size();
  if (bytes > 0) {
    memory m(sd, engine(), DNNL_MEMORY_NONE);
    args[DNNL_ARG_SCRATCHPAD] = m;
    scratch_.push_back(m);
    scratchBytes_ = std::max(scratchBytes_, bytes);
  }
  const char *name = pd.impl_info_str();
  if (!impl.empty()) impl += ",";
  impl += name ? name : "?";
  main_.push_back({p, std::move(args)});
}

const std::string &lastImpl() {
  static const std::string none;
  return lastPlan ? lastPlan->impl : none;
}

void Plan::run(void *const *ptrs) {
  lastPlan = this;
  for (auto &b : users_) b.mem.set_data_handle(ptrs[b.id]);
  for (auto &b : temps_) b.mem.set_data_handle(arena(b.id, b.bytes));
  if (scratchBytes_ > 0) {
    void *sp = arena(kScratchArena, scratchBytes_);
    for (auto &m : scratch_) m.set_data_handle(sp);
  }
  ThreadScope scope(threads);
  dnnl::stream &s = stream();
  for (auto &st : pre_) st.p.execute(s, st.args);
  for (auto &st : main_) st.p.execute(s, st.args);
  for (auto &st : post_) st.p.execute(s, st.args);
  s.wait();
}

// ---------------------------------------------------------------- args

static Napi::Float32Array asF32(const Napi::CallbackInfo &info, size_t i, const char *name) {
  Napi::Value v = info[i];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw Napi::TypeError::New(info.Env(), std::string("torchlet cpu: argument '") + name + "' must be a Float32Array");
  }
  return v.As<Napi::Float32Array>();
}

float *f32(const Napi::CallbackInfo &info, size_t i, size_t expect, const char *name) {
  Napi::Float32Array a = asF32(info, i, name);
  if (a.ElementLength() != expect) {
    throw Napi::RangeError::New(info.Env(), std::string("torchlet cpu: '") + name + "' has " +
                                                std::to_string(a.ElementLength()) + " elements, expected " +
                                                std::to_string(expect));
  }
  return a.Data();
}

float *f32OrNull(const Napi::CallbackInfo &info, size_t i, size_t expect, const char *name) {
  if (info[i].IsNull() || info[i].IsUndefined()) return nullptr;
  return f32(info, i, expect, name);
}

int64_t i64(const Napi::CallbackInfo &info, size_t i) {
  int64_t v = info[i].As<Napi::Number>().Int64Value();
  return v;
}

double num(const Napi::CallbackInfo &info, size_t i) { return info[i].As<Napi::Number>().DoubleValue(); }

bool flag(const Napi::CallbackInfo &info, size_t i) { return info[i].ToBoolean().Value(); }

int blockArg(const Napi::CallbackInfo &info, size_t i) {
  if (info.Length() <= i || info[i].IsUndefined()) return 0;
  const int64_t b = i64(info, i);
  if (b != 0 && b != 8 && b != 16) throw Napi::RangeError::New(info.Env(), "torchlet cpu: channel block must be 0, 8 or 16");
  return static_cast<int>(b);
}

std::vector<int64_t> dimsArg(const Napi::CallbackInfo &info, size_t i) {
  Napi::Array a = info[i].As<Napi::Array>();
  std::vector<int64_t> out(a.Length());
  for (uint32_t j = 0; j < a.Length(); j++) out[j] = a.Get(j).As<Napi::Number>().Int64Value();
  return out;
}

int64_t padRight(int64_t in, int64_t k, int64_t s, int64_t pl, int64_t o) {
  // oneDNN requires o == (in - k + pl + pr) / s + 1 (integer division).
  if ((in - k + 2 * pl) / s + 1 == o) return pl;
  return (o - 1) * s + k - in - pl;
}

}  // namespace tl
