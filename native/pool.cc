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
#if defined(__AVX512F__)
#include <immintrin.h>
#endif
#include <cmath>
#include <limits>

#include "activation.h"
#include "common.h"
#include "pool.h"

namespace tl {
namespace {

using dnnl::pooling_forward;
using dnnl::pooling_backward;

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

/**
 * Offset (in the plane) of the first maximum of a window, as the reference picks it (a NaN wins
 * only where nothing has yet); -1 if empty. Element (iy, ix) is at src[(iy * w + ix) * stride]:
 * stride 1 for NCHW planes, the block size for one channel lane of a blocked plane.
 */
inline int64_t argmaxScan(const float *src, int64_t w, int64_t y0, int64_t y1, int64_t x0, int64_t x1,
                          int64_t stride = 1) {
  float m = -std::numeric_limits<float>::infinity();
  int64_t at = -1;
  for (int64_t iy = y0; iy < y1; iy++) {
    for (int64_t ix = x0; ix < x1; ix++) {
      const float v = src[(iy * w + ix) * stride];
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

/**
 * For one kernel column kx, the output columns whose input column ox*sw - pw + kx lies inside the
 * input: the row-wise loops below run over that range with no per-element bounds checks, which is
 * what lets the compiler vectorize them across output columns.
 */
struct ColumnTaps {
  std::vector<int64_t> lo, hi;
  ColumnTaps(int64_t w, int64_t kw, int64_t sw, int64_t pw, int64_t ow) : lo(kw), hi(kw) {
    for (int64_t kx = 0; kx < kw; kx++) {
      int64_t a = 0, b = ow;
      while (a < ow && a * sw - pw + kx < 0) a++;
      while (b > a && (b - 1) * sw - pw + kx >= w) b--;
      lo[kx] = a;
      hi[kx] = b;
    }
  }
};

/**
 * Pooling of one plane through a padded copy of it. Padding max with -inf and avg with 0 turns
 * every window into the same set of flat offsets (tap k at ky * Wp + kx), so each tap is one loop
 * over all window corners of the plane: long, branch-free and vectorized, where per-window loops
 * over GoogLeNet's 12x12 and 6x6 planes spent their time on loop overhead. Taps are visited in the
 * reference's row-major window order with a strict '>' (first maximum wins) and sums add in that
 * order, so results match the reference bit for bit. Planes holding NaN take the exact window scan.
 */
struct PaddedPool {
  const Geom &g;
  const Axis &ay, &ax;
  int64_t hp, wp, flat;
  std::vector<int64_t> tap;
  std::vector<int32_t> tapInPlane;                // tap k's offset in the padded plane and in the input plane
  std::vector<std::pair<int64_t, int64_t>> segments;  // ranges of window corners to compute
  PaddedPool(const Geom &geom, const Axis &y, const Axis &x) : g(geom), ay(y), ax(x) {
    hp = std::max(g.h + 2 * g.ph, (g.oh - 1) * g.sh + g.kh);
    wp = std::max(g.w + 2 * g.pw, (g.ow - 1) * g.sw + g.kw);
    flat = (g.oh - 1) * g.sh * wp + (g.ow - 1) * g.sw + 1;  // window corners up to the last output's
    for (int64_t ky = 0; ky < g.kh; ky++)
      for (int64_t kx = 0; kx < g.kw; kx++) {
        tap.push_back(ky * wp + kx);
        tapInPlane.push_back(static_cast<int32_t>(ky * g.w + kx));
      }
    // Stride 1: one range over every corner. Larger strides: only the rows outputs start on.
    if (g.sh == 1) segments.push_back({0, flat});
    else
      for (int64_t oy = 0; oy < g.oh; oy++) segments.push_back({oy * g.sh * wp, oy * g.sh * wp + (g.ow - 1) * g.sw + 1});
  }

  /** Per-thread scratch: the padded plane, the running max/sum and the winning tap. */
  struct Scratch {
    std::vector<float> xp, acc;
    std::vector<int32_t> win;
  };
  Scratch scratch() const { return {std::vector<float>(hp * wp), std::vector<float>(flat), std::vector<int32_t>(flat)}; }

  /** Copies the plane into xp with `pad` around it; returns whether it holds a NaN. */
  bool fill(const float *src, float *xp, float pad) const {
    std::fill(xp, xp + hp * wp, pad);
    unsigned nan = 0;
    for (int64_t i = 0; i < g.h * g.w; i++) nan |= static_cast<unsigned>(src[i] != src[i]);
    for (int64_t iy = 0; iy < g.h; iy++) std::copy(src + iy * g.w, src + (iy + 1) * g.w, xp + (iy + g.ph) * wp + g.pw);
    return nan != 0;
  }

  /** Picks one output row's results out of the window corners (restrict pointers: vectorized, tap offsets gathered). */
  void gatherRow(const float *__restrict m, const int32_t *__restrict win, float *__restrict dst, int32_t *__restrict at,
                 int32_t rowBase) const {
    const int64_t sw = g.sw, ow = g.ow;
    for (int64_t ox = 0; ox < ow; ox++) dst[ox] = m[ox * sw];
    if (!at) return;
    const int32_t *__restrict tab = tapInPlane.data();
    for (int64_t ox = 0; ox < ow; ox++) {
      const int32_t k = win[ox * sw];
      at[ox] = k < 0 ? -1 : rowBase + static_cast<int32_t>(ox * sw) + tab[k < 0 ? 0 : k];
    }
  }

  /** Max over one plane; `at` (optional) gets each maximum's in-plane offset. False if the plane holds NaN (nothing written). */
  bool max(const float *src, float *dst, int32_t *at, Scratch &s) const {
    float *xp = s.xp.data(), *m = s.acc.data();
    int32_t *win = s.win.data();
    if (fill(src, xp, -std::numeric_limits<float>::infinity())) return false;
    std::fill(m, m + flat, -std::numeric_limits<float>::infinity());
    std::fill(win, win + flat, -1);
    for (const auto &seg : segments) {
#if defined(__AVX512F__)
      // 16 window corners at a time over all taps, the running max and winning tap held in registers.
      const int32_t taps = static_cast<int32_t>(tap.size());
      for (int64_t j = seg.first; j < seg.second; j += 16) {
        const __mmask16 live = j + 16 <= seg.second ? static_cast<__mmask16>(0xFFFF)
                                                    : static_cast<__mmask16>((1u << (seg.second - j)) - 1);
        __m512 mv = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
        __m512i wv = _mm512_set1_epi32(-1);
        for (int32_t k = 0; k < taps; k++) {
          const __m512 v = _mm512_maskz_loadu_ps(live, xp + tap[k] + j);
          const __mmask16 gt = _mm512_cmp_ps_mask(v, mv, _CMP_GT_OQ);
          mv = _mm512_mask_mov_ps(mv, gt, v);
          wv = _mm512_mask_mov_epi32(wv, gt, _mm512_set1_epi32(k));
        }
        _mm512_mask_storeu_ps(m + j, live, mv);
        _mm512_mask_storeu_epi32(win + j, live, wv);
      }
      continue;
#endif
      for (int32_t k = 0; k < static_cast<int32_t>(tap.size()); k++) {
        const float *v = xp + tap[k];
        for (int64_t t = seg.first; t < seg.second; t++) {
          const bool gt = v[t] > m[t];
          m[t] = gt ? v[t] : m[t];
          win[t] = gt ? k : win[t];
        }
      }
    }
    for (int64_t oy = 0; oy < g.oh; oy++) {
      const int64_t j0 = oy * g.sh * wp;
      const int32_t rowBase = static_cast<int32_t>((oy * g.sh - g.ph) * g.w - g.pw);
      gatherRow(m + j0, win + j0, dst + oy * g.ow, at ? at + oy * g.ow : nullptr, rowBase);
    }
    return true;
  }

  void avg(const float *src, float *dst, Scratch &s) const {
    float *xp = s.xp.data(), *acc = s.acc.data();
    fill(src, xp, 0.f);
    std::fill(acc, acc + flat, 0.f);
    for (const auto &seg : segments) {
      for (const int64_t off : tap) {
        const float *v = xp + off;
        for (int64_t j = seg.first; j < seg.second; j++) acc[j] += v[j];
      }
    }
    for (int64_t oy = 0; oy < g.oh; oy++)
      for (int64_t ox = 0; ox < g.ow; ox++)
        dst[oy * g.ow + ox] = acc[oy * g.sh * wp + ox * g.sw] / (ay.extent[oy] * ax.extent[ox]);
  }

  /** The exact per-window scan (NaN planes): NaN wins, its gradient goes where the reference's scan puts it. */
  void maxExact(const float *src, float *dst, int32_t *at) const {
    for (int64_t oy = 0; oy < g.oh; oy++) {
      for (int64_t ox = 0; ox < g.ow; ox++) {
        const WindowMax wm = windowArgmax(src, g.w, ay.lo[oy], ay.hi[oy], ax.lo[ox], ax.hi[ox]);
        dst[oy * g.ow + ox] = wm.value;
        if (at) at[oy * g.ow + ox] = static_cast<int32_t>(wm.at);
      }
    }
  }
};

/** One output row of tiledPool's max (restrict pointers and int32 offsets: GCC vectorizes it across outputs). */
template <int K>
unsigned tiledMaxRow(const float *__restrict r, float *__restrict d, int32_t *__restrict a, int64_t w, int64_t ow,
                     int32_t base) {
  unsigned nan = 0;
  for (int64_t ox = 0; ox < ow; ox++) {
    float m = -std::numeric_limits<float>::infinity();
    int32_t i = -1;
    const int32_t c0 = static_cast<int32_t>(ox) * K;
    for (int ky = 0; ky < K; ky++) {
      for (int kx = 0; kx < K; kx++) {
        const float v = r[ky * w + ox * K + kx];
        const bool gt = v > m;
        m = gt ? v : m;
        i = gt ? base + static_cast<int32_t>(ky * w + kx) + c0 : i;
        nan |= (v != v) ? 1u : 0u;
      }
    }
    d[ox] = m;
    a[ox] = i;
  }
  return nan;
}

#if defined(__AVX512F__)
/** The lowest k of 16 lanes (k clamped to 0..16). */
inline __mmask16 lowLanes(int64_t k) {
  return k >= 16 ? static_cast<__mmask16>(0xFFFF) : k <= 0 ? 0 : static_cast<__mmask16>((1u << k) - 1);
}

/**
 * d[j] = 2x2 average of rows r0, r1 at columns 2j, 2j+1 (j < ow), 16 outputs at a time: the even and
 * odd columns of 32 are gathered by two-source permutes, then added in the scalar loop's order
 * (0 + r0[2j] + r0[2j+1] + r1[2j] + r1[2j+1]) and divided by 4, so the result is the same bits.
 */
inline void avg2x2Row(const float *r0, const float *r1, float *d, int64_t ow) {
  const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  const __m512i odd = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
  const __m512 quarter = _mm512_set1_ps(0.25f);
  for (int64_t j = 0; j < ow; j += 16) {
    const int64_t n = std::min<int64_t>(16, ow - j);
    const __mmask16 lo = lowLanes(2 * n), hi = lowLanes(2 * n - 16), out = lowLanes(n);
    const __m512 a0 = _mm512_maskz_loadu_ps(lo, r0 + 2 * j), b0 = _mm512_maskz_loadu_ps(hi, r0 + 2 * j + 16);
    const __m512 a1 = _mm512_maskz_loadu_ps(lo, r1 + 2 * j), b1 = _mm512_maskz_loadu_ps(hi, r1 + 2 * j + 16);
    __m512 sum = _mm512_add_ps(_mm512_setzero_ps(), _mm512_permutex2var_ps(a0, even, b0));
    sum = _mm512_add_ps(sum, _mm512_permutex2var_ps(a0, odd, b0));
    sum = _mm512_add_ps(sum, _mm512_permutex2var_ps(a1, even, b1));
    sum = _mm512_add_ps(sum, _mm512_permutex2var_ps(a1, odd, b1));
    _mm512_mask_storeu_ps(d + j, out, _mm512_mul_ps(sum, quarter));
  }
}

/**
 * Rows o0, o1 of the 2x2 pool's gradient through activation A: o[ix] = act'(y[ix]) * g[ix / 2] / 4
 * for ix < 2 * ow, 32 columns at a time (each g value spread to its two columns by a permute).
 */
template <int A>
inline void poolActivationRowPair(const float *g, const float *y0, const float *y1, float *o0, float *o1, int64_t ow) {
  const __m512i first = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
  const __m512i second = _mm512_set_epi32(15, 15, 14, 14, 13, 13, 12, 12, 11, 11, 10, 10, 9, 9, 8, 8);
  const __m512 quarter = _mm512_set1_ps(0.25f);  // x * 0.25 is x / 4 exactly
  for (int64_t j = 0; j < ow; j += 16) {
    const int64_t n = std::min<int64_t>(16, ow - j);
    const __mmask16 lo = lowLanes(2 * n), hi = lowLanes(2 * n - 16);
    const __m512 q = _mm512_mul_ps(_mm512_maskz_loadu_ps(lowLanes(n), g + j), quarter);
    const __m512 sl = _mm512_permutexvar_ps(first, q), sh = _mm512_permutexvar_ps(second, q);
    const int64_t c = 2 * j;
    _mm512_mask_storeu_ps(o0 + c, lo, throughActivation16<A>(sl, _mm512_maskz_loadu_ps(lo, y0 + c)));
    _mm512_mask_storeu_ps(o1 + c, lo, throughActivation16<A>(sl, _mm512_maskz_loadu_ps(lo, y1 + c)));
    if (hi) {
      _mm512_mask_storeu_ps(o0 + c + 16, hi, throughActivation16<A>(sh, _mm512_maskz_loadu_ps(hi, y0 + c + 16)));
      _mm512_mask_storeu_ps(o1 + c + 16, hi, throughActivation16<A>(sh, _mm512_maskz_loadu_ps(hi, y1 + c + 16)));
    }
  }
}
#endif

/**
 * Windows that tile the plane (kernel == stride, no padding, fully inside: LeNet's 2x2 average,
 * VGG's 2x2 max) need no padded copy; with the window size fixed at compile time the taps unroll.
 * Same tap order and comparisons as PaddedPool. Returns false (nothing final) for a NaN plane.
 */
template <int K>
bool tiledPool(const float *src, float *dst, int32_t *at, int64_t w, int64_t oh, int64_t ow, bool isMax) {
  unsigned nan = 0;
  for (int64_t oy = 0; oy < oh; oy++) {
    const float *r = src + oy * K * w;
    float *d = dst + oy * ow;
    if (isMax) {
      nan |= tiledMaxRow<K>(r, d, at + oy * ow, w, ow, static_cast<int32_t>(oy * K * w));
      continue;
    }
#if defined(__AVX512F__)
    if constexpr (K == 2) {
      avg2x2Row(r, r + w, d, ow);
      continue;
    }
#endif
    for (int64_t ox = 0; ox < ow; ox++) {  // as avg2x2Row for K == 2
      float s = 0.f;
      for (int ky = 0; ky < K; ky++)
        for (int kx = 0; kx < K; kx++) s += r[ky * w + ox * K + kx];
      d[ox] = s / static_cast<float>(K * K);
    }
  }
  return nan == 0;
}

/** Output rows per block where a 2x2 average pool's planes are taken as one tall plane. */
constexpr int64_t kTallRows = 64;

/** Whether the windows tile the input exactly as tiledPool<K> expects. */
bool tiles(const Geom &g, int64_t k) {
  return g.kh == k && g.kw == k && g.sh == k && g.sw == k && g.ph == 0 && g.pw == 0 && g.oh * k <= g.h &&
         g.ow * k <= g.w;
}

// pool2dForward(x, y, kind, n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow)
Napi::Value PoolForward(const Napi::CallbackInfo &info) {
  Geom g = geomArg(info, 2);
  const float *x = f32(info, 0, g.n * g.c * g.h * g.w, "x");
  float *y = f32(info, 1, g.n * g.c * g.oh * g.ow, "y");
  Axis ay(g.h, g.kh, g.sh, g.ph, g.oh, g.kind == 1), ax(g.w, g.kw, g.sw, g.pw, g.ow, g.kind == 1);
  const PaddedPool pp(g, ay, ax);
  const bool tiled2 = tiles(g, 2);
  const int64_t planes = g.n * g.c, hw = g.h * g.w, ohw = g.oh * g.ow;
  const bool isMax = g.kind == 0;
  ThreadScope scope(planes * hw < kSerialWork ? 1 : 0);
  if (tiled2 && !isMax && g.h == 2 * g.oh) {
    // Every row is in a window: the planes are one tall plane of planes * oh output rows, pooled in
    // blocks of kTallRows, the same arithmetic per row without a call per plane (LeNet's conv2 output,
    // 4096 planes of 10x10, had spent more time in the calls than in the pooling).
    const int64_t rows = planes * g.oh;
#pragma omp parallel for schedule(static)
    for (int64_t r0 = 0; r0 < rows; r0 += kTallRows) {
      tiledPool<2>(x + r0 * 2 * g.w, y + r0 * g.ow, nullptr, g.w, std::min(kTallRows, rows - r0), g.ow, false);
    }
    return info.Env().Undefined();
  }
#pragma omp parallel
  {
    PaddedPool::Scratch sc = pp.scratch();
    std::vector<int32_t> unusedAt(tiled2 && isMax ? ohw : 0);
#pragma omp for schedule(static)
    for (int64_t p = 0; p < planes; p++) {
      const float *src = x + p * hw;
      float *dst = y + p * ohw;
      if (tiled2) {
        if (!tiledPool<2>(src, dst, unusedAt.data(), g.w, g.oh, g.ow, isMax)) pp.maxExact(src, dst, nullptr);
      } else if (!isMax) {
        pp.avg(src, dst, sc);
      } else if (!pp.max(src, dst, nullptr, sc)) {
        pp.maxExact(src, dst, nullptr);
      }
    }
  }
  return info.Env().Undefined();
}

template <int A>
void poolActivationRows(const float *y, const float *dy, float *dx, int64_t planes, int64_t h, int64_t w, int64_t oh,
                        int64_t ow);

// pool2dBackward(x, dy, dx, kind, n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow)
Napi::Value PoolBackward(const Napi::CallbackInfo &info) {
  Geom g = geomArg(info, 3);
  const float *x = f32(info, 0, g.n * g.c * g.h * g.w, "x");
  const float *dy = f32(info, 1, g.n * g.c * g.oh * g.ow, "dy");
  float *dx = f32(info, 2, g.n * g.c * g.h * g.w, "dx");
  Axis ay(g.h, g.kh, g.sh, g.ph, g.oh, g.kind == 1), ax(g.w, g.kw, g.sw, g.pw, g.ow, g.kind == 1);
  const ColumnTaps taps(g.w, g.kw, g.sw, g.pw, g.ow);
  const int64_t planes = g.n * g.c, hw = g.h * g.w, ohw = g.oh * g.ow;
  const bool isMax = g.kind == 0;
  // Windows that do not overlap along a row (stride >= kernel) take the row-wise loop: each input
  // column then gets at most one share per output row, so the sums match the reference bit for bit.
  const bool rowWise = !isMax && g.sw >= g.kw;
  const bool tiled2 = !isMax && tiles(g, 2);
  ThreadScope scope(planes * hw < kSerialWork ? 1 : 0);
  if (tiled2) {
    // Each input gets exactly its window's share (dy * 0.25 is dy / 4 exactly): the activation
    // backward's pass with no activation, which takes the planes as one tall plane where it can.
    poolActivationRows<0>(x, dy, dx, planes, g.h, g.w, g.oh, g.ow);
    return info.Env().Undefined();
  }
#pragma omp parallel
  {
    std::vector<float> share(g.ow);
#pragma omp for schedule(static)
    for (int64_t p = 0; p < planes; p++) {
      const float *src = x + p * hw;
      const float *gy = dy + p * ohw;
      float *gx = dx + p * hw;
      std::fill(gx, gx + hw, 0.f);
      for (int64_t oy = 0; oy < g.oh; oy++) {
        const int64_t y0 = ay.lo[oy], y1 = ay.hi[oy];
        if (rowWise) {
          for (int64_t ox = 0; ox < g.ow; ox++) share[ox] = gy[oy * g.ow + ox] / (ay.extent[oy] * ax.extent[ox]);
          for (int64_t iy = y0; iy < y1; iy++) {
            for (int64_t kx = 0; kx < g.kw; kx++) {
              float *r = gx + iy * g.w - g.pw + kx;
              for (int64_t ox = taps.lo[kx]; ox < taps.hi[kx]; ox++) r[ox * g.sw] += share[ox];
            }
          }
          continue;
        }
        for (int64_t ox = 0; ox < g.ow; ox++) {
          const int64_t x0 = ax.lo[ox], x1 = ax.hi[ox];
          const float d = gy[oy * g.ow + ox];
          if (isMax) {
            const int64_t at = windowArgmax(src, g.w, y0, y1, x0, x1).at;
            if (at >= 0) gx[at] += d;
          } else {
            const float sh = d / (ay.extent[oy] * ax.extent[ox]);
            for (int64_t iy = y0; iy < y1; iy++) {
              float *row = gx + iy * g.w;
              for (int64_t ix = x0; ix < x1; ix++) row[ix] += sh;
            }
          }
        }
      }
    }
  }
  return info.Env().Undefined();
}

/**
 * act'(y) times the 2x2 stride-2 average pool's gradient (throughActivation's codes; 0 is the
 * pool's own gradient), from the activation's output y, for one plane (poolActivationPlane in pool.h).
 */
template <int A>
void poolActivationPlaneOf(const float *yp, const float *dy, float *gx, int64_t ld, int64_t h, int64_t w, int64_t oh,
                           int64_t ow, float *share) {
  for (int64_t r = 2 * oh; r < h; r++) std::fill(gx + r * ld, gx + r * ld + w, 0.f);
  for (int64_t oy = 0; oy < oh; oy++) {
    const float *g = dy + oy * ow;
#if defined(__AVX512F__)
    float *o0 = gx + 2 * oy * ld, *o1 = o0 + ld;
    poolActivationRowPair<A>(g, yp + 2 * oy * w, yp + (2 * oy + 1) * w, o0, o1, ow);
    for (int64_t ix = 2 * ow; ix < w; ix++) o0[ix] = o1[ix] = 0.f;
    (void)share;
#else
    for (int64_t ix = 0; ix < 2 * ow; ix++) share[ix] = g[ix >> 1] / 4.f;
    for (int64_t r = 2 * oy; r < 2 * oy + 2; r++) {
      const float *__restrict yr = yp + r * w;
      float *__restrict out = gx + r * ld;
      const float *__restrict sh = share;
#pragma omp simd
      for (int64_t ix = 0; ix < 2 * ow; ix++) {
        out[ix] = throughActivation<A>(sh[ix], yr[ix]);
      }
      for (int64_t ix = 2 * ow; ix < w; ix++) out[ix] = 0.f;
    }
#endif
  }
}

/**
 * The plain planes' pass: each input gets its window's share dy / 4, times the activation's slope
 * there, written once; inputs no window covers (an odd last row or column) get 0.
 */
template <int A>
void poolActivationRows(const float *y, const float *dy, float *dx, int64_t planes, int64_t h, int64_t w, int64_t oh,
                        int64_t ow) {
  const int64_t hw = h * w, ohw = oh * ow;
  const bool parallel = planes * hw >= kSerialWork;
  if (h == 2 * oh) {
    // Every row is in a window, so the planes are one tall plane of planes * oh row pairs (see
    // kTallRows): the same arithmetic per row pair, without the per-plane calls.
    const int64_t pairs = planes * oh;
#pragma omp parallel if (parallel)
    {
      std::vector<float> share(2 * ow);
#pragma omp for schedule(static)
      for (int64_t r0 = 0; r0 < pairs; r0 += kTallRows) {
        const int64_t rows = std::min(kTallRows, pairs - r0);
        poolActivationPlaneOf<A>(y + r0 * 2 * w, dy + r0 * ow, dx + r0 * 2 * w, w, 2 * rows, w, rows, ow, share.data());
      }
    }
    return;
  }
#pragma omp parallel if (parallel)
  {
    std::vector<float> share(2 * ow);
#pragma omp for schedule(static)
    for (int64_t p = 0; p < planes; p++) poolActivationPlaneOf<A>(y + p * hw, dy + p * ohw, dx + p * hw, w, h, w, oh, ow, share.data());
  }
}

/**
 * poolActivationRows for a channel-blocked y (nChw8c / nChw16c, block B; dx is written in the same
 * layout), with dy plain (dyBlock 0) or blocked like y. A convolution that fills whole channel
 * blocks leaves its output so (LeNet's conv2 and its sigmoid): the unfused path had converted y,
 * pooled, converted again and then applied the slope, about 6x this pass's time per element.
 * Each block of B channels is one run of B lanes per position, so the loops below are contiguous.
 */
template <int A>
void poolActivationBlocked(const float *y, const float *dy, float *dx, int64_t n, int64_t c, int64_t h, int64_t w,
                           int64_t oh, int64_t ow, int64_t B, int64_t dyBlock) {
  const int64_t cb = c / B, hw = h * w, ohw = oh * ow;
  const bool parallel = n * c * hw >= kSerialWork;
#pragma omp parallel if (parallel)
  {
    std::vector<float> share(ow * B);
#pragma omp for schedule(static)
    for (int64_t p = 0; p < n * cb; p++) {
      const int64_t img = p / cb, blk = p % cb;
      const float *yp = y + p * hw * B;
      float *gx = dx + p * hw * B;
      if (oh * 2 != h || ow * 2 != w) std::fill(gx, gx + hw * B, 0.f);
      for (int64_t oy = 0; oy < oh; oy++) {
        if (dyBlock) {
          const float *g = dy + (p * ohw + oy * ow) * B;
          for (int64_t i = 0; i < ow * B; i++) share[i] = g[i] / 4.f;
        } else {
          for (int64_t l = 0; l < B; l++) {
            const float *g = dy + ((img * c + blk * B + l) * oh + oy) * ow;
            for (int64_t ox = 0; ox < ow; ox++) share[ox * B + l] = g[ox] / 4.f;
          }
        }
        for (int64_t r = 2 * oy; r < 2 * oy + 2; r++) {
          for (int64_t ix = 0; ix < 2 * ow; ix++) {
            const float *__restrict yr = yp + (r * w + ix) * B;
            float *__restrict out = gx + (r * w + ix) * B;
            const float *__restrict sh = share.data() + (ix >> 1) * B;
#pragma omp simd
            for (int64_t l = 0; l < B; l++) {
              out[l] = throughActivation<A>(sh[l], yr[l]);
            }
          }
        }
      }
    }
  }
}

// avgPoolActivationBackward(y, dy, dx, act, n, c, h, w, oh, ow[, yBlock, dyBlock]): the 2x2 stride-2
// average pool only; act 0 is the pool's own gradient (y then only gives the layout). yBlock 8 or 16: y and dx are nChw{yBlock}c, and dy plain or (dyBlock = yBlock) blocked.
Napi::Value AvgPoolActivationBackward(const Napi::CallbackInfo &info) {
  const int act = static_cast<int>(i64(info, 3));
  const int64_t n = i64(info, 4), c = i64(info, 5), h = i64(info, 6), w = i64(info, 7), oh = i64(info, 8), ow = i64(info, 9);
  if (n <= 0 || c <= 0 || oh <= 0 || ow <= 0 || 2 * oh > h || 2 * ow > w || act < 0 || act > 3) {
    throw Napi::RangeError::New(info.Env(), "torchlet cpu: bad avgPoolActivationBackward geometry");
  }
  const int64_t yBlock = info.Length() > 10 ? i64(info, 10) : 0;
  const int64_t dyBlock = info.Length() > 11 ? i64(info, 11) : 0;
  if ((yBlock != 0 && yBlock != 8 && yBlock != 16) || (yBlock != 0 && c % yBlock != 0) || (dyBlock != 0 && dyBlock != yBlock)) {
    throw Napi::RangeError::New(info.Env(), "torchlet cpu: avgPoolActivationBackward takes y in blocks of 8 or 16 whole channels, "
                                            "and dy plain or in y's blocks");
  }
  const float *y = f32(info, 0, n * c * h * w, "y");
  const float *dy = f32(info, 1, n * c * oh * ow, "dy");
  float *dx = f32(info, 2, n * c * h * w, "dx");
  if (yBlock) {
    if (act == 0) poolActivationBlocked<0>(y, dy, dx, n, c, h, w, oh, ow, yBlock, dyBlock);
    else if (act == 1) poolActivationBlocked<1>(y, dy, dx, n, c, h, w, oh, ow, yBlock, dyBlock);
    else if (act == 2) poolActivationBlocked<2>(y, dy, dx, n, c, h, w, oh, ow, yBlock, dyBlock);
    else poolActivationBlocked<3>(y, dy, dx, n, c, h, w, oh, ow, yBlock, dyBlock);
  } else if (act == 0) poolActivationRows<0>(y, dy, dx, n * c, h, w, oh, ow);
  else if (act == 1) poolActivationRows<1>(y, dy, dx, n * c, h, w, oh, ow);
  else if (act == 2) poolActivationRows<2>(y, dy, dx, n * c, h, w, oh, ow);
  else poolActivationRows<3>(y, dy, dx, n * c, h, w, oh, ow);
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
  const PaddedPool pp(g, ay, ax);
  const bool tiled2 = tiles(g, 2);
  const int64_t planes = g.n * g.c, hw = g.h * g.w, ohw = g.oh * g.ow;
  ThreadScope scope(planes * hw < kSerialWork ? 1 : 0);
#pragma omp parallel
  {
    PaddedPool::Scratch sc = pp.scratch();
#pragma omp for schedule(static)
    for (int64_t p = 0; p < planes; p++) {
      const float *src = x + p * hw;
      const bool done = tiled2 ? tiledPool<2>(src, y + p * ohw, idx + p * ohw, g.w, g.oh, g.ow, true)
                               : pp.max(src, y + p * ohw, idx + p * ohw, sc);
      if (!done) pp.maxExact(src, y + p * ohw, idx + p * ohw);
    }
  }
  return info.Env().Undefined();
}

/**
 * The max pool's input gradient from its argmax indices: each plane (one image's channel, or block
 * of B channels, B lanes per position) is zeroed and every output's gradient added at its argmax,
 * outputs in order, so a position several windows chose sums them as the reference does. With
 * `pooled` (the pool's output, after a ReLU) and `act` (the pool's input, the ReLU's output), an
 * output's gradient goes through only where the maximum was positive: that is the ReLU's gradient
 * at its argmax, where the ReLU's output is the maximum, so dx needs no pass of its own for it. A
 * window with a NaN is the exception (its output is NaN, its argmax the first maximum, as in the
 * reference): there the input at the argmax decides. On AVX-512 the B lanes of an output are one
 * gather and one scatter; their addresses differ in the lane, so they never collide.
 */
template <int B>
void maxPoolScatter(const float *dy, const int32_t *idx, const float *pooled, const float *act, float *dx, int64_t planes,
                    int64_t hw, int64_t ohw) {
  ThreadScope scope(planes * hw * B < kSerialWork ? 1 : 0);
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < planes; p++) {
    float *gx = dx + p * hw * B;
    std::fill(gx, gx + hw * B, 0.f);
    const float *gy = dy + p * ohw * B;
    const float *py = pooled ? pooled + p * ohw * B : nullptr;
    const float *pa = pooled ? act + p * hw * B : nullptr;
    const int32_t *ip = idx + p * ohw * B;
    // Whether output lane o + l of a NaN window passes: the ReLU's output at its argmax.
    auto nanPasses = [&](int64_t o, int l) { return ip[o + l] >= 0 && pa[ip[o + l] * B + l] > 0.f; };
#if defined(__AVX512F__)
    if (B == 16) {
      const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
      for (int64_t o = 0; o < ohw * 16; o += 16) {
        const __m512i at = _mm512_loadu_si512(ip + o);
        __mmask16 m = _mm512_cmpge_epi32_mask(at, _mm512_setzero_si512());
        if (py) {
          const __m512 v = _mm512_loadu_ps(py + o);
          const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
          m &= _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GT_OQ);
          for (int l = 0; nan && l < 16; l++)
            if (((nan >> l) & 1) && nanPasses(o, l)) m |= static_cast<__mmask16>(1u << l);
        }
        const __m512i addr = _mm512_add_epi32(_mm512_slli_epi32(at, 4), lane);
        const __m512 cur = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, addr, gx, 4);
        _mm512_mask_i32scatter_ps(gx, m, addr, _mm512_add_ps(cur, _mm512_loadu_ps(gy + o)), 4);
      }
      continue;
    }
#endif
#if defined(__AVX512VL__)
    if (B == 8) {
      const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
      for (int64_t o = 0; o < ohw * 8; o += 8) {
        const __m256i at = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(ip + o));
        __mmask8 m = _mm256_cmpge_epi32_mask(at, _mm256_setzero_si256());
        if (py) {
          const __m256 v = _mm256_loadu_ps(py + o);
          const __mmask8 nan = _mm256_cmp_ps_mask(v, v, _CMP_UNORD_Q);
          m &= _mm256_cmp_ps_mask(v, _mm256_setzero_ps(), _CMP_GT_OQ);
          for (int l = 0; nan && l < 8; l++)
            if (((nan >> l) & 1) && nanPasses(o, l)) m |= static_cast<__mmask8>(1u << l);
        }
        const __m256i addr = _mm256_add_epi32(_mm256_slli_epi32(at, 3), lane);
        const __m256 cur = _mm256_mmask_i32gather_ps(_mm256_setzero_ps(), m, addr, gx, 4);
        _mm256_mask_i32scatter_ps(gx, m, addr, _mm256_add_ps(cur, _mm256_loadu_ps(gy + o)), 4);
      }
      continue;
    }
#endif
    for (int64_t o = 0; o < ohw * B; o += B)
      for (int64_t l = 0; l < B; l++)
        if (ip[o + l] >= 0 && (!py || py[o + l] > 0.f || (py[o + l] != py[o + l] && nanPasses(o, l)))) gx[ip[o + l] * B + l] += gy[o + l];
  }
}


// maxPool2dBackwardIndices(dy, idx, dx, planes, hw, ohw): dx[plane, idx] += dy, from the forward's indices.
Napi::Value MaxPoolBackwardIndices(const Napi::CallbackInfo &info) {
  const int64_t planes = i64(info, 3), hw = i64(info, 4), ohw = i64(info, 5);
  const float *dy = f32(info, 0, planes * ohw, "dy");
  const int32_t *idx = indicesArg(info, 1, planes * ohw);
  float *dx = f32(info, 2, planes * hw, "dx");
  maxPoolScatter<1>(dy, idx, nullptr, nullptr, dx, planes, hw, ohw);
  return info.Env().Undefined();
}

// ---- channel-blocked activations (nChw8c / nChw16c) ----

/** oneDNN's average pooling on a blocked layout (max pooling of blocked inputs is maxPoolBlocked below). */
pooling_forward::primitive_desc blockedAvgPoolPd(const Geom &g, int block) {
  using namespace dnnl;
  const algorithm a = g.kind == 1 ? algorithm::pooling_avg_include_padding : algorithm::pooling_avg_exclude_padding;
  memory::desc src = actMd({g.n, g.c, g.h, g.w}, block), dst = actMd({g.n, g.c, g.oh, g.ow}, block);
  pooling_forward::desc d(prop_kind::forward_training, a, src, dst, {g.sh, g.sw}, {g.kh, g.kw}, {g.ph, g.pw},
                          {padRight(g.h, g.kh, g.sh, g.ph, g.oh), padRight(g.w, g.kw, g.sw, g.pw, g.ow)});
  return pooling_forward::primitive_desc(d, baseAttr(), engine());
}

void checkBlockedAvg(const Napi::CallbackInfo &info, const Geom &g, int block) {
  if (g.kind == 0) throw Napi::RangeError::New(info.Env(), "torchlet cpu: avgPoolBlocked* is average pooling (kind 1 or 2)");
  if (!block || g.c % block) throw Napi::RangeError::New(info.Env(), "torchlet cpu: blocked pooling needs channels in whole blocks");
}

// avgPoolBlockedForward(x, y, kind, n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow, block): x and y in the block layout.
Napi::Value AvgPoolBlockedForward(const Napi::CallbackInfo &info) {
  Geom g = geomArg(info, 2);
  const int block = blockArg(info, 15);
  checkBlockedAvg(info, g, block);
  float *x = f32(info, 0, g.n * g.c * g.h * g.w, "x");
  float *y = f32(info, 1, g.n * g.c * g.oh * g.ow, "y");
  Key k(82);
  k << g.kind << g.n << g.c << g.h << g.w << g.kh << g.kw << g.sh << g.sw << g.ph << g.pw << g.oh << g.ow << block;
  Plan &p = cached(k, [&](Plan &p) {
    auto pd = blockedAvgPoolPd(g, block);
    p.add(pooling_forward(pd), {{DNNL_ARG_SRC, p.user(0, pd.src_desc())}, {DNNL_ARG_DST, p.user(1, pd.dst_desc())}}, pd);
  });
  void *ptrs[] = {x, y};
  p.run(ptrs);
  return info.Env().Undefined();
}

// avgPoolBlockedBackward(dy, dyBlock, dx, kind, n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow, block)
// dx is written in the block layout; dy may be in another (it is reordered).
Napi::Value AvgPoolBlockedBackward(const Napi::CallbackInfo &info) {
  Geom g = geomArg(info, 3);
  const int dyBlock = blockArg(info, 1), block = blockArg(info, 16);
  checkBlockedAvg(info, g, block);
  float *dy = f32(info, 0, g.n * g.c * g.oh * g.ow, "dy");
  float *dx = f32(info, 2, g.n * g.c * g.h * g.w, "dx");
  Key k(83);
  k << g.kind << g.n << g.c << g.h << g.w << g.kh << g.kw << g.sh << g.sw << g.ph << g.pw << g.oh << g.ow << block << dyBlock;
  Plan &p = cached(k, [&](Plan &p) {
    using namespace dnnl;
    auto hint = blockedAvgPoolPd(g, block);
    pooling_backward::desc d(g.kind == 1 ? algorithm::pooling_avg_include_padding : algorithm::pooling_avg_exclude_padding,
                             hint.src_desc(), hint.dst_desc(), {g.sh, g.sw}, {g.kh, g.kw}, {g.ph, g.pw},
                             {padRight(g.h, g.kh, g.sh, g.ph, g.oh), padRight(g.w, g.kw, g.sw, g.pw, g.ow)});
    pooling_backward::primitive_desc pd(d, baseAttr(), engine(), hint);
    std::unordered_map<int, memory> args;
    args[DNNL_ARG_DIFF_DST] = p.in(0, actMd({g.n, g.c, g.oh, g.ow}, dyBlock), pd.diff_dst_desc());
    args[DNNL_ARG_DIFF_SRC] = p.out(1, pd.diff_src_desc(), pd.diff_src_desc());
    p.add(pooling_backward(pd), std::move(args), pd);
  });
  void *ptrs[] = {dy, dx};
  p.run(ptrs);
  return info.Env().Undefined();
}

/**
 * Max pooling of channel-blocked activations (B channels innermost), with argmax indices like the
 * plain kernels' (in-plane input offset per output element, -1 for an empty window). Every tap
 * is one contiguous run of B channels, so the compiler vectorizes across channels; tap order and
 * the strict '>' match the reference, and lanes that meet a NaN redo their window exactly.
 */
template <int B>
void maxPoolBlocked(const Geom &g, const float *x, float *y, int32_t *idx) {
  Axis ay(g.h, g.kh, g.sh, g.ph, g.oh, false), ax(g.w, g.kw, g.sw, g.pw, g.ow, false);
  const int64_t planes = g.n * (g.c / B), in = g.h * g.w * B, out = g.oh * g.ow * B;
  ThreadScope scope(planes * in < kSerialWork ? 1 : 0);
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < planes; p++) {
    const float *src = x + p * in;
    for (int64_t oy = 0; oy < g.oh; oy++) {
      for (int64_t ox = 0; ox < g.ow; ox++) {
#if defined(__AVX512F__)
        if (B == 16) {  // one zmm holds the block: max, winner and NaN lanes stay in registers
          __m512 mv = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
          __m512i wv = _mm512_set1_epi32(-1);
          __mmask16 nanLanes = 0;
          for (int64_t iy = ay.lo[oy]; iy < ay.hi[oy]; iy++) {
            for (int64_t ix = ax.lo[ox]; ix < ax.hi[ox]; ix++) {
              const int32_t off = static_cast<int32_t>(iy * g.w + ix);
              const __m512 v = _mm512_loadu_ps(src + off * 16);
              const __mmask16 gt = _mm512_cmp_ps_mask(v, mv, _CMP_GT_OQ);
              mv = _mm512_mask_mov_ps(mv, gt, v);
              wv = _mm512_mask_mov_epi32(wv, gt, _mm512_set1_epi32(off));
              nanLanes |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
            }
          }
          const int64_t o = p * out + (oy * g.ow + ox) * 16;
          _mm512_storeu_ps(y + o, mv);
          _mm512_storeu_si512(idx + o, wv);
          if (!nanLanes) continue;
          for (int l = 0; l < 16; l++) {
            if (!((nanLanes >> l) & 1)) continue;
            y[o + l] = std::numeric_limits<float>::quiet_NaN();
            idx[o + l] = static_cast<int32_t>(argmaxScan(src + l, g.w, ay.lo[oy], ay.hi[oy], ax.lo[ox], ax.hi[ox], 16));
          }
          continue;
        }
#if defined(__AVX512VL__)
        if (B == 8) {  // the same in one ymm (AVX-512VL masks): a convolution may leave nChw8c
          __m256 mv = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
          __m256i wv = _mm256_set1_epi32(-1);
          __mmask8 nanLanes = 0;
          for (int64_t iy = ay.lo[oy]; iy < ay.hi[oy]; iy++) {
            for (int64_t ix = ax.lo[ox]; ix < ax.hi[ox]; ix++) {
              const int32_t off = static_cast<int32_t>(iy * g.w + ix);
              const __m256 v = _mm256_loadu_ps(src + off * 8);
              const __mmask8 gt = _mm256_cmp_ps_mask(v, mv, _CMP_GT_OQ);
              mv = _mm256_mask_mov_ps(mv, gt, v);
              wv = _mm256_mask_mov_epi32(wv, gt, _mm256_set1_epi32(off));
              nanLanes |= _mm256_cmp_ps_mask(v, v, _CMP_UNORD_Q);
            }
          }
          const int64_t o = p * out + (oy * g.ow + ox) * 8;
          _mm256_storeu_ps(y + o, mv);
          _mm256_storeu_si256(reinterpret_cast<__m256i *>(idx + o), wv);
          if (!nanLanes) continue;
          for (int l = 0; l < 8; l++) {
            if (!((nanLanes >> l) & 1)) continue;
            y[o + l] = std::numeric_limits<float>::quiet_NaN();
            idx[o + l] = static_cast<int32_t>(argmaxScan(src + l, g.w, ay.lo[oy], ay.hi[oy], ax.lo[ox], ax.hi[ox], 8));
          }
          continue;
        }
#endif
#endif
        float m[B];
        int32_t at[B];
        unsigned nan[B];
        for (int l = 0; l < B; l++) {
          m[l] = -std::numeric_limits<float>::infinity();
          at[l] = -1;
          nan[l] = 0;
        }
        for (int64_t iy = ay.lo[oy]; iy < ay.hi[oy]; iy++) {
          for (int64_t ix = ax.lo[ox]; ix < ax.hi[ox]; ix++) {
            const int32_t off = static_cast<int32_t>(iy * g.w + ix);
            const float *v = src + off * B;
            for (int l = 0; l < B; l++) {
              const bool gt = v[l] > m[l];
              m[l] = gt ? v[l] : m[l];
              at[l] = gt ? off : at[l];
              nan[l] |= v[l] != v[l] ? 1u : 0u;
            }
          }
        }
        const int64_t o = p * out + (oy * g.ow + ox) * B;
        for (int l = 0; l < B; l++) {
          if (nan[l]) {  // rare: the reference's rule, scanning this lane's window again
            m[l] = std::numeric_limits<float>::quiet_NaN();
            at[l] = static_cast<int32_t>(argmaxScan(src + l, g.w, ay.lo[oy], ay.hi[oy], ax.lo[ox], ax.hi[ox], B));
          }
          y[o + l] = m[l];
          idx[o + l] = at[l];
        }
      }
    }
  }
}

