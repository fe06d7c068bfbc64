// Convolutions with few channels (LeNet's 1->6 and 6->16), computed per image as
// im2col + a register-blocked matrix product, all in plain NCHW.
//
// oneDNN's blocked kernels pad channels to 16 (conv1's 6 outputs become 16, so
// 2.7x the work and memory) and reorder NCHW <-> blocked around every call;
// for these shapes that costs more than the arithmetic. Here each image's
// patches are laid out as a [C*KH*KW, OH*OW] matrix (padded to a multiple of
// 16 columns) and multiplied by the packed weights with 8x32 tiles of vector
// accumulators. Images are split across OpenMP threads; the weight gradient
// is summed per thread and the per-thread parts added in thread order, so
// results do not depend on scheduling. Which plan runs for a shape is decided
// by timing (see the tuner in conv.cc).
#pragma GCC optimize("fp-contract=fast")  // let the vector updates below become FMAs

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <vector>

#include "activation.h"
#include "common.h"
#include "conv_direct.h"
#include "pool.h"
#include "vec16.h"

namespace tl {
namespace {

inline v16 load16(const float *p) {
  v16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store16(float *p, v16 v) { std::memcpy(p, &v, sizeof v); }
// Unaligned loads and stores through a 4-byte-aligned vector type: GCC keeps these in registers,
// where the memcpy forms above can leave a stack copy behind in unrolled tiles.
typedef float v16u __attribute__((vector_size(64), aligned(4)));
inline v16 loadu16(const float *p) { return *reinterpret_cast<const v16u *>(p); }
inline void storeu16(float *p, v16 v) { *reinterpret_cast<v16u *>(p) = v; }

constexpr int64_t kMr = 8;   // rows (output channels) per tile
constexpr int64_t kNr = 16;  // columns per vector
constexpr int64_t kGroup = 4;  // images per weight-gradient pass (see gemmTransposedAcc)

inline int64_t roundUp(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

/** A 64-byte aligned float buffer (per thread, per call). */
struct Scratch {
  float *p = nullptr;
  explicit Scratch(int64_t floats) {
    size_t bytes = static_cast<size_t>(roundUp(std::max<int64_t>(floats, 16) * 4, 64));
    p = static_cast<float *>(std::aligned_alloc(64, bytes));
    if (!p) throw std::bad_alloc();
  }
  ~Scratch() { std::free(p); }
  Scratch(const Scratch &) = delete;
  Scratch &operator=(const Scratch &) = delete;
};

struct Dims {
  int64_t ckk, p, pp;  // patch length, output pixels, output pixels padded to kNr
  explicit Dims(const DirectConv &g) : ckk(g.c * g.kh * g.kw), p(g.oh * g.ow), pp(roundUp(g.oh * g.ow, kNr)) {}
};

/** For kernel column kx: output columns [lo, hi) whose input column lies inside the image. */
void validColumns(const DirectConv &g, int64_t kx, int64_t &lo, int64_t &hi) {
  lo = 0;
  hi = g.ow;
  while (lo < g.ow && lo * g.sw - g.pw + kx < 0) lo++;
  while (hi > lo && (hi - 1) * g.sw - g.pw + kx >= g.w) hi--;
}

/** cols[(c,ky,kx)][oy*OW+ox] = x[c][oy*sh-ph+ky][ox*sw-pw+kx], 0 outside the image and in the padding columns. */
void im2col(const DirectConv &g, const Dims &d, const float *x, float *cols) {
  for (int64_t c = 0; c < g.c; c++) {
    for (int64_t ky = 0; ky < g.kh; ky++) {
      for (int64_t kx = 0; kx < g.kw; kx++) {
        float *row = cols + ((c * g.kh + ky) * g.kw + kx) * d.pp;
        int64_t lo, hi;
        validColumns(g, kx, lo, hi);
        for (int64_t oy = 0; oy < g.oh; oy++) {
          float *dst = row + oy * g.ow;
          const int64_t iy = oy * g.sh - g.ph + ky;
          if (iy < 0 || iy >= g.h) {
            std::fill(dst, dst + g.ow, 0.f);
            continue;
          }
          const float *src = x + (c * g.h + iy) * g.w - g.pw + kx;
          std::fill(dst, dst + lo, 0.f);
          if (g.sw == 1) std::copy(src + lo, src + hi, dst + lo);
          else
            for (int64_t ox = lo; ox < hi; ox++) dst[ox] = src[ox * g.sw];
          std::fill(dst + hi, dst + g.ow, 0.f);
        }
        std::fill(row + d.p, row + d.pp, 0.f);
      }
    }
  }
}

/** dx[c][iy][ix] += cols[(c,ky,kx)][oy*OW+ox]: the adjoint of im2col (dx zeroed first). */
void col2im(const DirectConv &g, const Dims &d, const float *cols, float *dx) {
  std::fill(dx, dx + g.c * g.h * g.w, 0.f);
  for (int64_t c = 0; c < g.c; c++) {
    for (int64_t ky = 0; ky < g.kh; ky++) {
      for (int64_t kx = 0; kx < g.kw; kx++) {
        const float *row = cols + ((c * g.kh + ky) * g.kw + kx) * d.pp;
        int64_t lo, hi;
        validColumns(g, kx, lo, hi);
        for (int64_t oy = 0; oy < g.oh; oy++) {
          const int64_t iy = oy * g.sh - g.ph + ky;
          if (iy < 0 || iy >= g.h) continue;
          float *dst = dx + (c * g.h + iy) * g.w - g.pw + kx;
          const float *src = row + oy * g.ow;
          if (g.sw == 1)  // contiguous: lets the compiler vectorize the row
            for (int64_t ox = lo; ox < hi; ox++) dst[ox] += src[ox];
          else
            for (int64_t ox = lo; ox < hi; ox++) dst[ox * g.sw] += src[ox];
        }
      }
    }
  }
}

/**
 * One register tile of gemmPacked: rows m0..m0+R of C, columns j..j+16*NV. R and NV are compile-time
 * constants so the R*NV accumulators, the NV B vectors and the broadcast A value all stay in
 * vector registers (with runtime bounds GCC kept the B vectors on the stack and every FMA
 * re-read them from memory: about a third of peak on AVX-512).
 */
template <int R, int NV>
inline void gemmTile(int64_t K, const float *A, const float *B, const int64_t *off, const float *init, float *C,
                     int64_t ldc, int64_t j, int64_t rows, const std::vector<int32_t> *ks) {
  v16 acc[R][NV];
#pragma GCC unroll 8
  for (int r = 0; r < R; r++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) acc[r][v] = splat(init[r]);
  const int64_t nk = ks ? static_cast<int64_t>(ks->size()) : K;
  const int32_t *kl = ks ? ks->data() : nullptr;
  for (int64_t t = 0; t < nk; t++) {
    const int64_t k = kl ? kl[t] : t;
    const float *b = B + off[k] + j;
    v16 bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) bv[v] = loadu16(b + v * kNr);
    const float *a = A + k * kMr;
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
      const v16 av = splat(a[r]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) acc[r][v] += av * bv[v];
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; r++) {
    if (r >= rows) break;
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) storeu16(C + r * ldc + j + v * kNr, acc[r][v]);
  }
}

/**
 * The column tiles of an N-column product, in the order gemmPanel computes them: f(first column,
 * vectors), widest first. 8 rows x 3 vectors is 24 accumulators + 3 B vectors + 1 broadcast of the
 * 32 AVX-512 registers.
 */
template <class F>
void forEachTile(int64_t N, F f) {
  int64_t j = 0;
  for (; j + 3 * kNr <= N; j += 3 * kNr) f(j, 3);
  if (j + 2 * kNr <= N) {
    f(j, 2);
    j += 2 * kNr;
  }
  if (j < N) f(j, 1);
}

/** Per column tile of forEachTile(N), the depths k worth multiplying. */
using TileDepths = std::vector<std::vector<int32_t>>;

/**
 * gemmPacked for one 8-row panel with R live rows (R = the panel's rows, rounded to what tiles
 * exist); tile t multiplies only the depths (*depths)[t] when depths is given.
 */
template <int R>
void gemmPanel(int64_t N, int64_t K, const float *A, const float *B, const int64_t *off, const float *init, float *C,
               int64_t ldc, int64_t rows, const TileDepths *depths) {
  size_t t = 0;
  forEachTile(N, [&](int64_t j, int nv) {
    const std::vector<int32_t> *ks = depths ? &(*depths)[t++] : nullptr;
    if (nv == 3) gemmTile<R, 3>(K, A, B, off, init, C, ldc, j, rows, ks);
    else if (nv == 2) gemmTile<R, 2>(K, A, B, off, init, C, ldc, j, rows, ks);
    else gemmTile<R, 1>(K, A, B, off, init, C, ldc, j, rows, ks);
  });
}

/**
 * C[m][j] = bias[m] + sum_k A[m][k] B_k[j] for m < M, j < N (N a multiple of kNr), where row k of
 * B starts at B + off[k] (rows may overlap: the stride-1 plans read shifted views of one padded
 * image). A is packed as [ceil(M/8)][K][8]; C has row stride ldc; rows beyond M are not written.
 */
void gemmPacked(int64_t M, int64_t N, int64_t K, const float *Ap, const float *B, const int64_t *off,
                const float *bias, float *C, int64_t ldc, const TileDepths *depths = nullptr) {
  for (int64_t m0 = 0; m0 < M; m0 += kMr) {
    const float *A = Ap + (m0 / kMr) * K * kMr;
    const int64_t rows = std::min(kMr, M - m0);
    float init[kMr];
    for (int64_t r = 0; r < kMr; r++) init[r] = bias && r < rows ? bias[m0 + r] : 0.f;
    float *Cm = C + m0 * ldc;
    // Few live rows (LeNet's 6 and 1 channels) get a tile of that height, not 8 rows of wasted FMAs.
    if (rows > 6) gemmPanel<8>(N, K, A, B, off, init, Cm, ldc, rows, depths);
    else if (rows > 4) gemmPanel<6>(N, K, A, B, off, init, Cm, ldc, rows, depths);
    else if (rows > 2) gemmPanel<4>(N, K, A, B, off, init, Cm, ldc, rows, depths);
    else gemmPanel<2>(N, K, A, B, off, init, Cm, ldc, rows, depths);
  }
}

/**
 * dW[m][k] += sum_g sum_j D_g[m][j] B_gk[j] over `images` images g (D_g = D + g * dStride, B_gk =
 * B + g * bStride + off[k]; j < N, a multiple of kNr), as vector partial sums acc[m * ldacc + k]; M
 * is a multiple of MI and K of 4. Each MIx4 block of partial sums stays in registers over all of j
 * and every image of the group: one LeNet image has only 9 column vectors, too few to pay for
 * loading and storing the accumulators. The 4 B vectors are loaded once per column block, each D
 * vector once for its row. MI is 6 for LeNet's conv1 (6 output channels, which 4-row blocks padded
 * to 8) and 4 otherwise; 6x4 accumulators + 4 B vectors + 1 D vector fit AVX-512's 32 registers.
 */
template <int MI>
void gemmTransposedAcc(int64_t M, int64_t N, int64_t K, const float *D, int64_t ldd, const float *B,
                       const int64_t *off, v16 *acc, int64_t ldacc, int64_t images, int64_t dStride, int64_t bStride) {
  for (int64_t m0 = 0; m0 < M; m0 += MI) {
    const float *dr = D + m0 * ldd;
    for (int64_t k0 = 0; k0 < K; k0 += 4) {
      const float *br[4];
      for (int k = 0; k < 4; k++) br[k] = B + off[k0 + k];
      v16 a[MI][4];
#pragma GCC unroll 6
      for (int i = 0; i < MI; i++)
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) a[i][k] = acc[(m0 + i) * ldacc + k0 + k];
      for (int64_t g = 0; g < images; g++) {
        const float *dg = dr + g * dStride;
        const int64_t bg = g * bStride;
        for (int64_t j = 0; j < N; j += kNr) {
          v16 bv[4];
#pragma GCC unroll 4
          for (int k = 0; k < 4; k++) {
            bv[k] = loadu16(br[k] + bg + j);
            // Keep bv in a register: GCC would fold the load into each of its FMAs, and these rows
            // start anywhere in a cache line, so every folded load would be a split load.
            asm("" : "+v"(bv[k]));
          }
#pragma GCC unroll 6
          for (int i = 0; i < MI; i++) {
            const v16 dv = loadu16(dg + i * ldd + j);
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++) a[i][k] += dv * bv[k];
          }
        }
      }
#pragma GCC unroll 6
      for (int i = 0; i < MI; i++)
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) acc[(m0 + i) * ldacc + k0 + k] = a[i][k];
    }
  }
}

