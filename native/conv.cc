// 2-D convolution: forward (bias + fused activation), backward data, backward weights.
//
// A convolution can run several ways. "blocked": oneDNN's direct algorithm with
// format `any`, so it picks its fastest (blocked) layouts, as PyTorch runs it.
// "winograd": oneDNN's Winograd F(4x4, 3x3), offered for 3x3 stride-1 kernels
// with at least 16 channels in and out (fewer multiplies; about 2x faster on
// AlexNet's and VGG's 3x3 layers here, within a few 1e-6 of direct).
// "direct" (conv_direct.cc: im2col + packed matrix product in NCHW), offered
// for few-channel shapes such as LeNet's, where blocked layouts pad channels to
// 16. The plans a shape is offered are timed and the fastest is kept (see
// Tuner). "plain" (oneDNN on NCHW) only runs when forced;
// TORCHLET_CONV_LAYOUT=blocked|winograd|direct|plain forces a plan.
//
// Determinism. Plans differ in float summation order, so which plan computes a
// value decides its last bits. By default the race is run on a shape's first
// call, before any output is kept: every plan on offer runs three times on that
// call's own data, the fastest is chosen, and it computes the result, then and
// for the rest of the process. The JavaScript side saves the choices per
// machine and thread count and hands them back to later processes
// (setConvChoices), so runs repeat bit for bit. TORCHLET_DETERMINISTIC=0
// restores the free race over a shape's first calls, whose results come from
// whichever plan was being timed.
#include <algorithm>
#include <chrono>
#include <functional>
#include <cstdlib>

#include "common.h"
#include "conv_direct.h"

namespace tl {
namespace {

using namespace dnnl;

struct Geom {
  int64_t n, c, h, w, oc, kh, kw, sh, sw, ph, pw, oh, ow;
  int64_t prh, prw;
};

// Reads the 13 geometry numbers starting at argument `i`.
Geom geomArg(const Napi::CallbackInfo &info, size_t i) {
  Geom g{};
  int64_t *f[] = {&g.n, &g.c, &g.h, &g.w, &g.oc, &g.kh, &g.kw, &g.sh, &g.sw, &g.ph, &g.pw, &g.oh, &g.ow};
  for (size_t j = 0; j < 13; j++) *f[j] = i64(info, i + j);
  for (size_t j = 0; j < 13; j++) {
    if (*f[j] < 0 || (j < 9 && *f[j] == 0) || ((j == 11 || j == 12) && *f[j] == 0)) {
      throw Napi::RangeError::New(info.Env(), "torchlet cpu: bad convolution geometry");
    }
  }
  g.prh = padRight(g.h, g.kh, g.sh, g.ph, g.oh);
  g.prw = padRight(g.w, g.kw, g.sw, g.pw, g.ow);
  return g;
}

Key &addGeom(Key &k, const Geom &g) {
  return k << g.n << g.c << g.h << g.w << g.oc << g.kh << g.kw << g.sh << g.sw << g.ph << g.pw << g.oh << g.ow;
}

enum Layout { kPlain = 0, kBlocked = 1, kDirect = 2, kWinograd = 3 };
constexpr int kLayouts = 4;
const char *const kLayoutNames[kLayouts] = {"plain", "blocked", "direct", "winograd"};

// -1: tune per shape (blocked, direct, winograd); otherwise the forced layout (TORCHLET_CONV_LAYOUT,
// or setConvLayout()). The plain-NCHW oneDNN plan (gemm convolution) is never chosen by tuning: it
// corrupted the heap in long runs under `node --cpu-prof` (glibc: "corrupted size vs. prev_size")
// and measured slower on the seed's networks, so it is only there when forced.
int &forcedLayoutRef() {
  static int mode = [] {
    const char *e = std::getenv("TORCHLET_CONV_LAYOUT");
    if (!e) return -1;
    std::string v(e);
    for (int i = 0; i < kLayouts; i++)
      if (v == kLayoutNames[i]) return i;
    return -1;
  }();
  return mode;
}

int forcedLayout() { return forcedLayoutRef(); }

bool deterministic() {
  static const bool on = [] {
    const char *e = std::getenv("TORCHLET_DETERMINISTIC");
    return !(e && std::string(e) == "0");
  }();
  return on;
}

/**
 * Per-shape choice between the plans on offer (blocked always; direct for few channels; Winograd
 * for 3x3 stride-1 kernels): each is timed in turn, a plan 1.5x slower than the best after one
 * call each is dropped at once (so tuning costs a network's first steps little), close ones get
 * kRounds timings each, then the fastest is kept.
 */
struct Tuner {
  static constexpr int kRounds = 3;
  bool initialised = false;
  bool available[kLayouts] = {true, true, false, false};  // offered for this shape (and buildable)
  bool racing[kLayouts] = {false, true, false, false};    // still in the race while tuning
  int calls[kLayouts] = {0, 0, 0, 0};
  double best[kLayouts] = {1e300, 1e300, 1e300, 1e300};
  int choice = -1;

