// 2-D max / average pooling on plain NCHW, forward and backward.
//
// oneDNN's pooling on plain NCHW transposes to channels-last internally and
// (measured on AVX-512, 2 threads) runs 3-5x slower than this direct loop,
// which walks each (n, c) plane in parallel. Window rules follow PyTorch and
// the reference kernel: windows clipped to the input, NaN propagates through
// max, the gradient of max goes to the first maximum of its window, and
// count_include_pad divides by the window clipped to the padded input.
// Max backward finds the argmax again from x, so no workspace is kept.
#include <algorithm>
#include <cmath>
#include <limits>

#include "common.h"

namespace tl {
namespace {

struct Geom {
  int64_t kind, n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow;  // kind: 0 max, 1 avg incl. pad, 2 avg excl. pad
};

// kind, n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow starting at argument i.
Geom geomArg(const Napi::CallbackInfo &info, size_t i) {
  Geom g{};
  int64_t *f[] = {&g.kind, &g.n, &g.c, &g.h, &g.w, &g.kh, &g.kw, &g.sh, &g.sw, &g.ph, &g.pw, &g.oh, &g.ow};
  for (size_t j = 0; j < 13; j++) *f[j] = i64(info, i + j);
  bool ok = g.kind >= 0 && g.kind <= 2 && g.n > 0 && g.c > 0 && g.h > 0 && g.w > 0 && g.kh > 0 && g.kw > 0 &&
            g.sh > 0 && g.sw > 0 && g.ph >= 0 && g.pw >= 0 && g.oh > 0 && g.ow > 0;
  if (!ok) throw Napi::RangeError::New(info.Env(), "torchlet cpu: bad pooling geometry");
  return g;
}

/** Clipped window bounds along one axis for every output position, and the (padded or clipped) extent. */
struct Axis {
  std::vector<int64_t> lo, hi;
  std::vector<float> extent;
  Axis(int64_t in, int64_t k, int64_t s, int64_t p, int64_t out, bool includePad) : lo(out), hi(out), extent(out) {
    for (int64_t o = 0; o < out; o++) {
      int64_t a = o * s - p;
      int64_t b = std::min(a + k, in + p);
      int64_t padded = b - a;
      a = std::max<int64_t>(a, 0);
      b = std::min(b, in);
      lo[o] = a;
      hi[o] = std::max(a, b);
      extent[o] = static_cast<float>(includePad ? padded : hi[o] - a);
    }
  }
};

/** Offset (in the plane) of the first maximum of a window, as the reference picks it; -1 if empty. */
inline int64_t argmaxScan(const float *src, int64_t w, int64_t y0, int64_t y1, int64_t x0, int64_t x1) {
  float m = -std::numeric_limits<float>::infinity();
  int64_t at = -1;
  for (int64_t iy = y0; iy < y1; iy++) {
    for (int64_t ix = x0; ix < x1; ix++) {
      const float v = src[iy * w + ix];
      if (v > m || (at < 0 && std::isnan(v))) {
        m = v;
        at = iy * w + ix;
      }
    }
  }
  return at;
}

struct WindowMax {
  float value;  // NaN if the window holds one
  int64_t at;   // in-plane offset the gradient goes to; -1 for an empty window
};

/**
 * Max of a window and where its gradient goes: branch-free first-argmax (selects, not jumps: the
 * max's position is random, so a branch would mispredict about once per window); windows holding
 * NaN take the exact scan, which follows the reference's rule.
 */
inline WindowMax windowArgmax(const float *src, int64_t w, int64_t y0, int64_t y1, int64_t x0, int64_t x1) {
  float m = -std::numeric_limits<float>::infinity();
  int64_t at = -1;
  bool nan = false;
  for (int64_t iy = y0; iy < y1; iy++) {
    const float *row = src + iy * w;
    for (int64_t ix = x0; ix < x1; ix++) {
      const float v = row[ix];
      const bool gt = v > m;
      m = gt ? v : m;
      at = gt ? iy * w + ix : at;
      nan |= v != v;
    }
  }
  if (nan) return {std::numeric_limits<float>::quiet_NaN(), argmaxScan(src, w, y0, y1, x0, x1)};
  return {m, at};
}

// pool2dForward(x, y, kind, n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow)
Napi::Value PoolForward(const Napi::CallbackInfo &info) {
  Geom g = geomArg(info, 2);
  const float *x = f32(info, 0, g.n * g.c * g.h * g.w, "x");
  float *y = f32(info, 1, g.n * g.c * g.oh * g.ow, "y");
  Axis ay(g.h, g.kh, g.sh, g.ph, g.oh, g.kind == 1), ax(g.w, g.kw, g.sw, g.pw, g.ow, g.kind == 1);
  const int64_t planes = g.n * g.c, hw = g.h * g.w, ohw = g.oh * g.ow;
  const bool isMax = g.kind == 0;
  ThreadScope scope(planes * hw < kSerialWork ? 1 : 0);
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < planes; p++) {
    const float *src = x + p * hw;
    float *dst = y + p * ohw;
    for (int64_t oy = 0; oy < g.oh; oy++) {
      const int64_t y0 = ay.lo[oy], y1 = ay.hi[oy];
      for (int64_t ox = 0; ox < g.ow; ox++) {
        const int64_t x0 = ax.lo[ox], x1 = ax.hi[ox];
        if (isMax) {
          // Branch-free (maxss + a NaN flag): a data-dependent branch here mispredicts half the time.
          float m = -std::numeric_limits<float>::infinity();
          bool nan = false;
          for (int64_t iy = y0; iy < y1; iy++) {
            const float *row = src + iy * g.w;
            for (int64_t ix = x0; ix < x1; ix++) {
              const float v = row[ix];
              m = v > m ? v : m;
              nan |= v != v;
            }
          }
          dst[oy * g.ow + ox] = nan ? std::numeric_limits<float>::quiet_NaN() : m;
        } else {
          float s = 0.f;
          for (int64_t iy = y0; iy < y1; iy++) {
            const float *row = src + iy * g.w;
            for (int64_t ix = x0; ix < x1; ix++) s += row[ix];
          }
          dst[oy * g.ow + ox] = s / (ay.extent[oy] * ax.extent[ox]);
        }
      }
    }
  }
  return info.Env().Undefined();
}

// pool2dBackward(x, dy, dx, kind, n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow)
Napi::Value PoolBackward(const Napi::CallbackInfo &info) {
  Geom g = geomArg(info, 3);
  const float *x = f32(info, 0, g.n * g.c * g.h * g.w, "x");
  const float *dy = f32(info, 1, g.n * g.c * g.oh * g.ow, "dy");
  float *dx = f32(info, 2, g.n * g.c * g.h * g.w, "dx");
  Axis ay(g.h, g.kh, g.sh, g.ph, g.oh, g.kind == 1), ax(g.w, g.kw, g.sw, g.pw, g.ow, g.kind == 1);
  const int64_t planes = g.n * g.c, hw = g.h * g.w, ohw = g.oh * g.ow;
  const bool isMax = g.kind == 0;
  ThreadScope scope(planes * hw < kSerialWork ? 1 : 0);
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < planes; p++) {
    const float *src = x + p * hw;
    const float *gy = dy + p * ohw;
    float *gx = dx + p * hw;
    std::fill(gx, gx + hw, 0.f);
    for (int64_t oy = 0; oy < g.oh; oy++) {
      const int64_t y0 = ay.lo[oy], y1 = ay.hi[oy];
      for (int64_t ox = 0; ox < g.ow; ox++) {
        const int64_t x0 = ax.lo[ox], x1 = ax.hi[ox];
        const float d = gy[oy * g.ow + ox];
        if (isMax) {
          const int64_t at = windowArgmax(src, g.w, y0, y1, x0, x1).at;
          if (at >= 0) gx[at] += d;
        } else {
          const float share = d / (ay.extent[oy] * ax.extent[ox]);
          for (int64_t iy = y0; iy < y1; iy++) {
            float *row = gx + iy * g.w;
            for (int64_t ix = x0; ix < x1; ix++) row[ix] += share;
          }
        }
      }
    }
  }
  return info.Env().Undefined();
}