/** Rows per weight-gradient block: 6 where that pads the output channels less than 4 does (LeNet's 6). */
int64_t weightBlockRows(int64_t oc) { return roundUp(oc, 6) < roundUp(oc, 4) ? 6 : 4; }

/** Row offsets k * ld (an explicit matrix, for the im2col plans). */
std::vector<int64_t> denseRows(int64_t K, int64_t ld) {
  std::vector<int64_t> off(K);
  for (int64_t k = 0; k < K; k++) off[k] = k * ld;
  return off;
}

/**
 * Stride-1 plans work on a zero-padded copy of each image, "wide" rows of wp columns: output
 * (oy, ox) sits at column oy * wp + ox, and patch element (c, ky, kx) of every output is the same
 * padded image shifted by c * hp * wp + ky * wp + kx. So the patch matrix is never built: its rows
 * are offsets into the padded image (gemmPacked's `off`). Columns ox >= ow are computed and dropped.
 */
struct Wide {
  int64_t hp, wp, n, size;  // padded plane, computed columns (multiple of kNr), buffer floats
  std::vector<int64_t> off;  // per patch element (c, ky, kx)
  Wide(int64_t c, int64_t hp_, int64_t wp_, int64_t kh, int64_t kw, int64_t oh) : hp(hp_), wp(wp_) {
    n = roundUp(oh * wp, kNr);
    for (int64_t ci = 0; ci < c; ci++)
      for (int64_t ky = 0; ky < kh; ky++)
        for (int64_t kx = 0; kx < kw; kx++) off.push_back(ci * hp * wp + ky * wp + kx);
    size = off.back() + n + kNr;  // the furthest read, plus slack
  }
  /** Copies the wide result rows [planes][n] (h rows of wp columns each) to compact [planes][h][w], dropping columns >= w. */
  void narrow(const float *wide, int64_t planes, int64_t h, int64_t w, float *out) const {
    for (int64_t p = 0; p < planes; p++)
      for (int64_t y = 0; y < h; y++) {
        const float *s = wide + p * n + y * wp;
        float *t = out + (p * h + y) * w;
        for (int64_t x = 0; x < w; x++) t[x] = s[x];
      }
  }
  /** Copies image n's planes [c][h][w] into the zero-initialized buffer at row top, column left (borders stay 0). */
  void fill(float *buf, const Act &src, int64_t n, int64_t h, int64_t w, int64_t top, int64_t left) const {
    const int64_t step = src.step();
    for (int64_t ci = 0; ci < src.c; ci++) {
      const float *plane = src.planeAt(n, ci);
      for (int64_t iy = 0; iy < h; iy++) {
        float *d = buf + ci * hp * wp + (iy + top) * wp + left;
        if (step == 1) {
          const float *s = plane + iy * w;
          for (int64_t ix = 0; ix < w; ix++) d[ix] = s[ix];
        } else {
          const float *s = plane + iy * w * step;
          for (int64_t ix = 0; ix < w; ix++) d[ix] = s[ix * step];
        }
      }
    }
  }
};