  void offer(int layout, bool on) { available[layout] = racing[layout] = on; }
  int next() const {
    const int f = forcedLayout();
    if (f >= 0) return available[f] ? f : kBlocked;
    if (choice >= 0) return choice;
    int pick = -1;
    for (int l = 0; l < kLayouts; l++)
      if (racing[l] && (pick < 0 || calls[l] < calls[pick])) pick = l;
    return pick < 0 ? kBlocked : pick;
  }
  bool tuning() const {
    int n = 0;
    for (bool r : racing) n += r;
    return forcedLayout() < 0 && choice < 0 && n > 1;
  }
  /** A plan oneDNN cannot build for this shape. */
  void drop(int layout) {
    offer(layout, false);
    if (choice == layout) choice = -1;
  }
  /**
   * A plan's time for choosing: the direct plan's counts 10% less, so it wins a near tie. It
   * writes plain NCHW, where a blocked output costs a reorder further on (at a Flatten, or at
   * LeNet-BN's batch norm) that the race does not see; LeNet's conv2 forward timed 0.45 ms both ways.
   */
  double score(int layout) const { return layout == kDirect ? 0.9 * best[layout] : best[layout]; }
  void record(int layout, double ms) {
    if (ms < best[layout]) best[layout] = ms;
    calls[layout]++;
    double lo = 1e300;
    for (int l = 0; l < kLayouts; l++) {
      if (!racing[l]) continue;
      if (calls[l] == 0) return;  // not all timed yet
      lo = std::min(lo, best[l]);
    }
    int left = 0, fastest = -1;
    bool settled = true;
    for (int l = 0; l < kLayouts; l++) {
      if (!racing[l]) continue;
      if (best[l] > 1.5 * lo) {
        racing[l] = false;  // a clear loser
        continue;
      }
      left++;
      if (fastest < 0 || score(l) < score(fastest)) fastest = l;
      settled = settled && calls[l] >= kRounds;
    }
    if (left <= 1 || settled) choice = fastest;
  }
};

std::unordered_map<std::string, Tuner> &tuners() {
  thread_local std::unordered_map<std::string, Tuner> t;
  thread_local int generation = 0;
  if (generation != cacheGeneration()) {  // thread count changed: timings are stale
    t.clear();
    generation = cacheGeneration();
  }
  return t;
}

/**
 * Run the convolution for key k: the oneDNN plan for (k, layout) built by build(plan, layout), or
 * direct() (null when the shape is not offered to the direct plan), timing it while tuning.
 * `winograd`: whether the shape is offered to oneDNN's Winograd convolution (3x3, stride 1).
 */
template <class F>
int runTuned(const Key &k, void *const *ptrs, F build, const std::function<void()> &direct, bool winograd) {
  Tuner &t = tuners()[k.s];
  if (!t.initialised) {  // what a shape is offered depends only on its key
    t.offer(kDirect, static_cast<bool>(direct));
    t.offer(kWinograd, winograd);
    t.initialised = true;
    // A choice handed in by setConvChoices for a plan this shape is not offered: decide afresh.
    if (t.choice >= 0 && t.choice != kPlain && !t.available[t.choice]) t.choice = -1;
  }
  // Runs one plan; false when oneDNN has no implementation of it for this shape (it is dropped).
  auto attempt = [&](int layout, int &outBlock) -> bool {
    outBlock = 0;
    if (layout == kDirect) {
      direct();
      return true;
    }
    Plan *pp;
    try {
      Key kl = k;
      kl << layout;
      pp = &cached(kl, [&](Plan &plan) { build(plan, layout); });
    } catch (const dnnl::error &) {
      if (layout == kWinograd) {
        t.drop(kWinograd);
        return false;
      }
      if (forcedLayout() >= 0 || layout == kPlain) throw;
      // No blocked implementation for this shape: oneDNN on NCHW is what is left.
      t.choice = kPlain;
      Key kl = k;
      kl << kPlain;
      pp = &cached(kl, [&](Plan &plan) { build(plan, kPlain); });
    }
    pp->run(ptrs);
    outBlock = pp->outBlock;
    return true;
  };
  auto elapsedMs = [](std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  };
  // Once a shape's plan is decided, the plans that lost are dropped with their memory.
  auto dropLosers = [&]() {
    std::vector<Key> losers;
    for (int l = 0; l < kLayouts; l++) {
      if (l == t.choice) continue;
      Key kl = k;
      kl << l;
      losers.push_back(kl);
    }
    evictPlans(losers);
    // The direct plan's lanes kernels keep their buffers per thread, sized by the largest shape run.
    if (t.choice != kDirect && t.calls[kDirect] > 0) releaseLaneBuffers();
  };
  if (deterministic() && t.tuning()) {
    // Decide before any result is kept: time every plan on offer on this call's data, three times
    // (the first run of each builds its primitive; two timings left were a coin toss on a noisy machine).
    for (int round = 0; round < 3 && t.choice < 0; round++) {
      for (int l = 0; l < kLayouts && t.choice < 0; l++) {
        if (!t.racing[l]) continue;
        int ob = 0;
        auto t0 = std::chrono::steady_clock::now();
        if (!attempt(l, ob)) continue;
        const double ms = elapsedMs(t0);
        if (ms < t.best[l]) t.best[l] = ms;
        t.calls[l]++;
      }
    }
    if (t.choice < 0) {
      int fastest = -1;
      for (int l = 0; l < kLayouts; l++)
        if (t.racing[l] && (fastest < 0 || t.score(l) < t.score(fastest))) fastest = l;
      t.choice = fastest < 0 ? kBlocked : fastest;
    }
    dropLosers();
  }
  for (;;) {
    const bool timing = t.tuning();
    const int layout = t.next();
    auto t0 = std::chrono::steady_clock::now();
    int outBlock = 0;
    if (!attempt(layout, outBlock)) continue;
    if (timing && t.choice < 0) {
      t.record(layout, elapsedMs(t0));
      if (t.choice >= 0) dropLosers();
    }
    return outBlock;
  }
}

DirectConv directGeom(const Geom &g) {
  return {g.n, g.c, g.h, g.w, g.oc, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.oh, g.ow};
}

struct Mds {
  memory::desc x, w, b, y;        // user layouts (x and y: plain NCHW or channel-blocked, see actMd)
  memory::desc xc, wc, bc, yc;    // layouts requested from oneDNN
};

/** x's and y's user layouts are given as channel blocks: 0 plain NCHW, 8 nChw8c, 16 nChw16c. */
Mds mds(const Geom &g, int layout, int xBlock = 0, int yBlock = 0) {
  Mds m;
  m.x = actMd({g.n, g.c, g.h, g.w}, xBlock);
  m.w = memory::desc({g.oc, g.c, g.kh, g.kw}, dt::f32, tag::oihw);
  m.b = memory::desc({g.oc}, dt::f32, tag::x);
  m.y = actMd({g.n, g.oc, g.oh, g.ow}, yBlock);
  bool any = layout == kBlocked || layout == kWinograd;
  m.xc = any ? anyMd({g.n, g.c, g.h, g.w}) : actMd({g.n, g.c, g.h, g.w}, 0);
  m.wc = any ? anyMd({g.oc, g.c, g.kh, g.kw}) : m.w;
  m.bc = m.b;
  m.yc = any ? anyMd({g.n, g.oc, g.oh, g.ow}) : actMd({g.n, g.oc, g.oh, g.ow}, 0);
  return m;
}

/**
 * The user memory for an activation the primitive produces in `got`: that very layout when the
 * caller accepts blocked outputs and it is one of ours (the plan records which), else plain NCHW
 * with a reorder out.
 */
memory outActivation(Plan &p, int slot, const memory::desc &got, bool allowBlocked) {
  const int block = allowBlocked ? blockOf(got) : 0;
  p.outBlock = block;
  return p.out(slot, block ? got : actMd(got.dims(), 0), got);
}

algorithm convAlg(int layout) {
  return layout == kWinograd ? algorithm::convolution_winograd : algorithm::convolution_direct;
}

/** Shapes offered to oneDNN's Winograd convolution (F(4x4, 3x3): 3x3 kernels, stride 1). */
bool winogradShape(const Geom &g) { return g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1 && g.c >= 16 && g.oc >= 16; }

convolution_forward::primitive_desc fwdPd(const Geom &g, const Mds &m, bool bias, int act, int layout) {
  memory::dims strides{g.sh, g.sw}, pl{g.ph, g.pw}, pr{g.prh, g.prw};
  const algorithm alg = convAlg(layout);
  auto d = bias ? convolution_forward::desc(prop_kind::forward_training, alg, m.xc, m.wc, m.bc, m.yc, strides, pl, pr)
                : convolution_forward::desc(prop_kind::forward_training, alg, m.xc, m.wc, m.yc, strides, pl, pr);
  primitive_attr attr = baseAttr();
  if (act != 0) {
    post_ops po;
    algorithm a = act == 1 ? algorithm::eltwise_relu : act == 2 ? algorithm::eltwise_logistic : algorithm::eltwise_tanh;
    po.append_eltwise(1.f, a, 0.f, 0.f);
    attr.set_post_ops(po);
  }
  return convolution_forward::primitive_desc(d, attr, engine());
}

// conv2dForward(x, w, bias|null, y, n,c,h,w,oc,kh,kw,sh,sw,ph,pw,oh,ow, act, xBlock, allowBlockedOut)
// -> the channel block y was written in (0: plain NCHW).
Napi::Value ConvForward(const Napi::CallbackInfo &info) {
  Geom g = geomArg(info, 4);
  int act = static_cast<int>(i64(info, 17));
  const int xBlock = blockArg(info, 18);
  const bool allowOut = info.Length() > 19 && flag(info, 19);
  float *x = f32(info, 0, g.n * g.c * g.h * g.w, "x");
  float *w = f32(info, 1, g.oc * g.c * g.kh * g.kw, "w");
  float *b = f32OrNull(info, 2, g.oc, "bias");
  float *y = f32(info, 3, g.n * g.oc * g.oh * g.ow, "y");
  Key k(1);
  addGeom(k, g) << act << (b != nullptr) << xBlock << allowOut;
  void *ptrs[] = {x, w, b, y};
  const DirectConv dg = directGeom(g);
  std::function<void()> direct;
  if (directConvEligible(dg) && xBlock == 0) direct = [&] {
    directConvForward(dg, x, w, b, y, act);
  };
  const int outBlock = runTuned(k, ptrs, [&](Plan &p, int layout) {
    Mds m = mds(g, layout, xBlock);
    auto pd = fwdPd(g, m, b != nullptr, act, layout);
    std::unordered_map<int, memory> args;
    args[DNNL_ARG_SRC] = p.in(0, m.x, pd.src_desc());
    args[DNNL_ARG_WEIGHTS] = p.in(1, m.w, pd.weights_desc());
    if (b) args[DNNL_ARG_BIAS] = p.in(2, m.b, pd.bias_desc());
    args[DNNL_ARG_DST] = outActivation(p, 3, pd.dst_desc(), allowOut);
    p.add(convolution_forward(pd), std::move(args), pd);
  }, direct, winogradShape(g));
  return Napi::Number::New(info.Env(), outBlock);
}

// conv2dBackwardData(dy, w, dx, geom..., dyBlock, allowBlockedOut) -> the channel block dx was written in.
Napi::Value ConvBackwardData(const Napi::CallbackInfo &info) {
  Geom g = geomArg(info, 3);
  const int dyBlock = blockArg(info, 16);
  const bool allowOut = info.Length() > 17 && flag(info, 17);
  float *dy = f32(info, 0, g.n * g.oc * g.oh * g.ow, "dy");
  float *w = f32(info, 1, g.oc * g.c * g.kh * g.kw, "w");
  float *dx = f32(info, 2, g.n * g.c * g.h * g.w, "dx");
  Key k(2);
  addGeom(k, g) << dyBlock << allowOut;
  void *ptrs[] = {dy, w, dx};
  const DirectConv dg = directGeom(g);
  std::function<void()> direct;
  // The direct plan reads a blocked dy itself (the layer's forward may have chosen a blocked output).
  if (directConvEligible(dg)) direct = [&] { directConvBackwardData(dg, dy, dyBlock, w, dx); };
  const int outBlock = runTuned(k, ptrs, [&](Plan &p, int layout) {
    Mds m = mds(g, layout, 0, dyBlock);
    auto hint = fwdPd(g, m, false, 0, layout);
    convolution_backward_data::desc d(convAlg(layout), m.xc, m.wc, m.yc, {g.sh, g.sw}, {g.ph, g.pw},
                                      {g.prh, g.prw});
    convolution_backward_data::primitive_desc pd(d, baseAttr(), engine(), hint);
    std::unordered_map<int, memory> args;
    args[DNNL_ARG_DIFF_DST] = p.in(0, m.y, pd.diff_dst_desc());
    args[DNNL_ARG_WEIGHTS] = p.in(1, m.w, pd.weights_desc());
    args[DNNL_ARG_DIFF_SRC] = outActivation(p, 2, pd.diff_src_desc(), allowOut);
    p.add(convolution_backward_data(pd), std::move(args), pd);
  }, direct, winogradShape(g));
  return Napi::Number::New(info.Env(), outBlock);
}

// conv2dBackwardWeight(x, dy, dw, db|null, geom...)
// (x's and dy's channel blocks follow the geometry: ..., xBlock, dyBlock)
Napi::Value ConvBackwardWeight(const Napi::CallbackInfo &info) {
  Geom g = geomArg(info, 4);
  const int xBlock = blockArg(info, 17), dyBlock = blockArg(info, 18);
  float *x = f32(info, 0, g.n * g.c * g.h * g.w, "x");
  float *dy = f32(info, 1, g.n * g.oc * g.oh * g.ow, "dy");
  float *dw = f32(info, 2, g.oc * g.c * g.kh * g.kw, "dw");
  float *db = f32OrNull(info, 3, g.oc, "db");
  Key k(3);
  addGeom(k, g) << (db != nullptr) << xBlock << dyBlock;
  void *ptrs[] = {x, dy, dw, db};
  const DirectConv dg = directGeom(g);
  std::function<void()> direct;
  if (directConvEligible(dg) && (xBlock == 0 || directWeightTakesBlockedX(dg)))
    direct = [&] { directConvBackwardWeight(dg, x, xBlock, dy, dyBlock, dw, db); };
  runTuned(k, ptrs, [&](Plan &p, int layout) {
    Mds m = mds(g, layout, xBlock, dyBlock);
    auto hint = fwdPd(g, m, db != nullptr, 0, layout);
    memory::dims strides{g.sh, g.sw}, pl{g.ph, g.pw}, pr{g.prh, g.prw};
    auto d = db ? convolution_backward_weights::desc(convAlg(layout), m.xc, m.wc, m.bc, m.yc, strides, pl, pr)
                : convolution_backward_weights::desc(convAlg(layout), m.xc, m.wc, m.yc, strides, pl, pr);
    convolution_backward_weights::primitive_desc pd(d, baseAttr(), engine(), hint);
    std::unordered_map<int, memory> args;
    args[DNNL_ARG_SRC] = p.in(0, m.x, pd.src_desc());
    args[DNNL_ARG_DIFF_DST] = p.in(1, m.y, pd.diff_dst_desc());
    args[DNNL_ARG_DIFF_WEIGHTS] = p.out(2, m.w, pd.diff_weights_desc());
    if (db) args[DNNL_ARG_DIFF_BIAS] = p.out(3, m.b, pd.diff_bias_desc());
    p.add(convolution_backward_weights(pd), std::move(args), pd);
  }, direct, winogradShape(g));
  return info.Env().Undefined();
}

/**
 * Whether the convolution keyed k (conv2dForward's or conv2dBackwardWeight's key) runs on the
 * direct plan: forced so, or decided so by its tuner. The fused Conv2d + activation + AvgPool2d
 * entries below run only then, so they never change which plan computes a shape; until the
 * shape is decided the caller runs the separate kernels, which tune it.
 */
bool decidedDirect(const Key &k) {
  const int f = forcedLayout();
  if (f >= 0) return f == kDirect;
  const auto &t = tuners();
  const auto it = t.find(k.s);
  return it != t.end() && it->second.choice == kDirect;
}

/**
 * Whether the fused Conv2d + activation + 2x2 average pool pass runs for this shape now: pass 1
 * the forward (conv2dForward's key for a plain x, with allowBlockedOut as it is called with), pass
 * 3 the weight gradient (conv2dBackwardWeight's key for a plain x and dy).
 */
bool fusedAvgPoolReady(int pass, const Geom &g, int act, bool withBias, bool allowOut) {
  if (!directAvgPoolFusable(directGeom(g), act)) return false;
  Key k(pass);
  if (pass == 1) addGeom(k, g) << act << withBias << 0 << allowOut;
  else addGeom(k, g) << withBias << 0 << 0;
  return decidedDirect(k);
}

// conv2dAvgPoolReady(pass, geom..., act, withBias, allowBlockedOut): fusedAvgPoolReady, so that the
// caller allocates outputs only for a pass that will run.
Napi::Value ConvAvgPoolReady(const Napi::CallbackInfo &info) {
  const int pass = static_cast<int>(i64(info, 0));
  if (pass != 1 && pass != 3) throw Napi::RangeError::New(info.Env(), "torchlet cpu: conv2dAvgPoolReady takes pass 1 or 3");
  const Geom g = geomArg(info, 1);
  return Napi::Boolean::New(info.Env(), fusedAvgPoolReady(pass, g, static_cast<int>(i64(info, 14)), flag(info, 15), flag(info, 16)));
}

// conv2dForwardAvgPool(x, w, b|null, y, pooled, geom..., act, allowBlockedOut) -> whether it ran.
// conv2dForward (x plain) and the 2x2 stride-2 average pool of its output, image by image, where the
// shape's forward is decided on the direct plan (allowBlockedOut as conv2dForward is called with:
// it is part of that decision's key); otherwise nothing is written.
Napi::Value ConvForwardAvgPool(const Napi::CallbackInfo &info) {
  Geom g = geomArg(info, 5);
  const int act = static_cast<int>(i64(info, 18));
  float *x = f32(info, 0, g.n * g.c * g.h * g.w, "x");
  float *w = f32(info, 1, g.oc * g.c * g.kh * g.kw, "w");
  float *b = f32OrNull(info, 2, g.oc, "bias");
  float *y = f32(info, 3, g.n * g.oc * g.oh * g.ow, "y");
  float *pooled = f32(info, 4, g.n * g.oc * (g.oh / 2) * (g.ow / 2), "pooled");
  if (!fusedAvgPoolReady(1, g, act, b != nullptr, flag(info, 19))) return Napi::Boolean::New(info.Env(), false);
  directConvForwardAvgPool(directGeom(g), x, w, b, y, act, pooled);
  return Napi::Boolean::New(info.Env(), true);
}

// conv2dBackwardWeightAvgPool(x, y, dPooled, dw, db|null, geom..., act) -> whether it ran.
// The weight gradient of conv2dForwardAvgPool's pooled output from its gradient (x, y plain), where
// the shape's weight gradient (x and dy plain) is decided on the direct plan; otherwise nothing is written.
Napi::Value ConvBackwardWeightAvgPool(const Napi::CallbackInfo &info) {
  Geom g = geomArg(info, 5);
  const int act = static_cast<int>(i64(info, 18));
  const float *x = f32(info, 0, g.n * g.c * g.h * g.w, "x");
  const float *y = f32(info, 1, g.n * g.oc * g.oh * g.ow, "y");
  const float *dPooled = f32(info, 2, g.n * g.oc * (g.oh / 2) * (g.ow / 2), "dPooled");
  float *dw = f32(info, 3, g.oc * g.c * g.kh * g.kw, "dw");
  float *db = f32OrNull(info, 4, g.oc, "db");
  if (!fusedAvgPoolReady(3, g, act, db != nullptr, false)) return Napi::Boolean::New(info.Env(), false);
  directConvBackwardWeightAvgPool(directGeom(g), x, y, dPooled, act, dw, db);
  return Napi::Boolean::New(info.Env(), true);
}

// setConvLayout(mode): 'auto' | 'plain' | 'blocked' | 'direct' | 'winograd' (benchmarks and tests); returns the previous mode.
Napi::Value SetConvLayout(const Napi::CallbackInfo &info) {
  const int f = forcedLayout();
  std::string prev = f < 0 ? "auto" : kLayoutNames[f];
  std::string v = info[0].As<Napi::String>().Utf8Value();
  int mode = -2;
  if (v == "auto") mode = -1;
  for (int i = 0; i < kLayouts; i++)
    if (v == kLayoutNames[i]) mode = i;
  if (mode == -2) {
    throw Napi::RangeError::New(info.Env(), "torchlet cpu: layout must be 'auto', 'plain', 'blocked', 'direct' or 'winograd'");
  }
  forcedLayoutRef() = mode;
  return Napi::String::New(info.Env(), prev);
}

// convTuning() -> [{ op, layout: chosen plan or null, blockedMs, directMs, winogradMs, calls }] for every tuned shape.
Napi::Value ConvTuning(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
  auto ms = [&](double v) { return v > 0 && v < 1e300 ? Napi::Number::New(env, v) : env.Null(); };
  for (auto &kv : tuners()) {
    const Tuner &t = kv.second;
    Napi::Object o = Napi::Object::New(env);
    o.Set("op", static_cast<double>(*reinterpret_cast<const int64_t *>(kv.first.data())));
    o.Set("layout", t.choice < 0 ? env.Null() : Napi::String::New(env, kLayoutNames[t.choice]));
    o.Set("blockedMs", ms(t.best[kBlocked]));
    o.Set("directMs", ms(t.best[kDirect]));
    o.Set("winogradMs", ms(t.best[kWinograd]));
    int calls = 0;
    for (int c : t.calls) calls += c;
    o.Set("calls", calls);
    out.Set(i++, o);
  }
  return out;
}

std::string toHex(const std::string &s) {
  static const char *d = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() * 2);
  for (unsigned char c : s) {
    out.push_back(d[c >> 4]);
    out.push_back(d[c & 15]);
  }
  return out;
}

bool fromHex(const std::string &h, std::string &out) {
  if (h.size() % 2) return false;
  out.clear();
  for (size_t i = 0; i < h.size(); i += 2) {
    auto v = [](char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1; };
    const int a = v(h[i]), b = v(h[i + 1]);
    if (a < 0 || b < 0) return false;
    out.push_back(static_cast<char>(a * 16 + b));
  }
  return true;
}

// convChoices() -> { [hex shape key]: plan name } for every shape whose plan is decided.
Napi::Value ConvChoices(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  for (auto &kv : tuners())
    if (kv.second.choice >= 0) out.Set(toHex(kv.first), kLayoutNames[kv.second.choice]);
  return out;
}

// setConvChoices({ [hex shape key]: plan name }): decisions saved by an earlier process; returns how many were taken.
Napi::Value SetConvChoices(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "torchlet cpu: setConvChoices expects an object");
  Napi::Object in = info[0].As<Napi::Object>();
  Napi::Array keys = in.GetPropertyNames();
  uint32_t taken = 0;
  for (uint32_t i = 0; i < keys.Length(); i++) {
    const std::string hex = keys.Get(i).As<Napi::String>().Utf8Value();
    const Napi::Value v = in.Get(hex);
    if (!v.IsString()) continue;
    const std::string name = v.As<Napi::String>().Utf8Value();
    int layout = -1;
    for (int l = 0; l < kLayouts; l++)
      if (name == kLayoutNames[l]) layout = l;
    std::string key;
    if (layout < 0 || !fromHex(hex, key)) continue;
    tuners()[key].choice = layout;
    taken++;
  }
  return Napi::Number::New(env, taken);
}

