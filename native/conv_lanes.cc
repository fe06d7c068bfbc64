// Stride-1 convolutions with images in vector lanes: 16 images of a batch are interleaved so that
// one 16-float vector holds the same (channel, row, column) of 16 images ("lanes" layout,
// [c][rows][cols][16]). Every product of the convolution is then a full-width FMA over 16 images:
// no column is wasted on a plane's width not filling a vector (LeNet's 10x10 conv2 output filled
// 100 of the im2col plans' 144 columns), and every load is a whole aligned cache line.
//
// Images go into lanes by 16x16 register transposes, one per 16 consecutive values of the 16
// images, at about one shuffle per value: cheap next to the kh*kw*oc products each value takes
// part in.
#pragma GCC optimize("fp-contract=fast")  // let the vector updates below become FMAs

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "conv_direct.h"

namespace tl {
namespace {

typedef float v16 __attribute__((vector_size(64)));
typedef int vi16 __attribute__((vector_size(64)));
constexpr int64_t kLanes = 16;

inline v16 loada(const float *p) { return *reinterpret_cast<const v16 *>(p); }
inline void storea(float *p, v16 v) { *reinterpret_cast<v16 *>(p) = v; }
typedef float v16u __attribute__((vector_size(64), aligned(4)));
inline v16 loadu(const float *p) { return *reinterpret_cast<const v16u *>(p); }

inline int64_t roundUp(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

/** A zero-filled, 64-byte aligned float buffer. */
struct LaneBuffer {
  float *p = nullptr;
  explicit LaneBuffer(int64_t floats) {
    const size_t bytes = static_cast<size_t>(roundUp(std::max<int64_t>(floats, 16) * 4, 64));
    p = static_cast<float *>(std::aligned_alloc(64, bytes));
    if (!p) throw std::bad_alloc();
    std::memset(p, 0, bytes);
  }
  ~LaneBuffer() { std::free(p); }
  LaneBuffer(const LaneBuffer &) = delete;
  LaneBuffer &operator=(const LaneBuffer &) = delete;
};

/**
 * In-place transpose of 16 vectors (row r, lane c) by four block swaps: step s exchanges, between
 * rows r and r + s, the elements whose lane has bit s set in row r with those whose lane has it
 * clear in row r + s. Swapping bit s of the row and lane indices for every s is the transpose.
 */
template <int S>
inline void swapBlocks(v16 *m) {
  constexpr vi16 lo = {
      (0 & S) ? 16 + 0 - S : 0,    (1 & S) ? 16 + 1 - S : 1,    (2 & S) ? 16 + 2 - S : 2,    (3 & S) ? 16 + 3 - S : 3,
      (4 & S) ? 16 + 4 - S : 4,    (5 & S) ? 16 + 5 - S : 5,    (6 & S) ? 16 + 6 - S : 6,    (7 & S) ? 16 + 7 - S : 7,
      (8 & S) ? 16 + 8 - S : 8,    (9 & S) ? 16 + 9 - S : 9,    (10 & S) ? 16 + 10 - S : 10, (11 & S) ? 16 + 11 - S : 11,
      (12 & S) ? 16 + 12 - S : 12, (13 & S) ? 16 + 13 - S : 13, (14 & S) ? 16 + 14 - S : 14, (15 & S) ? 16 + 15 - S : 15};
  constexpr vi16 hi = {
      (0 & S) ? 16 + 0 : 0 + S,    (1 & S) ? 16 + 1 : 1 + S,    (2 & S) ? 16 + 2 : 2 + S,    (3 & S) ? 16 + 3 : 3 + S,
      (4 & S) ? 16 + 4 : 4 + S,    (5 & S) ? 16 + 5 : 5 + S,    (6 & S) ? 16 + 6 : 6 + S,    (7 & S) ? 16 + 7 : 7 + S,
      (8 & S) ? 16 + 8 : 8 + S,    (9 & S) ? 16 + 9 : 9 + S,    (10 & S) ? 16 + 10 : 10 + S, (11 & S) ? 16 + 11 : 11 + S,
      (12 & S) ? 16 + 12 : 12 + S, (13 & S) ? 16 + 13 : 13 + S, (14 & S) ? 16 + 14 : 14 + S, (15 & S) ? 16 + 15 : 15 + S};
  for (int r = 0; r < 16; r++) {
    if (r & S) continue;
    const v16 a = m[r], b = m[r + S];
    m[r] = __builtin_shuffle(a, b, lo);
    m[r + S] = __builtin_shuffle(a, b, hi);
  }
}

inline void transpose16(v16 *m) {
  swapBlocks<1>(m);
  swapBlocks<2>(m);
  swapBlocks<4>(m);
  swapBlocks<8>(m);
}

/**
 * An activation as the kernels read it: plain NCHW (block 0) or oneDNN's nChw8c / nChw16c (block 8
 * or 16), as in conv_direct.cc.
 */
struct Planes {
  const float *p;
  int64_t c, plane, block;
  const float *at(int64_t n, int64_t ch) const {
    if (block == 0) return p + (n * c + ch) * plane;
    return p + (n * (c / block) + ch / block) * plane * block + ch % block;
  }
  int64_t step() const { return block == 0 ? 1 : block; }
};

/**
 * Puts images n0 .. n0+count of `src` (c planes of h x w) into lanes: element (ch, y, x) of image
 * n0 + l goes to dst[((ch * fh + y + top) * fw + x + left) * 16 + l]. Lanes from count on are zeroed;
 * the frame around each plane is left as it is (zero, from LaneBuffer).
 */
void toLanes(const Planes &src, int64_t n0, int64_t count, int64_t h, int64_t w, float *dst, int64_t fh, int64_t fw,
             int64_t top, int64_t left) {
  const int64_t plane = h * w, step = src.step();
  for (int64_t ch = 0; ch < src.c; ch++) {
    const float *img[16];
    for (int64_t l = 0; l < kLanes; l++) img[l] = src.at(n0 + std::min(l, count - 1), ch);
    float *base = dst + (ch * fh + top) * fw * kLanes + left * kLanes;
    // Where value i of the plane goes, stepped along (no division per value).
    int64_t row = 0, col = 0;
    auto next = [&]() {
      float *d = base + (row * fw + col) * kLanes;
      if (++col == w) {
        col = 0;
        row++;
      }
      return d;
    };
    int64_t i = 0;
    if (step == 16 && ch % 16 == 0 && ch + 16 <= src.c) {
      // nChw16c: one load is 16 channels of one pixel; after the transpose, vector cc holds
      // channel ch + cc of the 16 images.
      for (; i < plane; i++) {
        v16 m[16];
        for (int64_t l = 0; l < kLanes; l++) m[l] = l < count ? loadu(img[l] + i * 16) : v16{};
        transpose16(m);
        float *d = next();
        for (int cc = 0; cc < 16; cc++) storea(d + cc * fh * fw * kLanes, m[cc]);
      }
      ch += 15;
      continue;
    }
    if (step == 1) {
      for (; i + 16 <= plane; i += 16) {
        v16 m[16];
        for (int64_t l = 0; l < kLanes; l++) m[l] = l < count ? loadu(img[l] + i) : v16{};
        transpose16(m);
        for (int t = 0; t < 16; t++) storea(next(), m[t]);
      }
    }
    for (; i < plane; i++) {
      float *d = next();
      for (int64_t l = 0; l < kLanes; l++) d[l] = l < count ? img[l][i * step] : 0.f;
    }
  }
}

/**
 * The partial weight gradient of one group of images in lanes: acc[((o * C + ch) * KH + ky) * KW + kx]
 * += sum over output pixels of dyl[o][pixel] * xl[ch][pixel shifted by (ky, kx)], for output channels
 * o0 .. o0+MO and kernel columns kx0 .. kx0+KT. The MO x KT accumulators stay in registers over
 * all of the output plane; MO dy vectors and KT x vectors are loaded per output pixel.
 */
template <int MO, int KT>
void weightTile(const DirectConv &g, int64_t fw, int64_t fplane, const float *xl, const float *dyl, v16 *acc,
                int64_t o0, int64_t ch, int64_t ky, int64_t kx0, int64_t oy0, int64_t oy1) {
  const int64_t oplane = g.oh * g.ow;
  v16 a[MO][KT];
  for (int m = 0; m < MO; m++)
    for (int t = 0; t < KT; t++) a[m][t] = v16{};
  for (int64_t oy = oy0; oy < oy1; oy++) {
    const float *xr = xl + (ch * fplane + (oy + ky) * fw + kx0) * kLanes;
    const float *dr = dyl + (o0 * oplane + oy * g.ow) * kLanes;
    for (int64_t ox = 0; ox < g.ow; ox++) {
      v16 d[MO];
#pragma GCC unroll 4
      for (int m = 0; m < MO; m++) d[m] = loada(dr + (m * oplane + ox) * kLanes);
#pragma GCC unroll 5
      for (int t = 0; t < KT; t++) {
        const v16 xv = loada(xr + (ox + t) * kLanes);
#pragma GCC unroll 4
        for (int m = 0; m < MO; m++) a[m][t] += d[m] * xv;
      }
    }
  }
  for (int m = 0; m < MO; m++)
    for (int t = 0; t < KT; t++) acc[(((o0 + m) * g.c + ch) * g.kh + ky) * g.kw + kx0 + t] += a[m][t];
}

template <int MO>
void weightTileKt(int kt, const DirectConv &g, int64_t fw, int64_t fplane, const float *xl, const float *dyl, v16 *acc,
                  int64_t o0, int64_t ch, int64_t ky, int64_t kx0, int64_t oy0, int64_t oy1) {
  switch (kt) {
    case 5: return weightTile<MO, 5>(g, fw, fplane, xl, dyl, acc, o0, ch, ky, kx0, oy0, oy1);
    case 4: return weightTile<MO, 4>(g, fw, fplane, xl, dyl, acc, o0, ch, ky, kx0, oy0, oy1);
    case 3: return weightTile<MO, 3>(g, fw, fplane, xl, dyl, acc, o0, ch, ky, kx0, oy0, oy1);
    case 2: return weightTile<MO, 2>(g, fw, fplane, xl, dyl, acc, o0, ch, ky, kx0, oy0, oy1);
    default: return weightTile<MO, 1>(g, fw, fplane, xl, dyl, acc, o0, ch, ky, kx0, oy0, oy1);
  }
}

/**
 * Output rows per band: a tile's MO dy rows of the band and the x rows they meet stay in L1 while
 * every (channel, ky, kx) tile sweeps them (a whole 28x28 plane per tile was L2-bound).
 */
int64_t bandRows(const DirectConv &g, int64_t mo) {
  const int64_t rowBytes = (mo + 1) * g.ow * kLanes * 4;
  return std::max<int64_t>(1, std::min<int64_t>(g.oh, (24 * 1024) / rowBytes));
}

/** Output channels per tile: at most 4, in even chunks (LeNet's 6 as 3 + 3, 16 as 4 x 4). */
int64_t outputChunk(int64_t oc) {
  const int64_t chunks = (oc + 3) / 4;
  return (oc + chunks - 1) / chunks;
}

}  // namespace

bool lanesConvEligible(const DirectConv &g) {
  return g.sh == 1 && g.sw == 1 && g.oh + g.kh - 1 >= g.h && g.ow + g.kw - 1 >= g.w;
}

namespace {
std::atomic<int> lanesMode{[] {
  const char *e = std::getenv("TORCHLET_CONV_LANES");
  return e && std::string(e) == "0" ? 0 : -1;
}()};
}  // namespace

int setLanesMode(int mode) { return lanesMode.exchange(mode); }

bool lanesConvChosen(const DirectConv &g) {
  const int m = lanesMode.load();
  if (m == 0 || !lanesConvEligible(g)) return false;
  if (m == 1) return true;
  // Fewer than 8 images would leave most of every vector empty. And each dy value, put into lanes
  // at about one shuffle, must take part in enough products: LeNet's conv1 (1 channel, 5x5: 25)
  // ran 0.6-0.7x as fast as its im2col plan here, conv2 (6 channels: 150) about 2x as fast.
  return g.n >= kLanes / 2 && g.c * g.kh * g.kw >= 64;
}

void lanesConvBackwardWeight(const DirectConv &g, const float *x, int xBlock, const float *dy, int dyBlock, float *dw,
                             float *db) {
  if (!lanesConvEligible(g)) throw std::invalid_argument("lanesConvBackwardWeight: not a lanes shape");
  // The padded input frame: output (oy, ox) with kernel tap (ky, kx) reads frame (oy + ky, ox + kx).
  const int64_t fh = g.oh + g.kh - 1, fw = g.ow + g.kw - 1, fplane = fh * fw, oplane = g.oh * g.ow;
  const Planes xs{x, g.c, g.h * g.w, xBlock}, dys{dy, g.oc, oplane, dyBlock};
  const int64_t groups = (g.n + kLanes - 1) / kLanes, taps = g.oc * g.c * g.kh * g.kw;
  const int64_t mo = outputChunk(g.oc), band = bandRows(g, mo);
  const int threads = omp_get_max_threads();
  std::vector<std::unique_ptr<LaneBuffer>> partW(threads), partB(threads);
#pragma omp parallel
  {
    const int t = omp_get_thread_num();
    partW[t] = std::make_unique<LaneBuffer>(taps * kLanes);
    partB[t] = std::make_unique<LaneBuffer>(g.oc * kLanes);
    v16 *accW = reinterpret_cast<v16 *>(partW[t]->p);
    v16 *accB = reinterpret_cast<v16 *>(partB[t]->p);
    LaneBuffer xl(g.c * fplane * kLanes), dyl(g.oc * oplane * kLanes);
#pragma omp for schedule(static)
    for (int64_t grp = 0; grp < groups; grp++) {
      const int64_t n0 = grp * kLanes, count = std::min(kLanes, g.n - n0);
      toLanes(xs, n0, count, g.h, g.w, xl.p, fh, fw, g.ph, g.pw);
      toLanes(dys, n0, count, g.oh, g.ow, dyl.p, g.oh, g.ow, 0, 0);
      for (int64_t o = 0; o < g.oc; o++) {
        v16 s = v16{};
        const float *d = dyl.p + o * oplane * kLanes;
        for (int64_t i = 0; i < oplane; i++) s += loada(d + i * kLanes);
        accB[o] += s;
      }
      for (int64_t oy0 = 0; oy0 < g.oh; oy0 += band) {
        const int64_t oy1 = std::min(g.oh, oy0 + band);
        for (int64_t o0 = 0; o0 < g.oc; o0 += mo) {
          const int64_t rows = std::min(mo, g.oc - o0);
          for (int64_t ch = 0; ch < g.c; ch++)
            for (int64_t ky = 0; ky < g.kh; ky++)
              for (int64_t kx0 = 0; kx0 < g.kw; kx0 += 5) {
                const int kt = static_cast<int>(std::min<int64_t>(5, g.kw - kx0));
                switch (rows) {
                  case 4: weightTileKt<4>(kt, g, fw, fplane, xl.p, dyl.p, accW, o0, ch, ky, kx0, oy0, oy1); break;
                  case 3: weightTileKt<3>(kt, g, fw, fplane, xl.p, dyl.p, accW, o0, ch, ky, kx0, oy0, oy1); break;
                  case 2: weightTileKt<2>(kt, g, fw, fplane, xl.p, dyl.p, accW, o0, ch, ky, kx0, oy0, oy1); break;
                  default: weightTileKt<1>(kt, g, fw, fplane, xl.p, dyl.p, accW, o0, ch, ky, kx0, oy0, oy1); break;
                }
              }
        }
      }
    }
  }
  // Lanes, then threads in order: the sums do not depend on scheduling.
  auto lanes = [](const v16 &v) {
    float s = 0.f;
    for (int64_t l = 0; l < kLanes; l++) s += v[l];
    return s;
  };
  for (int64_t k = 0; k < taps; k++) {
    float s = 0.f;
    for (int t = 0; t < threads; t++)
      if (partW[t]) s += lanes(reinterpret_cast<const v16 *>(partW[t]->p)[k]);
    dw[k] = s;
  }
  if (db) {
    for (int64_t o = 0; o < g.oc; o++) {
      float s = 0.f;
      for (int t = 0; t < threads; t++)
        if (partB[t]) s += lanes(reinterpret_cast<const v16 *>(partB[t]->p)[o]);
      db[o] = s;
    }
  }
}

}  // namespace tl