/** Zero-filled per-thread buffer. */
struct ZeroScratch : Scratch {
  explicit ZeroScratch(int64_t floats) : Scratch(floats) { std::fill(p, p + std::max<int64_t>(floats, 16), 0.f); }
};

/** Packs rows of a row-major [M][K] matrix (element (m, k) at src[m * rs + k * ks]) as [ceil(M/8)][K][8]. */
std::vector<float> pack(int64_t M, int64_t K, const float *src, int64_t rs, int64_t ks) {
  std::vector<float> out(roundUp(M, kMr) * K, 0.f);
  for (int64_t m = 0; m < M; m++)
    for (int64_t k = 0; k < K; k++) out[((m / kMr) * K + k) * kMr + m % kMr] = src[m * rs + k * ks];
  return out;
}

}  // namespace

bool directConvEligible(const DirectConv &g) {
  const int64_t ckk = g.c * g.kh * g.kw;
  return g.oc <= 64 && ckk <= 1024 && g.oh * g.ow >= 16;
}

namespace {

bool unitStride(const DirectConv &g) { return g.sh == 1 && g.sw == 1; }

}  // namespace

bool directWeightTakesBlockedX(const DirectConv &g) { return unitStride(g); }

namespace {

/** directConvForward's own plans; with `pooled`, also the 2x2 stride-2 average of each image's y while it is in cache. */
void forwardPlans(const DirectConv &g, const float *x, const float *w, const float *bias, float *y, int act, float *pooled) {
  const Dims d(g);
  // ReLU and sigmoid are applied per image while it is in cache; tanh by oneDNN afterwards.
  const bool perImage = act != 0 && canActivateRun(act);
  const std::vector<float> wp = pack(g.oc, d.ckk, w, d.ckk, 1);
  const int64_t plane = g.oh * g.ow;
  if (unitStride(g)) {
    const Wide wd(g.c, std::max(g.h + 2 * g.ph, g.oh + g.kh - 1), std::max(g.w + 2 * g.pw, g.ow + g.kw - 1), g.kh, g.kw, g.oh);
    const Act xs{x, g.c, g.h * g.w, 0};
#pragma omp parallel
    {
      ZeroScratch xp(wd.size);
      Scratch out(g.oc * wd.n);
#pragma omp for schedule(static)
      for (int64_t n = 0; n < g.n; n++) {
        wd.fill(xp.p, xs, n, g.h, g.w, g.ph, g.pw);
        gemmPacked(g.oc, wd.n, d.ckk, wp.data(), xp.p, wd.off.data(), bias, out.p, wd.n);
        float *yn = y + n * g.oc * plane;
        wd.narrow(out.p, g.oc, g.oh, g.ow, yn);
        if (perImage) activateRun(yn, g.oc * plane, act);
        if (pooled) {
          const int64_t pp = (g.oh / 2) * (g.ow / 2);
          for (int64_t o = 0; o < g.oc; o++) avgPool2x2Plane(yn + o * plane, pooled + (n * g.oc + o) * pp, g.ow, g.oh / 2, g.ow / 2);
        }
      }
    }
    if (act && !perImage) activateInPlace(y, g.n * g.oc * plane, act);
    return;
  }
  if (pooled) throw std::invalid_argument("directConvForward: pooling is fused into the stride-1 plan only");
  const std::vector<int64_t> rows = denseRows(d.ckk, d.pp);
#pragma omp parallel
  {
    Scratch cols(d.ckk * d.pp), out(g.oc * d.pp);
#pragma omp for schedule(static)
    for (int64_t n = 0; n < g.n; n++) {
      im2col(g, d, x + n * g.c * g.h * g.w, cols.p);
      gemmPacked(g.oc, d.pp, d.ckk, wp.data(), cols.p, rows.data(), bias, out.p, d.pp);
      float *yn = y + n * g.oc * plane;
      for (int64_t o = 0; o < g.oc; o++) std::copy(out.p + o * d.pp, out.p + o * d.pp + plane, yn + o * plane);
      if (perImage) activateRun(yn, g.oc * plane, act);
    }
  }
  if (act && !perImage) activateInPlace(y, g.n * g.oc * plane, act);
}

}  // namespace