// setConvLanes('auto' | 'off' | 'on') -> the previous mode: whether the direct plan's stride-1 passes
// run with images in vector lanes (conv_lanes.cc) where lanesConvChosen says (the default), never,
// or for every eligible shape.
Napi::Value SetConvLanes(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  static const char *names[] = {"auto", "off", "on"};
  const std::string mode = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  int code = -2;
  if (mode == "auto") code = -1;
  if (mode == "off") code = 0;
  if (mode == "on") code = 1;
  if (code == -2) throw Napi::TypeError::New(env, "setConvLanes: expected 'auto', 'off' or 'on'");
  return Napi::String::New(env, names[setLanesMode(code) + 1]);
}

// laneBufferBytes() -> bytes the lanes kernels keep per thread; releaseLaneBuffers() frees them.
Napi::Value LaneBufferBytes(const Napi::CallbackInfo &info) {
  return Napi::Number::New(info.Env(), static_cast<double>(laneBufferBytes()));
}
Napi::Value ReleaseLaneBuffers(const Napi::CallbackInfo &info) {
  releaseLaneBuffers();
  return info.Env().Undefined();
}

}  // namespace

void initConv(Napi::Env env, Napi::Object exports) {
  exports.Set("setConvLanes", Napi::Function::New(env, SetConvLanes, "setConvLanes"));
  exports.Set("convChoices", Napi::Function::New(env, ConvChoices, "convChoices"));
  exports.Set("setConvChoices", Napi::Function::New(env, SetConvChoices, "setConvChoices"));
  exports.Set("setConvLayout", Napi::Function::New(env, SetConvLayout, "setConvLayout"));
  exports.Set("laneBufferBytes", Napi::Function::New(env, LaneBufferBytes, "laneBufferBytes"));
  exports.Set("releaseLaneBuffers", Napi::Function::New(env, ReleaseLaneBuffers, "releaseLaneBuffers"));
  exports.Set("convTuning", Napi::Function::New(env, ConvTuning, "convTuning"));
  exports.Set("conv2dForward", Napi::Function::New(env, ConvForward, "conv2dForward"));
  exports.Set("conv2dBackwardData", Napi::Function::New(env, ConvBackwardData, "conv2dBackwardData"));
  exports.Set("conv2dBackwardWeight", Napi::Function::New(env, ConvBackwardWeight, "conv2dBackwardWeight"));
  exports.Set("conv2dAvgPoolReady", Napi::Function::New(env, ConvAvgPoolReady, "conv2dAvgPoolReady"));
  exports.Set("conv2dForwardAvgPool", Napi::Function::New(env, ConvForwardAvgPool, "conv2dForwardAvgPool"));
  exports.Set("conv2dBackwardWeightAvgPool", Napi::Function::New(env, ConvBackwardWeightAvgPool, "conv2dBackwardWeightAvgPool"));
}

}  // namespace tl