/** Argument i as the Int32Array of max-pool indices, one per output element. */
int32_t *indicesArg(const Napi::CallbackInfo &info, size_t i, int64_t expect) {
  Napi::Value v = info[i];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
      v.As<Napi::Int32Array>().ElementLength() != static_cast<size_t>(expect)) {
    throw Napi::TypeError::New(info.Env(), "torchlet cpu: 'idx' must be an Int32Array with one entry per pooled output (" +
                                               std::to_string(expect) + ")");
  }
  return v.As<Napi::Int32Array>().Data();
}

// maxPool2dForwardIndices(x, y, idx, 0, n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow)
// Max pooling that also records, per output, the in-plane offset of the element the gradient goes to
// (the first maximum; NaN windows use the exact scan, as the backward does). The backward then only
// scatters (maxPool2dBackwardIndices) instead of searching every window again.
Napi::Value MaxPoolForwardIndices(const Napi::CallbackInfo &info) {
  Geom g = geomArg(info, 3);
  if (g.kind != 0) throw Napi::RangeError::New(info.Env(), "torchlet cpu: maxPool2dForwardIndices needs kind 0");
  const float *x = f32(info, 0, g.n * g.c * g.h * g.w, "x");
  float *y = f32(info, 1, g.n * g.c * g.oh * g.ow, "y");
  int32_t *idx = indicesArg(info, 2, g.n * g.c * g.oh * g.ow);
  Axis ay(g.h, g.kh, g.sh, g.ph, g.oh, false), ax(g.w, g.kw, g.sw, g.pw, g.ow, false);
  const int64_t planes = g.n * g.c, hw = g.h * g.w, ohw = g.oh * g.ow;
  ThreadScope scope(planes * hw < kSerialWork ? 1 : 0);
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < planes; p++) {
    const float *src = x + p * hw;
    float *dst = y + p * ohw;
    int32_t *ix_out = idx + p * ohw;
    for (int64_t oy = 0; oy < g.oh; oy++) {
      const int64_t y0 = ay.lo[oy], y1 = ay.hi[oy];
      for (int64_t ox = 0; ox < g.ow; ox++) {
        const int64_t x0 = ax.lo[ox], x1 = ax.hi[ox];
        const WindowMax wm = windowArgmax(src, g.w, y0, y1, x0, x1);
        dst[oy * g.ow + ox] = wm.value;
        ix_out[oy * g.ow + ox] = static_cast<int32_t>(wm.at);
      }
    }
  }
  return info.Env().Undefined();
}