void directConvForward(const DirectConv &g, const float *x, const float *w, const float *bias, float *y, int act) {
  if (lanesConvChosenBothWays(g)) return lanesConvForward(g, x, w, bias, y, act);
  forwardPlans(g, x, w, bias, y, act, nullptr);
}

bool directAvgPoolFusable(const DirectConv &g, int act) {
  // lanesConvChosen covers the forward's lanes plan too (lanesConvChosenBothWays implies it); tanh
  // is not applied per image (canActivateRun).
  return directConvEligible(g) && unitStride(g) && !lanesConvChosen(g) && (act == 0 || canActivateRun(act)) && g.oh >= 2 &&
         g.ow >= 2;
}

void directConvForwardAvgPool(const DirectConv &g, const float *x, const float *w, const float *bias, float *y, int act,
                              float *pooled) {
  if (!directAvgPoolFusable(g, act)) throw std::invalid_argument("directConvForwardAvgPool: shape not fusable");
  forwardPlans(g, x, w, bias, y, act, pooled);
}

void directConvBackwardData(const DirectConv &g, const float *dy, int dyBlock, const float *w, float *dx) {
  if (lanesConvChosenBothWays(g) && g.ph < g.kh && g.pw < g.kw) return lanesConvBackwardData(g, dy, dyBlock, w, dx);
  const Dims d(g);
  const int64_t plane = g.oh * g.ow, inPlane = g.h * g.w;
  const Act dys{dy, g.oc, plane, dyBlock};
  const int64_t qh = g.kh - 1 - g.ph, qw = g.kw - 1 - g.pw;
  if (unitStride(g) && qh >= 0 && qw >= 0) {
    // dx is the forward convolution of dy, padded by (kh-1-ph, kw-1-pw), with the weights flipped
    // and in/out channels swapped: A[c][(oc, ky', kx')] = w[oc][c][kh-1-ky'][kw-1-kx'].
    const int64_t kk = g.kh * g.kw;
    std::vector<float> flipped(g.c * g.oc * kk);
    for (int64_t c = 0; c < g.c; c++)
      for (int64_t o = 0; o < g.oc; o++)
        for (int64_t t = 0; t < kk; t++) flipped[(c * g.oc + o) * kk + t] = w[(o * g.c + c) * kk + (kk - 1 - t)];
    const std::vector<float> ap = pack(g.c, g.oc * kk, flipped.data(), g.oc * kk, 1);
    const Wide wd(g.oc, std::max(g.oh + 2 * qh, g.h + g.kh - 1), std::max(g.ow + 2 * qw, g.w + g.kw - 1), g.kh, g.kw, g.h);
    // Most of the padded dy is padding (LeNet's conv2: 10x10 in an 18x18 frame), so for each column
    // tile only the depths (oc, ky', kx') whose rows meet dy's rows are multiplied: a skipped depth
    // reads only zeros for every output the tile keeps. Rows past the plane are read only for
    // columns that are computed and dropped.
    TileDepths depths;
    forEachTile(wd.n, [&](int64_t j, int nv) {
      std::vector<int32_t> ks;
      for (int64_t k = 0; k < g.oc * kk; k++) {
        const int64_t inPlaneOff = wd.off[k] % (wd.hp * wd.wp);
        const int64_t r0 = (inPlaneOff + j) / wd.wp;
        const int64_t r1 = std::min((inPlaneOff + j + nv * kNr - 1) / wd.wp, wd.hp - 1);
        if (r1 >= qh && r0 < qh + g.oh) ks.push_back(static_cast<int32_t>(k));
      }
      depths.push_back(std::move(ks));
    });
#pragma omp parallel
    {
      ZeroScratch dyp(wd.size);
      Scratch out(g.c * wd.n);
#pragma omp for schedule(static)
      for (int64_t n = 0; n < g.n; n++) {
        wd.fill(dyp.p, dys, n, g.oh, g.ow, qh, qw);
        gemmPacked(g.c, wd.n, g.oc * kk, ap.data(), dyp.p, wd.off.data(), nullptr, out.p, wd.n, &depths);
        wd.narrow(out.p, g.c, g.h, g.w, dx + n * g.c * inPlane);
      }
    }
    return;
  }
  // dcols[(c,ky,kx)][j] = sum_oc w[oc][(c,ky,kx)] dy[oc][j]: A is w transposed; then col2im.
  const std::vector<float> wt = pack(d.ckk, g.oc, w, 1, d.ckk);
  const std::vector<int64_t> rows = denseRows(g.oc, d.pp);
#pragma omp parallel
  {
    Scratch dyp(g.oc * d.pp), dcols(d.ckk * d.pp);
#pragma omp for schedule(static)
    for (int64_t n = 0; n < g.n; n++) {
      for (int64_t o = 0; o < g.oc; o++) {
        const float *src = dys.planeAt(n, o);
        const int64_t step = dys.step();
        for (int64_t i = 0; i < plane; i++) dyp.p[o * d.pp + i] = src[i * step];
        std::fill(dyp.p + o * d.pp + plane, dyp.p + (o + 1) * d.pp, 0.f);
      }
      gemmPacked(d.ckk, d.pp, g.oc, wt.data(), dyp.p, rows.data(), nullptr, dcols.p, d.pp);
      col2im(g, d, dcols.p, dx + n * g.c * inPlane);
    }
  }
}