// maxPoolBlockedForward(x, y, idx, n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow, block): x, y, idx channel-blocked.
Napi::Value MaxPoolBlockedForward(const Napi::CallbackInfo &info) {
  Geom g{};
  g.kind = 0;
  int64_t *f[] = {&g.n, &g.c, &g.h, &g.w, &g.kh, &g.kw, &g.sh, &g.sw, &g.ph, &g.pw, &g.oh, &g.ow};
  for (size_t j = 0; j < 12; j++) *f[j] = i64(info, 3 + j);
  const int block = blockArg(info, 15);
  if (!block || g.n <= 0 || g.c % block || g.h <= 0 || g.w <= 0 || g.kh <= 0 || g.kw <= 0 || g.sh <= 0 || g.sw <= 0 ||
      g.ph < 0 || g.pw < 0 || g.oh <= 0 || g.ow <= 0) {
    throw Napi::RangeError::New(info.Env(), "torchlet cpu: bad blocked pooling geometry");
  }
  const float *x = f32(info, 0, g.n * g.c * g.h * g.w, "x");
  float *y = f32(info, 1, g.n * g.c * g.oh * g.ow, "y");
  int32_t *idx = indicesArg(info, 2, g.n * g.c * g.oh * g.ow);
  if (block == 16) maxPoolBlocked<16>(g, x, y, idx);
  else maxPoolBlocked<8>(g, x, y, idx);
  return info.Env().Undefined();
}

