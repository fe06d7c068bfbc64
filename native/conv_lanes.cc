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
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "activation.h"
#include "common.h"
#include "conv_direct.h"
#include "vec16.h"

namespace tl {
namespace {

typedef int vi16 __attribute__((vector_size(64)));
constexpr int64_t kLanes = 16;

inline v16 loada(const float *p) { return *reinterpret_cast<const v16 *>(p); }
inline void storea(float *p, v16 v) { *reinterpret_cast<v16 *>(p) = v; }
typedef float v16u __attribute__((vector_size(64), aligned(4)));
inline v16 loadu(const float *p) { return *reinterpret_cast<const v16u *>(p); }

inline int64_t roundUp(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

/**
 * What a thread keeps of its lane buffers between calls: one per slot (a buffer a kernel holds at
 * once). Every thread's set is registered, so releaseLaneBuffers can free them all from the
 * JavaScript thread between kernels.
 */
struct KeptBuffers {
  struct Kept {
    float *p = nullptr;
    size_t bytes = 0;
  } slots[4];
  void release() {
    for (Kept &k : slots) {
      std::free(k.p);
      k = Kept{};
    }
  }
};

std::mutex keptMutex;
std::vector<KeptBuffers *> &allKept() {
  static std::vector<KeptBuffers *> all;
  return all;
}

KeptBuffers &threadKept() {
  struct Registered {
    KeptBuffers buffers;
    Registered() {
      std::lock_guard<std::mutex> lock(keptMutex);
      allKept().push_back(&buffers);
    }
    ~Registered() {
      std::lock_guard<std::mutex> lock(keptMutex);
      auto &all = allKept();
      all.erase(std::remove(all.begin(), all.end(), &buffers), all.end());
      buffers.release();
    }
  };
  thread_local Registered r;
  return r.buffers;
}

/**
 * A zero-filled, 64-byte aligned float buffer, from memory this thread keeps between calls (slot:
 * one per buffer a kernel holds at once). Made afresh each call, the bigger ones (LeNet's conv2
 * backward-data frame: 332 KB) came from mmap, above the addon's 256 KiB threshold, and their
 * page faults cost as much as the transposes.
 */
struct LaneBuffer {
  float *p = nullptr;
  LaneBuffer(int slot, int64_t floats) {
    const size_t bytes = static_cast<size_t>(roundUp(std::max<int64_t>(floats, 16) * 4, 64));
    KeptBuffers::Kept &k = threadKept().slots[slot];
    if (k.bytes < bytes) {
      std::free(k.p);
      k.p = static_cast<float *>(std::aligned_alloc(64, bytes));
      k.bytes = k.p ? bytes : 0;
      if (!k.p) throw std::bad_alloc();
    }
    p = k.p;
    std::memset(p, 0, bytes);
  }
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
 * Puts images n0 .. n0+count of `src` (c planes of h x w) into lanes: element (ch, y, x) of image
 * n0 + l goes to dst[((ch * fh + y + top) * fw + x + left) * 16 + l]. Lanes from count on are zeroed;
 * the frame around each plane is left as it is (zero, from LaneBuffer).
 */
void toLanes(const Act &src, int64_t n0, int64_t count, int64_t h, int64_t w, float *dst, int64_t fh, int64_t fw,
             int64_t top, int64_t left) {
  const int64_t plane = h * w, step = src.step();
  for (int64_t ch = 0; ch < src.c; ch++) {
    const float *img[16];
    for (int64_t l = 0; l < kLanes; l++) img[l] = src.planeAt(n0 + std::min(l, count - 1), ch);
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

/**
 * The inverse of toLanes for a result: plane ch of image n0 + l (l < count) of `dst` (c planes of
 * plane values, plain NCHW) gets lane l of src[(ch * plane + i) * 16].
 */
void fromLanes(const float *src, int64_t c, int64_t plane, int64_t n0, int64_t count, float *dst) {
  for (int64_t ch = 0; ch < c; ch++) {
    const float *s = src + ch * plane * kLanes;
    float *img[16];
    for (int64_t l = 0; l < count; l++) img[l] = dst + ((n0 + l) * c + ch) * plane;
    int64_t i = 0;
    for (; i + 16 <= plane; i += 16) {
      v16 m[16];
      for (int t = 0; t < 16; t++) m[t] = loada(s + (i + t) * kLanes);
      transpose16(m);
      for (int64_t l = 0; l < count; l++) *reinterpret_cast<v16u *>(img[l] + i) = m[l];
    }
    for (; i < plane; i++)
      for (int64_t l = 0; l < count; l++) img[l][i] = s[i * kLanes + l];
  }
}

/**
 * What a lanes convolution computes: out[m][py][px] = bias[m] + sum over (i, ky, kx) of
 * w[((m * in + i) * kh + ky) * kw + kx] * frame[i][py + ky][px + kx], where the frame holds the
 * input planes (ih x iw) at row top, column left, zeros around them.
 */
struct LanesConv {
  int64_t in, out, ih, iw, kh, kw, oh, ow, top, left;
  int64_t fh() const { return oh + kh - 1; }
  int64_t fw() const { return ow + kw - 1; }
};

/**
 * Output channels m0 .. m0+MO by pixels px0 .. px0+PX of row py, kept in registers over every
 * input channel and kernel tap; taps whose frame row or columns are all padding are skipped.
 */
template <int MO, int PX>
void convTile(const LanesConv &c, const float *frame, const float *w, const float *bias, float *out, int64_t m0,
              int64_t py, int64_t px0, int64_t i0, int64_t i1) {
  const int64_t fw = c.fw(), fplane = c.fh() * fw, kk = c.kh * c.kw, oplane = c.oh * c.ow;
  v16 a[MO][PX];
  for (int m = 0; m < MO; m++) {
    float *o = out + ((m0 + m) * oplane + py * c.ow + px0) * kLanes;
    const v16 b = splat(bias ? bias[m0 + m] : 0.f);
    for (int t = 0; t < PX; t++) a[m][t] = i0 == 0 ? b : loada(o + t * kLanes);
  }
  const int64_t ky0 = std::max<int64_t>(0, c.top - py), ky1 = std::min<int64_t>(c.kh, c.top + c.ih - py);
  // Columns px0 + kx .. px0 + PX - 1 + kx must meet [left, left + iw).
  const int64_t kx0 = std::max<int64_t>(0, c.left - (px0 + PX - 1)), kx1 = std::min<int64_t>(c.kw, c.left + c.iw - px0);
  for (int64_t i = i0; i < i1; i++) {
    for (int64_t ky = ky0; ky < ky1; ky++) {
      const float *row = frame + (i * fplane + (py + ky) * fw + px0) * kLanes;
      const float *wr = w + (m0 * c.in + i) * kk + ky * c.kw;
      for (int64_t kx = kx0; kx < kx1; kx++) {
        v16 xv[PX];
#pragma GCC unroll 8
        for (int t = 0; t < PX; t++) xv[t] = loada(row + (t + kx) * kLanes);
#pragma GCC unroll 4
        for (int m = 0; m < MO; m++) {
          const v16 wv = splat(wr[m * c.in * kk + kx]);
#pragma GCC unroll 8
          for (int t = 0; t < PX; t++) a[m][t] += wv * xv[t];
        }
      }
    }
  }
  for (int m = 0; m < MO; m++)
    for (int t = 0; t < PX; t++) storea(out + ((m0 + m) * oplane + py * c.ow + px0 + t) * kLanes, a[m][t]);
}

template <int MO>
void convTilePx(int px, const LanesConv &c, const float *frame, const float *w, const float *bias, float *out,
                int64_t m0, int64_t py, int64_t px0, int64_t i0, int64_t i1) {
  switch (px) {
    case 8: return convTile<MO, 8>(c, frame, w, bias, out, m0, py, px0, i0, i1);
    case 7: return convTile<MO, 7>(c, frame, w, bias, out, m0, py, px0, i0, i1);
    case 6: return convTile<MO, 6>(c, frame, w, bias, out, m0, py, px0, i0, i1);
    case 5: return convTile<MO, 5>(c, frame, w, bias, out, m0, py, px0, i0, i1);
    case 4: return convTile<MO, 4>(c, frame, w, bias, out, m0, py, px0, i0, i1);
    case 3: return convTile<MO, 3>(c, frame, w, bias, out, m0, py, px0, i0, i1);
    case 2: return convTile<MO, 2>(c, frame, w, bias, out, m0, py, px0, i0, i1);
    default: return convTile<MO, 1>(c, frame, w, bias, out, m0, py, px0, i0, i1);
  }
}

/**
 * Runs a LanesConv over a batch: per group of 16 images, the input into lanes (framed), every tile,
 * the activation (act as activateRun takes it; others after, by the caller) and the result back
 * to plain NCHW planes.
 */
void lanesConvolve(const LanesConv &c, const Act &src, int64_t n, const float *w, const float *bias, float *dst,
                   int act) {
  const int64_t groups = (n + kLanes - 1) / kLanes, oplane = c.oh * c.ow;
  const int64_t mo = outputChunk(c.out);
  const int64_t pxMax = std::min<int64_t>(8, 24 / mo);
  // Pixel tiles of even width (LeNet's 10 as 5 + 5). A tile multiplies every tap for all its pixels,
  // so edge columns, whose taps partly read the frame's zero border, get tiles of their own where
  // there are 3 or more of them: LeNet's conv2 backward data (14 columns, border 4) as 4 + 6 + 4,
  // where 7 + 7 computed 70 column-taps a row for 50 that meet dy.
  std::vector<std::pair<int64_t, int>> tiles;
  {
    int64_t lo = std::min(std::max<int64_t>(c.left, 0), c.ow);
    int64_t hi = std::min(std::max(c.left + c.iw - c.kw + 1, lo), c.ow);
    if (lo < 3) lo = 0;
    if (c.ow - hi < 3) hi = c.ow;
    if (hi <= lo) lo = 0, hi = c.ow;
    const int64_t cuts[] = {0, lo, hi, c.ow};
    for (int s = 0; s < 3; s++) {
      const int64_t a = cuts[s], len = cuts[s + 1] - a;
      if (len <= 0) continue;
      const int64_t count = (len + pxMax - 1) / pxMax, px = (len + count - 1) / count;
      for (int64_t x = a; x < a + len; x += px) tiles.emplace_back(x, static_cast<int>(std::min(px, a + len - x)));
    }
  }
  // Input channels per pass over an output row, so that the kh frame rows they read stay in L1
  // across the row's tiles (all 16 of LeNet's conv2 backward-data channels at once were L2-bound);
  // the partial sums wait in the output buffer between passes.
  const int64_t perPass = std::max<int64_t>(1, (32 * 1024) / (c.kh * c.fw() * kLanes * 4));
  const int64_t passes = (c.in + perPass - 1) / perPass, inBlock = (c.in + passes - 1) / passes;
#pragma omp parallel
  {
    LaneBuffer frame(0, c.in * c.fh() * c.fw() * kLanes), out(1, c.out * oplane * kLanes);
#pragma omp for schedule(static)
    for (int64_t grp = 0; grp < groups; grp++) {
      const int64_t n0 = grp * kLanes, count = std::min(kLanes, n - n0);
      toLanes(src, n0, count, c.ih, c.iw, frame.p, c.fh(), c.fw(), c.top, c.left);
      for (int64_t py = 0; py < c.oh; py++)
        for (int64_t i0 = 0; i0 < c.in; i0 += inBlock) {
          const int64_t i1 = std::min(c.in, i0 + inBlock);
          for (int64_t m0 = 0; m0 < c.out; m0 += mo) {
            const int64_t rows = std::min(mo, c.out - m0);
            for (const auto &[px0, pw] : tiles) {
              switch (rows) {
                case 4: convTilePx<4>(pw, c, frame.p, w, bias, out.p, m0, py, px0, i0, i1); break;
                case 3: convTilePx<3>(pw, c, frame.p, w, bias, out.p, m0, py, px0, i0, i1); break;
                case 2: convTilePx<2>(pw, c, frame.p, w, bias, out.p, m0, py, px0, i0, i1); break;
                default: convTilePx<1>(pw, c, frame.p, w, bias, out.p, m0, py, px0, i0, i1); break;
              }
            }
          }
        }
      if (act != 0 && canActivateRun(act)) activateRun(out.p, c.out * oplane * kLanes, act);
      fromLanes(out.p, c.out, oplane, n0, count, dst);
    }
  }
}

}  // namespace

void releaseLaneBuffers() {
  std::lock_guard<std::mutex> lock(keptMutex);
  for (KeptBuffers *b : allKept()) b->release();
}

size_t laneBufferBytes() {
  std::lock_guard<std::mutex> lock(keptMutex);
  size_t bytes = 0;
  for (const KeptBuffers *b : allKept())
    for (const KeptBuffers::Kept &k : b->slots) bytes += k.bytes;
  return bytes;
}

bool lanesConvEligible(const DirectConv &g) {
  // The input, at (ph, pw) in a frame of (oh + kh - 1) x (ow + kw - 1), must fit in it.
  return g.sh == 1 && g.sw == 1 && g.ph + g.h <= g.oh + g.kh - 1 && g.pw + g.w <= g.ow + g.kw - 1;
}

namespace {
std::atomic<int> lanesMode{[] {
  const char *e = std::getenv("TORCHLET_CONV_LANES");
  return e && std::string(e) == "0" ? 0 : -1;
}()};
}  // namespace

int setLanesMode(int mode) { return lanesMode.exchange(mode); }

bool lanesConvChosenBothWays(const DirectConv &g) {
  // Forward and backward data transpose both their input and their output: each value of either
  // must take part in enough products (LeNet's conv1: each output in only 25).
  return lanesConvChosen(g) && (lanesMode.load() == 1 || g.oc * g.kh * g.kw >= 64);
}

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
  const Act xs{x, g.c, g.h * g.w, xBlock}, dys{dy, g.oc, oplane, dyBlock};
  const int64_t groups = (g.n + kLanes - 1) / kLanes, taps = g.oc * g.c * g.kh * g.kw;
  const int64_t mo = outputChunk(g.oc), band = bandRows(g, mo);
  const int threads = omp_get_max_threads();
  std::vector<std::unique_ptr<LaneBuffer>> partW(threads), partB(threads);
#pragma omp parallel
  {
    const int t = omp_get_thread_num();
    partW[t] = std::make_unique<LaneBuffer>(0, taps * kLanes);
    partB[t] = std::make_unique<LaneBuffer>(1, g.oc * kLanes);
    v16 *accW = reinterpret_cast<v16 *>(partW[t]->p);
    v16 *accB = reinterpret_cast<v16 *>(partB[t]->p);
    // (slots 0 and 1 hold the partial sums)
    LaneBuffer xl(2, g.c * fplane * kLanes), dyl(3, g.oc * oplane * kLanes);
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

void lanesConvForward(const DirectConv &g, const float *x, const float *w, const float *bias, float *y, int act) {
  if (!lanesConvEligible(g)) throw std::invalid_argument("lanesConvForward: not a lanes shape");
  const LanesConv c{g.c, g.oc, g.h, g.w, g.kh, g.kw, g.oh, g.ow, g.ph, g.pw};
  lanesConvolve(c, Act{x, g.c, g.h * g.w, 0}, g.n, w, bias, y, act);
  if (act != 0 && !canActivateRun(act)) activateInPlace(y, g.n * g.oc * g.oh * g.ow, act);
}

void lanesConvBackwardData(const DirectConv &g, const float *dy, int dyBlock, const float *w, float *dx) {
  if (!lanesConvEligible(g) || g.kh - 1 < g.ph || g.kw - 1 < g.pw)
    throw std::invalid_argument("lanesConvBackwardData: not a lanes shape");
  // dx is the convolution of dy, framed by (kh-1-ph, kw-1-pw), with the kernel flipped and the
  // channels swapped: w'[c][o][ky][kx] = w[o][c][kh-1-ky][kw-1-kx].
  const int64_t kk = g.kh * g.kw;
  std::vector<float> flipped(g.c * g.oc * kk);
  for (int64_t ci = 0; ci < g.c; ci++)
    for (int64_t o = 0; o < g.oc; o++)
      for (int64_t t = 0; t < kk; t++) flipped[(ci * g.oc + o) * kk + t] = w[(o * g.c + ci) * kk + (kk - 1 - t)];
  const LanesConv c{g.oc, g.c, g.oh, g.ow, g.kh, g.kw, g.h, g.w, g.kh - 1 - g.ph, g.kw - 1 - g.pw};
  lanesConvolve(c, Act{dy, g.oc, g.oh * g.ow, dyBlock}, g.n, flipped.data(), nullptr, dx, 0);
}

}  // namespace tl