// maxPool2dBackwardIndices(dy, idx, dx, planes, hw, ohw): dx[plane, idx] += dy, from the forward's indices.
Napi::Value MaxPoolBackwardIndices(const Napi::CallbackInfo &info) {
  const int64_t planes = i64(info, 3), hw = i64(info, 4), ohw = i64(info, 5);
  const float *dy = f32(info, 0, planes * ohw, "dy");
  const int32_t *idx = indicesArg(info, 1, planes * ohw);
  float *dx = f32(info, 2, planes * hw, "dx");
  ThreadScope scope(planes * hw < kSerialWork ? 1 : 0);
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < planes; p++) {
    float *gx = dx + p * hw;
    std::fill(gx, gx + hw, 0.f);
    const float *gy = dy + p * ohw;
    const int32_t *ip = idx + p * ohw;
    for (int64_t o = 0; o < ohw; o++) {
      if (ip[o] >= 0) gx[ip[o]] += gy[o];
    }
  }
  return info.Env().Undefined();
}

}  // namespace

void initPool(Napi::Env env, Napi::Object exports) {
  exports.Set("pool2dForward", Napi::Function::New(env, PoolForward, "pool2dForward"));
  exports.Set("pool2dBackward", Napi::Function::New(env, PoolBackward, "pool2dBackward"));
  exports.Set("maxPool2dForwardIndices", Napi::Function::New(env, MaxPoolForwardIndices, "maxPool2dForwardIndices"));
  exports.Set("maxPool2dBackwardIndices", Napi::Function::New(env, MaxPoolBackwardIndices, "maxPool2dBackwardIndices"));
}

}  // namespace tl