// maxPoolBlockedBackward(dy, idx, dx, planes, hw, ohw, block): dx[plane, idx, lane] += dy, blocked layouts.
Napi::Value MaxPoolBlockedBackward(const Napi::CallbackInfo &info) {
  const int64_t planes = i64(info, 3), hw = i64(info, 4), ohw = i64(info, 5);
  const int block = blockArg(info, 6);
  if (!block) throw Napi::RangeError::New(info.Env(), "torchlet cpu: blocked pooling needs a block");
  const float *dy = f32(info, 0, planes * ohw * block, "dy");
  const int32_t *idx = indicesArg(info, 1, planes * ohw * block);
  float *dx = f32(info, 2, planes * hw * block, "dx");
  if (block == 16) maxPoolScatter<16>(dy, idx, nullptr, nullptr, dx, planes, hw, ohw);
  else maxPoolScatter<8>(dy, idx, nullptr, nullptr, dx, planes, hw, ohw);
  return info.Env().Undefined();
}

// maxPoolReluBackward(dy, idx, pooled, x, dx, planes, hw, ohw, block): the max pool's input gradient
// taken through the ReLU whose output x the pool read (block 0: plain NCHW, else nChw8c / nChw16c).
Napi::Value MaxPoolReluBackward(const Napi::CallbackInfo &info) {
  const int64_t planes = i64(info, 5), hw = i64(info, 6), ohw = i64(info, 7);
  const int block = blockArg(info, 8);
  const int64_t lanes = block ? block : 1;
  const float *dy = f32(info, 0, planes * ohw * lanes, "dy");
  const int32_t *idx = indicesArg(info, 1, planes * ohw * lanes);
  const float *pooled = f32(info, 2, planes * ohw * lanes, "pooled");
  const float *x = f32(info, 3, planes * hw * lanes, "x");
  float *dx = f32(info, 4, planes * hw * lanes, "dx");
  if (block == 16) maxPoolScatter<16>(dy, idx, pooled, x, dx, planes, hw, ohw);
  else if (block == 8) maxPoolScatter<8>(dy, idx, pooled, x, dx, planes, hw, ohw);
  else maxPoolScatter<1>(dy, idx, pooled, x, dx, planes, hw, ohw);
  return info.Env().Undefined();
}

}  // namespace

