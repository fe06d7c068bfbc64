// Elementwise ops (oneDNN eltwise / binary, plus direct loops where oneDNN is slow or treats NaN
// differently), sum reduction, and optimiser steps.
#include <cmath>

#include "common.h"

namespace tl {
namespace {

using namespace dnnl;

// Codes shared with src/backend/cpu/index.ts.
algorithm eltwiseAlg(int64_t code) {
  switch (code) {
    case 0: return algorithm::eltwise_relu;
    case 1: return algorithm::eltwise_logistic;
    case 2: return algorithm::eltwise_tanh;
    case 3: return algorithm::eltwise_exp;
    case 4: return algorithm::eltwise_log;
    case 5: return algorithm::eltwise_sqrt;
    case 6: return algorithm::eltwise_abs;
    case 7: return algorithm::eltwise_linear;  // alpha * x + beta
    case 8: return algorithm::eltwise_square;
    case 10: return algorithm::eltwise_pow;  // alpha * x ^ beta
    default: throw std::runtime_error("torchlet cpu: unknown eltwise op");
  }
}

// Backward algorithms, all from the forward output y (relu: dy where y > 0, which is x > 0).
algorithm eltwiseBwdAlg(int64_t code) {
  switch (code) {
    case 0: return algorithm::eltwise_relu_use_dst_for_bwd;
    case 1: return algorithm::eltwise_logistic_use_dst_for_bwd;
    case 2: return algorithm::eltwise_tanh_use_dst_for_bwd;
    default: throw std::runtime_error("torchlet cpu: unknown activation");
  }
}

algorithm binaryAlg(int64_t code) {
  switch (code) {
    case 0: return algorithm::binary_add;
    case 1: return algorithm::binary_sub;
    case 2: return algorithm::binary_mul;
    case 3: return algorithm::binary_div;
    case 4: return algorithm::binary_max;
    case 5: return algorithm::binary_min;
    case 6: return algorithm::binary_eq;
    case 7: return algorithm::binary_ne;
    case 8: return algorithm::binary_lt;
    case 9: return algorithm::binary_le;
    case 10: return algorithm::binary_gt;
    case 11: return algorithm::binary_ge;
    default: throw std::runtime_error("torchlet cpu: unknown binary op");
  }
}

size_t elems(const Napi::CallbackInfo &info, size_t i) {
  Napi::Value v = info[i];
  if (!v.IsTypedArray()) throw Napi::TypeError::New(info.Env(), "torchlet cpu: expected a Float32Array");
  return v.As<Napi::TypedArray>().ElementLength();
}

// eltwiseForward(x, y, code, alpha, beta)
Napi::Value EltwiseForward(const Napi::CallbackInfo &info) {
  size_t n = elems(info, 0);
  float *x = f32(info, 0, n, "x");
  float *y = f32(info, 1, n, "y");
  int64_t code = i64(info, 2);
  float alpha = static_cast<float>(num(info, 3));
  float beta = static_cast<float>(num(info, 4));
  if (n == 0) return info.Env().Undefined();
  Key k(40);
  k << code << static_cast<int64_t>(n);
  k.addf(alpha).addf(beta);
  Plan &p = cachedSized(k, n, [&](Plan &p) {
    memory::desc md({static_cast<int64_t>(n)}, dt::f32, tag::a);
    eltwise_forward::desc d(prop_kind::forward_inference, eltwiseAlg(code), md, alpha, beta);
    eltwise_forward::primitive_desc pd(d, baseAttr(), engine());
    p.add(eltwise_forward(pd), {{DNNL_ARG_SRC, p.user(0, md)}, {DNNL_ARG_DST, p.user(1, md)}}, pd);
  });
  void *ptrs[] = {x, y};
  p.run(ptrs);
  if (code == 3) {
    // oneDNN's exp maps NaN to +inf; keep NaN (as Math.exp and torch.exp do).
    const int64_t len = static_cast<int64_t>(n);
#pragma omp simd
    for (int64_t i = 0; i < len; i++) y[i] = x[i] != x[i] ? x[i] : y[i];
  }
  return info.Env().Undefined();
}

// clamp(x, y, min, max): y = x < min ? min : x > max ? max : x (NaN stays NaN, unlike oneDNN's clip).
Napi::Value Clamp(const Napi::CallbackInfo &info) {
  size_t n = elems(info, 0);
  const float *x = f32(info, 0, n, "x");
  float *y = f32(info, 1, n, "y");
  const float lo = static_cast<float>(num(info, 2)), hi = static_cast<float>(num(info, 3));
  const int64_t len = static_cast<int64_t>(n);
#pragma omp parallel for simd if (len > (1 << 18))
  for (int64_t i = 0; i < len; i++) {
    const float v = x[i];
    y[i] = v < lo ? lo : v > hi ? hi : v;
  }
  return info.Env().Undefined();
}

// eltwiseBackward(y, dy, dx, code): y is the activation's output.
Napi::Value EltwiseBackward(const Napi::CallbackInfo &info) {
  size_t n = elems(info, 0);
  float *data = f32(info, 0, n, "data");
  float *dy = f32(info, 1, n, "dy");
  float *dx = f32(info, 2, n, "dx");
  int64_t code = i64(info, 3);
  if (n == 0) return info.Env().Undefined();
  if (code == 0) {
    // relu: dy where y > 0, else exactly 0 (oneDNN computes 0·dy, which is NaN for dy = ±inf/NaN).
    const int64_t len = static_cast<int64_t>(n);
#pragma omp parallel for simd if (len > (1 << 18))
    for (int64_t i = 0; i < len; i++) {
      const float g = dy[i];  // loaded unconditionally so the select vectorises instead of branching
      dx[i] = data[i] > 0.f ? g : 0.f;
    }
    return info.Env().Undefined();
  }
  Key k(41);
  k << code << static_cast<int64_t>(n);
  Plan &p = cachedSized(k, n, [&](Plan &p) {
    memory::desc md({static_cast<int64_t>(n)}, dt::f32, tag::a);
    algorithm a = eltwiseBwdAlg(code);
    eltwise_forward::desc fd(prop_kind::forward_training, a, md, 0.f, 0.f);
    eltwise_forward::primitive_desc hint(fd, baseAttr(), engine());
    eltwise_backward::desc d(a, md, md, 0.f, 0.f);
    eltwise_backward::primitive_desc pd(d, baseAttr(), engine(), hint);
    p.add(eltwise_backward(pd),
          {{DNNL_ARG_DST, p.user(0, md)}, {DNNL_ARG_DIFF_DST, p.user(1, md)}, {DNNL_ARG_DIFF_SRC, p.user(2, md)}}, pd);
  });
  void *ptrs[] = {data, dy, dx};
  p.run(ptrs);
  return info.Env().Undefined();
}

int64_t product(const std::vector<int64_t> &d) {
  int64_t s = 1;
  for (int64_t v : d) s *= v;
  return s;
}

// binaryForward(a, aDims, b, bDims, out, code): a has the output's shape; b broadcasts (dims 1).
// Only for add/sub/mul/div: oneDNN's max/min and comparisons differ from IEEE/torch on NaN.
Napi::Value BinaryForward(const Napi::CallbackInfo &info) {
  std::vector<int64_t> ad = dimsArg(info, 1), bd = dimsArg(info, 3);
  int64_t code = i64(info, 5);
  if (ad.size() != bd.size() || ad.empty() || ad.size() > DNNL_MAX_NDIMS) {
    throw Napi::RangeError::New(info.Env(), "torchlet cpu: binary ranks must match (1..12)");
  }
  for (size_t i = 0; i < ad.size(); i++) {
    if (bd[i] != ad[i] && bd[i] != 1) throw Napi::RangeError::New(info.Env(), "torchlet cpu: b does not broadcast to a");
  }
  int64_t n = product(ad);
  float *a = f32(info, 0, n, "a");
  float *b = f32(info, 2, product(bd), "b");
  float *out = f32(info, 4, n, "out");
  if (n == 0) return info.Env().Undefined();
  Key k(42);
  k << code << static_cast<int64_t>(ad.size());
  for (auto v : ad) k << v;
  for (auto v : bd) k << v;
  Plan &p = cachedSized(k, n, [&](Plan &p) {
    memory::desc amd = plainMd(ad), bmd = plainMd(bd);
    binary::desc d(binaryAlg(code), amd, bmd, amd);
    binary::primitive_desc pd(d, baseAttr(), engine());
    p.add(binary(pd), {{DNNL_ARG_SRC_0, p.user(0, amd)}, {DNNL_ARG_SRC_1, p.user(1, bmd)}, {DNNL_ARG_DST, p.user(2, amd)}},
          pd);
  });
  void *ptrs[] = {a, b, out};
  p.run(ptrs);
  return info.Env().Undefined();
}

template <class F>
void broadcastLoop(const float *a, const std::vector<int64_t> &as, const float *b, const std::vector<int64_t> &bs,
                   float *out, const std::vector<int64_t> &os, F f) {
  size_t rank = os.size();
  std::vector<int64_t> sa(rank), sb(rank);
  int64_t ta = 1, tb = 1;
  for (size_t i = rank; i-- > 0;) {
    sa[i] = as[i] == 1 ? 0 : ta;
    sb[i] = bs[i] == 1 ? 0 : tb;
    ta *= as[i];
    tb *= bs[i];
  }
  int64_t size = product(os);
  int64_t inner = os[rank - 1], ia = sa[rank - 1], ib = sb[rank - 1];
  std::vector<int64_t> idx(rank, 0);
  int64_t ao = 0, bo = 0;
  for (int64_t o = 0; o < size; o += inner) {
    if (ia == 1 && ib == 1) {
      for (int64_t j = 0; j < inner; j++) out[o + j] = f(a[ao + j], b[bo + j]);
    } else if (ia == 1 && ib == 0) {
      const float bv = b[bo];
      for (int64_t j = 0; j < inner; j++) out[o + j] = f(a[ao + j], bv);
    } else if (ia == 0 && ib == 1) {
      const float av = a[ao];
      for (int64_t j = 0; j < inner; j++) out[o + j] = f(av, b[bo + j]);
    } else {
      for (int64_t j = 0; j < inner; j++) out[o + j] = f(a[ao + j * ia], b[bo + j * ib]);
    }
    for (size_t d = rank - 1; d-- > 0;) {
      idx[d]++;
      ao += sa[d];
      bo += sb[d];
      if (idx[d] < os[d]) break;
      ao -= sa[d] * os[d];
      bo -= sb[d] * os[d];
      idx[d] = 0;
    }
  }
}

// binaryLoop(a, aDims, b, bDims, out, outDims, code): general broadcasting (both sides), every op incl. pow
// (code 12), with the reference's NaN rules (maximum/minimum propagate NaN; comparisons with NaN are false).
Napi::Value BinaryLoop(const Napi::CallbackInfo &info) {
  std::vector<int64_t> ad = dimsArg(info, 1), bd = dimsArg(info, 3), od = dimsArg(info, 5);
  int64_t code = i64(info, 6);
  if (ad.size() != od.size() || bd.size() != od.size() || od.empty()) {
    throw Napi::RangeError::New(info.Env(), "torchlet cpu: binary ranks must match");
  }
  for (size_t i = 0; i < od.size(); i++) {
    if ((ad[i] != od[i] && ad[i] != 1) || (bd[i] != od[i] && bd[i] != 1)) {
      throw Napi::RangeError::New(info.Env(), "torchlet cpu: shapes do not broadcast");
    }
  }
  float *a = f32(info, 0, product(ad), "a");
  float *b = f32(info, 2, product(bd), "b");
  float *out = f32(info, 4, product(od), "out");
  if (product(od) == 0) return info.Env().Undefined();
  switch (code) {
    case 0: broadcastLoop(a, ad, b, bd, out, od, [](float x, float y) { return x + y; }); break;
    case 1: broadcastLoop(a, ad, b, bd, out, od, [](float x, float y) { return x - y; }); break;
    case 2: broadcastLoop(a, ad, b, bd, out, od, [](float x, float y) { return x * y; }); break;
    case 3: broadcastLoop(a, ad, b, bd, out, od, [](float x, float y) { return x / y; }); break;
    case 4: broadcastLoop(a, ad, b, bd, out, od, [](float x, float y) { return (x >= y || std::isnan(x)) ? x : y; }); break;
    case 5: broadcastLoop(a, ad, b, bd, out, od, [](float x, float y) { return (x <= y || std::isnan(x)) ? x : y; }); break;
    case 6: broadcastLoop(a, ad, b, bd, out, od, [](float x, float y) { return x == y ? 1.f : 0.f; }); break;
    case 7: broadcastLoop(a, ad, b, bd, out, od, [](float x, float y) { return x != y ? 1.f : 0.f; }); break;
    case 8: broadcastLoop(a, ad, b, bd, out, od, [](float x, float y) { return x < y ? 1.f : 0.f; }); break;
    case 9: broadcastLoop(a, ad, b, bd, out, od, [](float x, float y) { return x <= y ? 1.f : 0.f; }); break;
    case 10: broadcastLoop(a, ad, b, bd, out, od, [](float x, float y) { return x > y ? 1.f : 0.f; }); break;
    case 11: broadcastLoop(a, ad, b, bd, out, od, [](float x, float y) { return x >= y ? 1.f : 0.f; }); break;
    case 12:
      broadcastLoop(a, ad, b, bd, out, od,
                    [](float x, float y) { return static_cast<float>(std::pow(static_cast<double>(x), static_cast<double>(y))); });
      break;
    default: throw Napi::RangeError::New(info.Env(), "torchlet cpu: unknown binary op");
  }
  return info.Env().Undefined();
}

// reduceSum(x, dims, out, outDims): sum over the axes where outDims is 1 (dims already merged into
// alternating kept / reduced runs by the caller). oneDNN 2.6's reduction only has a fast kernel for
// trailing axes (its generic one was 10x slower than plain JS here), so this is a direct loop that
// accumulates in double, like the reference.
Napi::Value ReduceSum(const Napi::CallbackInfo &info) {
  std::vector<int64_t> xd = dimsArg(info, 1), od = dimsArg(info, 3);
  if (xd.size() != od.size() || xd.empty()) throw Napi::RangeError::New(info.Env(), "torchlet cpu: reduce ranks must match");
  for (size_t i = 0; i < xd.size(); i++) {
    if (od[i] != xd[i] && od[i] != 1) throw Napi::RangeError::New(info.Env(), "torchlet cpu: bad reduce output shape");
  }
  const float *x = f32(info, 0, product(xd), "x");
  float *out = f32(info, 2, product(od), "out");
  const size_t rank = xd.size();
  std::vector<int64_t> ostride(rank);
  int64_t s = 1;
  for (size_t i = rank; i-- > 0;) {
    ostride[i] = od[i] == 1 ? 0 : s;
    s *= od[i];
  }
  std::vector<double> acc(product(od), 0.0);
  const int64_t total = product(xd), inner = xd[rank - 1];
  const bool innerReduced = ostride[rank - 1] == 0;
  std::vector<int64_t> idx(rank, 0);
  int64_t o = 0;
  for (int64_t base = 0; base < total; base += inner) {
    const float *row = x + base;
    if (innerReduced) {
      double sum = 0.0;
#pragma omp simd reduction(+ : sum)
      for (int64_t j = 0; j < inner; j++) sum += row[j];
      acc[o] += sum;
    } else {
      double *dst = acc.data() + o;
#pragma omp simd
      for (int64_t j = 0; j < inner; j++) dst[j] += row[j];
    }
    for (size_t d = rank - 1; d-- > 0;) {
      idx[d]++;
      o += ostride[d];
      if (idx[d] < xd[d]) break;
      o -= ostride[d] * xd[d];
      idx[d] = 0;
    }
  }
  for (size_t i = 0; i < acc.size(); i++) out[i] = static_cast<float>(acc[i]);
  return info.Env().Undefined();
}

// sgdStep(param, grad, momentumBuf|null, lr, momentum, dampening, weightDecay, nesterov, maximize)
// Same formula as torch.optim.SGD (and the reference kernel), in place.
Napi::Value SgdStep(const Napi::CallbackInfo &info) {
  size_t n = elems(info, 0);
  float *param = f32(info, 0, n, "param");
  const float *grad = f32(info, 1, n, "grad");
  float *buf = f32OrNull(info, 2, n, "momentumBuf");
  const float lr = static_cast<float>(num(info, 3));
  const float mom = static_cast<float>(num(info, 4));
  const float damp = static_cast<float>(num(info, 5));
  const float wd = static_cast<float>(num(info, 6));
  const bool nesterov = flag(info, 7);
  const float sign = flag(info, 8) ? -1.f : 1.f;
  const int64_t len = static_cast<int64_t>(n);
  if (buf && mom != 0.f) {
    const float keep = 1.f - damp;
    if (nesterov) {
#pragma omp parallel for simd if (len > (1 << 16))
      for (int64_t i = 0; i < len; i++) {
        float g = sign * grad[i] + wd * param[i];
        float m = mom * buf[i] + keep * g;
        buf[i] = m;
        param[i] -= lr * (g + mom * m);
      }
    } else {
#pragma omp parallel for simd if (len > (1 << 16))
      for (int64_t i = 0; i < len; i++) {
        float g = sign * grad[i] + wd * param[i];
        float m = mom * buf[i] + keep * g;
        buf[i] = m;
        param[i] -= lr * m;
      }
    }
  } else {
#pragma omp parallel for simd if (len > (1 << 16))
    for (int64_t i = 0; i < len; i++) param[i] -= lr * (sign * grad[i] + wd * param[i]);
  }
  return info.Env().Undefined();
}

// adamStep(param, grad, m, v, lr, beta1, beta2, eps, weightDecay, decoupled, step)
Napi::Value AdamStep(const Napi::CallbackInfo &info) {
  size_t n = elems(info, 0);
  float *param = f32(info, 0, n, "param");
  const float *grad = f32(info, 1, n, "grad");
  float *m = f32(info, 2, n, "m");
  float *v = f32(info, 3, n, "v");
  const double lr = num(info, 4), b1 = num(info, 5), b2 = num(info, 6), eps = num(info, 7), wd = num(info, 8);
  const bool decoupled = flag(info, 9);
  const double step = num(info, 10);
  const float stepSize = static_cast<float>(lr / (1 - std::pow(b1, step)));
  const float invBc2Sqrt = static_cast<float>(1 / std::sqrt(1 - std::pow(b2, step)));
  const float fb1 = static_cast<float>(b1), fb2 = static_cast<float>(b2), feps = static_cast<float>(eps);
  const float l2 = decoupled ? 0.f : static_cast<float>(wd);
  const float decay = decoupled ? static_cast<float>(1 - lr * wd) : 1.f;
  const int64_t len = static_cast<int64_t>(n);
#pragma omp parallel for simd if (len > (1 << 16))
  for (int64_t i = 0; i < len; i++) {
    float p = param[i] * decay;
    float g = grad[i] + l2 * p;
    float mi = fb1 * m[i] + (1.f - fb1) * g;
    float vi = fb2 * v[i] + (1.f - fb2) * g * g;
    m[i] = mi;
    v[i] = vi;
    param[i] = p - stepSize * (mi / (std::sqrt(vi) * invBc2Sqrt + feps));
  }
  return info.Env().Undefined();
}

/**
 * dropoutMask(out, p, seed): out[i] = 1/(1-p) where the counter-based draw for (seed, i) is at
 * least p, else 0; the reference's draw (reference/values.ts: two rounds of the lowbias32
 * mixer) in uint32 arithmetic, so every backend keeps the same elements. The draw is
 * (x >> 8) / 2^24 >= p, which for an integer x >> 8 is x >> 8 >= ceil(p * 2^24) (exact in double).
 */
Napi::Value DropoutMask(const Napi::CallbackInfo &info) {
  if (!info[0].IsTypedArray()) throw Napi::TypeError::New(info.Env(), "torchlet cpu: dropoutMask expects a Float32Array");
  const int64_t n = static_cast<int64_t>(info[0].As<Napi::TypedArray>().ElementLength());
  float *out = f32(info, 0, n, "out");
  const double p = num(info, 1);
  const uint32_t seed = static_cast<uint32_t>(i64(info, 2));
  if (!(p >= 0.0 && p < 1.0)) throw Napi::RangeError::New(info.Env(), "torchlet cpu: dropoutMask needs 0 <= p < 1");
  const uint32_t threshold = static_cast<uint32_t>(std::ceil(p * 16777216.0));
  const float keep = static_cast<float>(1.0 / (1.0 - p));
#pragma omp parallel for simd schedule(static) if (n >= kSerialWork)
  for (int64_t i = 0; i < n; i++) {
    uint32_t x = (static_cast<uint32_t>(i) * 0x9e3779b9u) ^ seed;
    for (int round = 0; round < 2; round++) {
      x ^= x >> 16;
      x *= 0x7feb352du;
      x ^= x >> 15;
      x *= 0x846ca68bu;
      x ^= x >> 16;
      x += seed;
    }
    out[i] = (x >> 8) >= threshold ? keep : 0.f;
  }
  return info.Env().Undefined();
}

}  // namespace

void activateInPlace(float *y, int64_t n, int act) {
  using namespace dnnl;
  Key k(43);
  k << n << act;
  Plan &p = cachedSized(k, n, [&](Plan &p) {
    memory::desc md({n}, dt::f32, tag::a);
    algorithm a = act == 1 ? algorithm::eltwise_relu : act == 2 ? algorithm::eltwise_logistic : algorithm::eltwise_tanh;
    eltwise_forward::desc d(prop_kind::forward_inference, a, md, 0.f, 0.f);
    eltwise_forward::primitive_desc pd(d, baseAttr(), engine());
    p.add(eltwise_forward(pd), {{DNNL_ARG_SRC, p.user(0, md)}, {DNNL_ARG_DST, p.user(1, md)}}, pd);
  });
  void *ptrs[] = {y, y};
  p.run(ptrs);
}

void initElementwise(Napi::Env env, Napi::Object exports) {
  exports.Set("eltwiseForward", Napi::Function::New(env, EltwiseForward, "eltwiseForward"));
  exports.Set("dropoutMask", Napi::Function::New(env, DropoutMask, "dropoutMask"));
  exports.Set("eltwiseBackward", Napi::Function::New(env, EltwiseBackward, "eltwiseBackward"));
  exports.Set("clamp", Napi::Function::New(env, Clamp, "clamp"));
  exports.Set("binaryForward", Napi::Function::New(env, BinaryForward, "binaryForward"));
  exports.Set("binaryLoop", Napi::Function::New(env, BinaryLoop, "binaryLoop"));
  exports.Set("reduceSum", Napi::Function::New(env, ReduceSum, "reduceSum"));
  exports.Set("sgdStep", Napi::Function::New(env, SgdStep, "sgdStep"));
  exports.Set("adamStep", Napi::Function::New(env, AdamStep, "adamStep"));
}

}  // namespace tl