namespace {

/** The gradient of a 2x2 stride-2 average pool of act(conv): dy is made per image from these (poolActivationPlane). */
struct PoolGrad {
  const float *y, *dPooled;
  int act;
};

/** directConvBackwardWeight's own plans; with pg, dy is computed per image from the pool's gradient instead of read. */
void weightPlans(const DirectConv &g, const float *x, int xBlock, const float *dy, int dyBlock, const PoolGrad *pg,
                 float *dw, float *db) {
  const Dims d(g);
  const int64_t plane = g.oh * g.ow;
  const Act xs{x, g.c, g.h * g.w, xBlock}, dys{dy, g.oc, plane, dyBlock};
  const int64_t mi = weightBlockRows(g.oc);
  const int64_t ocp = roundUp(g.oc, mi), ckkp = roundUp(d.ckk, 4);
  const bool wide = unitStride(g);
  if (xBlock != 0 && !wide) throw std::invalid_argument("directConvBackwardWeight: a blocked x needs the stride-1 plan");
  const Wide wd(g.c, std::max(g.h + 2 * g.ph, g.oh + g.kh - 1), std::max(g.w + 2 * g.pw, g.ow + g.kw - 1), g.kh, g.kw, g.oh);
  // Output pixels as columns: wide rows (stride 1) or the patch matrix's columns.
  const int64_t cols = wide ? wd.n : d.pp, ld = wide ? wd.wp : g.ow;
  std::vector<int64_t> off = wide ? wd.off : denseRows(d.ckk, d.pp);
  off.resize(ckkp, off.empty() ? 0 : off.back());  // padding rows: any valid row (their sums are dropped)
  // Per-image scratch, rounded to whole cache lines so every image's rows start 64-byte aligned.
  const int64_t srcSize = roundUp(wide ? wd.size : d.ckk * d.pp, kNr), dySize = ocp * cols;
  const int threads = omp_get_max_threads();
  // Per-thread vector partial sums (reduced across lanes once, at the end).
  std::vector<std::unique_ptr<Scratch>> partW(threads), partB(threads);
#pragma omp parallel
  {
    const int t = omp_get_thread_num();
    partW[t] = std::make_unique<Scratch>(ocp * ckkp * kNr);
    partB[t] = std::make_unique<Scratch>(ocp * kNr);
    v16 *accW = reinterpret_cast<v16 *>(partW[t]->p);
    v16 *accB = reinterpret_cast<v16 *>(partB[t]->p);
    for (int64_t i = 0; i < ocp * ckkp; i++) accW[i] = v16{};
    for (int64_t i = 0; i < ocp; i++) accB[i] = v16{};
    ZeroScratch src(srcSize * kGroup), dyw(dySize * kGroup);
    std::vector<float> share(pg ? 2 * g.ow : 0);
#pragma omp for schedule(static)
    for (int64_t n0 = 0; n0 < g.n; n0 += kGroup) {
      const int64_t images = std::min(kGroup, g.n - n0);
      for (int64_t i = 0; i < images; i++) {
        const int64_t n = n0 + i;
        if (wide) wd.fill(src.p + i * srcSize, xs, n, g.h, g.w, g.ph, g.pw);
        else im2col(g, d, x + n * g.c * g.h * g.w, src.p + i * srcSize);
        // dy in the same column layout; the columns between rows (and the tail) stay 0.
        float *dyi = dyw.p + i * dySize;
        const int64_t step = dys.step();
        for (int64_t o = 0; o < g.oc; o++) {
          if (pg) {
            const int64_t pp = (g.oh / 2) * (g.ow / 2);
            poolActivationPlane(pg->act, pg->y + (n * g.oc + o) * plane, pg->dPooled + (n * g.oc + o) * pp, dyi + o * cols, ld,
                                g.oh, g.ow, g.oh / 2, g.ow / 2, share.data());
            continue;
          }
          const float *src = dys.planeAt(n, o);
          for (int64_t oy = 0; oy < g.oh; oy++)
            for (int64_t ox = 0; ox < g.ow; ox++) dyi[o * cols + oy * ld + ox] = src[(oy * g.ow + ox) * step];
        }
        for (int64_t o = 0; o < ocp; o++)
          for (int64_t j = 0; j < cols; j += kNr) accB[o] += load16(dyi + o * cols + j);
      }
      if (mi == 6) gemmTransposedAcc<6>(ocp, cols, ckkp, dyw.p, cols, src.p, off.data(), accW, ckkp, images, dySize, srcSize);
      else gemmTransposedAcc<4>(ocp, cols, ckkp, dyw.p, cols, src.p, off.data(), accW, ckkp, images, dySize, srcSize);
    }
  }
  auto lanes = [](v16 v) {
    float s = 0.f;
    for (int64_t l = 0; l < kNr; l++) s += v[l];
    return s;
  };
  for (int64_t o = 0; o < g.oc; o++) {
    for (int64_t k = 0; k < d.ckk; k++) {
      float s = 0.f;
      for (int t = 0; t < threads; t++)
        if (partW[t]) s += lanes(reinterpret_cast<const v16 *>(partW[t]->p)[o * ckkp + k]);
      dw[o * d.ckk + k] = s;
    }
    if (db) {
      float s = 0.f;
      for (int t = 0; t < threads; t++)
        if (partB[t]) s += lanes(reinterpret_cast<const v16 *>(partB[t]->p)[o]);
      db[o] = s;
    }
  }
}

}  // namespace

void directConvBackwardWeight(const DirectConv &g, const float *x, int xBlock, const float *dy, int dyBlock, float *dw,
                              float *db) {
  if (lanesConvChosen(g)) return lanesConvBackwardWeight(g, x, xBlock, dy, dyBlock, dw, db);
  weightPlans(g, x, xBlock, dy, dyBlock, nullptr, dw, db);
}

void directConvBackwardWeightAvgPool(const DirectConv &g, const float *x, const float *y, const float *dPooled, int act,
                                     float *dw, float *db) {
  if (!directAvgPoolFusable(g, act)) throw std::invalid_argument("directConvBackwardWeightAvgPool: shape not fusable");
  const PoolGrad pg{y, dPooled, act};
  weightPlans(g, x, 0, nullptr, 0, &pg, dw, db);
}

}  // namespace tl