void initPool(Napi::Env env, Napi::Object exports) {
  exports.Set("pool2dForward", Napi::Function::New(env, PoolForward, "pool2dForward"));
  exports.Set("pool2dBackward", Napi::Function::New(env, PoolBackward, "pool2dBackward"));
  exports.Set("avgPoolActivationBackward", Napi::Function::New(env, AvgPoolActivationBackward, "avgPoolActivationBackward"));
  exports.Set("maxPool2dForwardIndices", Napi::Function::New(env, MaxPoolForwardIndices, "maxPool2dForwardIndices"));
  exports.Set("maxPoolBlockedForward", Napi::Function::New(env, MaxPoolBlockedForward, "maxPoolBlockedForward"));
  exports.Set("maxPoolBlockedBackward", Napi::Function::New(env, MaxPoolBlockedBackward, "maxPoolBlockedBackward"));
  exports.Set("avgPoolBlockedForward", Napi::Function::New(env, AvgPoolBlockedForward, "avgPoolBlockedForward"));
  exports.Set("avgPoolBlockedBackward", Napi::Function::New(env, AvgPoolBlockedBackward, "avgPoolBlockedBackward"));
  exports.Set("maxPool2dBackwardIndices", Napi::Function::New(env, MaxPoolBackwardIndices, "maxPool2dBackwardIndices"));
  exports.Set("maxPoolReluBackward", Napi::Function::New(env, MaxPoolReluBackward, "maxPoolReluBackward"));
}

void avgPool2x2Plane(const float *src, float *dst, int64_t w, int64_t oh, int64_t ow) {
  tiledPool<2>(src, dst, nullptr, w, oh, ow, false);
}

void poolActivationPlane(int act, const float *y, const float *dy, float *dx, int64_t dxRowStride, int64_t h, int64_t w,
                         int64_t oh, int64_t ow, float *share) {
  switch (act) {
    case 1: return poolActivationPlaneOf<1>(y, dy, dx, dxRowStride, h, w, oh, ow, share);
    case 2: return poolActivationPlaneOf<2>(y, dy, dx, dxRowStride, h, w, oh, ow, share);
    case 3: return poolActivationPlaneOf<3>(y, dy, dx, dxRowStride, h, w, oh, ow, share);
    default: return poolActivationPlaneOf<0>(y, dy, dx, dxRowStride, h, w, oh, ow, share);
  }
}

}  // namespace tl
