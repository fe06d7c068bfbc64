// Batch normalisation (x viewed as [n, c, spatial]) and (log-)softmax over rows.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "activation.h"
#include "common.h"
#include "pool.h"

namespace tl {
namespace {

using namespace dnnl;

struct BnGeom {
  int64_t n, c, spatial;
  float eps;
};

BnGeom bnArg(const Napi::CallbackInfo &info, size_t i) {
  BnGeom g{i64(info, i), i64(info, i + 1), i64(info, i + 2), static_cast<float>(num(info, i + 3))};
  if (g.n <= 0 || g.c <= 0 || g.spatial <= 0) throw Napi::RangeError::New(info.Env(), "torchlet cpu: bad batchnorm shape");
  return g;
}

Key &addBn(Key &k, const BnGeom &g) {
  k << g.n << g.c << g.spatial;
  return k.addf(g.eps);
}

// [n, c, spatial, 1] in nchw: the same bytes as the caller's [n, c, spatial].
memory::desc dataMd(const BnGeom &g) { return memory::desc({g.n, g.c, g.spatial, 1}, dt::f32, tag::nchw); }
memory::desc chanMd(const BnGeom &g) { return memory::desc({g.c}, dt::f32, tag::a); }

const normalization_flags kScaleShift = normalization_flags::use_scale | normalization_flags::use_shift;



/**
 * Batch norm over [n, c] (BatchNorm1d after a Linear layer): a channel's values are c apart, so
 * the per-channel loops below would stride through memory one value per row. These walk rows
 * instead, with per-channel accumulators (double, as in the per-channel loops), contiguous and
 * vectorized across channels.
 */
void bnTrainRows(const float *x, const float *gamma, const float *beta, float *y, float *mean, float *var,
                 int64_t N, int64_t C, float eps) {
  std::vector<double> sum(C, 0.0), sq(C, 0.0);
  for (int64_t i = 0; i < N; i++) {
    const float *r = x + i * C;
    for (int64_t ch = 0; ch < C; ch++) sum[ch] += r[ch];
  }
  std::vector<float> mf(C), scale(C), shift(C);
  for (int64_t ch = 0; ch < C; ch++) mf[ch] = static_cast<float>(sum[ch] / static_cast<double>(N));
  for (int64_t i = 0; i < N; i++) {
    const float *r = x + i * C;
    for (int64_t ch = 0; ch < C; ch++) {
      const float t = r[ch] - mf[ch];
      sq[ch] += t * t;
    }
  }
  for (int64_t ch = 0; ch < C; ch++) {
    const double m = sum[ch] / static_cast<double>(N), v = sq[ch] / static_cast<double>(N);
    mean[ch] = static_cast<float>(m);
    var[ch] = static_cast<float>(v);
    scale[ch] = static_cast<float>(gamma[ch] / std::sqrt(v + eps));
    shift[ch] = static_cast<float>(beta[ch] - m * scale[ch]);
  }
  for (int64_t i = 0; i < N; i++) {
    const float *r = x + i * C;
    float *o = y + i * C;
    for (int64_t ch = 0; ch < C; ch++) o[ch] = r[ch] * scale[ch] + shift[ch];
  }
}

template <int A>
void bnBackwardRows(const float *x, const float *dyOut, const float *y, const float *gamma, const float *mean,
                    const float *var, float *dx, float *dgamma, float *dbeta, int64_t N, int64_t C, float eps) {
  std::vector<double> sdy(C, 0.0), sdyx(C, 0.0);
  std::vector<float> invstd(C), k(C), fsdy(C), fsdyx(C);
  for (int64_t ch = 0; ch < C; ch++) invstd[ch] = static_cast<float>(1.0 / std::sqrt(static_cast<double>(var[ch]) + eps));
  for (int64_t i = 0; i < N; i++) {
    const float *xr = x + i * C, *gr = dyOut + i * C, *yr = y ? y + i * C : nullptr;
    for (int64_t ch = 0; ch < C; ch++) {
      const float d = throughActivation<A>(gr[ch], yr ? yr[ch] : 0.f);
      sdy[ch] += d;
      sdyx[ch] += d * (xr[ch] - mean[ch]);
    }
  }
  const float m = static_cast<float>(N);
  for (int64_t ch = 0; ch < C; ch++) {
    sdyx[ch] *= invstd[ch];
    dgamma[ch] = static_cast<float>(sdyx[ch]);
    dbeta[ch] = static_cast<float>(sdy[ch]);
    k[ch] = static_cast<float>(gamma[ch] * invstd[ch] / static_cast<double>(N));
    fsdy[ch] = static_cast<float>(sdy[ch]);
    fsdyx[ch] = static_cast<float>(sdyx[ch]);
  }
  for (int64_t i = 0; i < N; i++) {
    const float *xr = x + i * C, *gr = dyOut + i * C, *yr = y ? y + i * C : nullptr;
    float *o = dx + i * C;
    for (int64_t ch = 0; ch < C; ch++) {
      const float d = throughActivation<A>(gr[ch], yr ? yr[ch] : 0.f);
      const float xhat = (xr[ch] - mean[ch]) * invstd[ch];
      o[ch] = k[ch] * (m * d - fsdy[ch] - xhat * fsdyx[ch]);
    }
  }
}

/**
 * A channel's backward terms from its sums Σdy and Σdy·(x − μ): dgamma and dbeta written, and the
 * factors of dx = k · (m·dy − Σdy − x̂·Σdy·x̂) (per-channel loops, plain or through a pool).
 */
struct BnGradTerms {
  float k, m, sdy, sdyx;
  BnGradTerms(double sumDy, double sumDyXc, float gamma, float invstd, double count, float &dgamma, float &dbeta) {
    const double sdyxHat = sumDyXc * invstd;
    dgamma = static_cast<float>(sdyxHat);
    dbeta = static_cast<float>(sumDy);
    k = static_cast<float>(gamma * invstd / count);
    m = static_cast<float>(count);
    sdy = static_cast<float>(sumDy);
    sdyx = static_cast<float>(sdyxHat);
  }
};

/** dx = γ·invstd/m · (m·dy − Σdy − x̂·Σ(dy·x̂)) over [n, c, spatial], one channel per iteration. */
template <int A>
void bnBackwardChannels(const float *x, const float *dyOut, const float *y, const float *gamma, const float *mean,
                        const float *var, float *dx, float *dgamma, float *dbeta, int64_t N, int64_t C, int64_t S,
                        float eps) {
  const double count = static_cast<double>(N * S);
  const bool parallel = N * C * S >= kSerialWork && C > 1;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t ch = 0; ch < C; ch++) {
    const float mu = mean[ch];
    const float invstd = static_cast<float>(1.0 / std::sqrt(static_cast<double>(var[ch]) + eps));
    double sdy = 0, sdyx = 0;
    for (int64_t i = 0; i < N; i++) {
      const int64_t base = (i * C + ch) * S;
      const float *xr = x + base, *gr = dyOut + base, *yr = y ? y + base : nullptr;
      float a = 0, b = 0;
#pragma omp simd reduction(+ : a, b)
      for (int64_t j = 0; j < S; j++) {
        const float d = throughActivation<A>(gr[j], yr ? yr[j] : 0.f);
        a += d;
        b += d * (xr[j] - mu);
      }
      sdy += a;
      sdyx += b;
    }
    const BnGradTerms t(sdy, sdyx, gamma[ch], invstd, count, dgamma[ch], dbeta[ch]);
    const float k = t.k, m = t.m, fsdy = t.sdy, fsdyx = t.sdyx;
    for (int64_t i = 0; i < N; i++) {
      const int64_t base = (i * C + ch) * S;
      const float *xr = x + base, *gr = dyOut + base, *yr = y ? y + base : nullptr;
      float *out = dx + base;
      for (int64_t j = 0; j < S; j++) {
        const float d = throughActivation<A>(gr[j], yr ? yr[j] : 0.f);
        const float xhat = (xr[j] - mu) * invstd;
        out[j] = k * (m * d - fsdy - xhat * fsdyx);
      }
    }
  }
}

/** A 2x2 stride-2 average pool taken of each plane of the output as it is written (oh = h / 2, ow = w / 2, rounded down). */
struct PlanePool {
  int64_t h, w, oh, ow;
  float *pooled;
};

/**
 * The plain [n, c, spatial] pass of BnTrain: y = act(bn(x)), one channel per iteration, act as
 * activateRun takes it (0: none, the caller applies others); with `pool`, also each plane's 2x2
 * average while it is in cache (batchNormAvgPoolTrain).
 */
void bnTrainChannels(const float *x, const float *gamma, const float *beta, float *y, float *mean, float *var, int64_t N,
                     int64_t C, int64_t S, float eps, int act, const PlanePool *pool) {
  const double count = static_cast<double>(N * S);
  const bool parallel = N * C * S >= kSerialWork && C > 1;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t ch = 0; ch < C; ch++) {
    // Sum and sum of squares in one pass over x (the normalising pass is the second), both taken
    // about the channel's first value: shifted so, the variance does not cancel away when the
    // mean is large against the spread, as the plain E[x^2] - E[x]^2 would.
    const float shiftBy = x[ch * S];
    double sum = 0, sumSq = 0;
    for (int64_t i = 0; i < N; i++) {
      const float *row = x + (i * C + ch) * S;
      float part = 0, partSq = 0;
#pragma omp simd reduction(+ : part, partSq)
      for (int64_t j = 0; j < S; j++) {
        const float t = row[j] - shiftBy;
        part += t;
        partSq += t * t;
      }
      sum += part;
      sumSq += partSq;
    }
    const double shiftedMean = sum / count;
    const double m = shiftBy + shiftedMean;
    const double v = std::max(0.0, sumSq / count - shiftedMean * shiftedMean);
    mean[ch] = static_cast<float>(m);
    var[ch] = static_cast<float>(v);
    const float scale = static_cast<float>(gamma[ch] / std::sqrt(v + eps));
    // y = (x - shiftBy) * scale + (beta - (mean - shiftBy) * scale): x - shiftBy is exact in float
    // where x * scale + (beta - mean * scale) would cancel two large terms when the mean is large.
    const float shift = static_cast<float>(beta[ch] - shiftedMean * scale);
    for (int64_t i = 0; i < N; i++) {
      const float *row = x + (i * C + ch) * S;
      float *out = y + (i * C + ch) * S;
      for (int64_t j = 0; j < S; j++) out[j] = (row[j] - shiftBy) * scale + shift;
      if (act) activateRun(out, S, act);
      if (pool) avgPool2x2Plane(out, pool->pooled + (i * C + ch) * pool->oh * pool->ow, pool->w, pool->oh, pool->ow);
    }
  }
}

/**
 * bnBackwardChannels for y = act(bn(x)) seen through a 2x2 stride-2 average pool: each plane's dy,
 * act'(y) times its window's share of dPooled (poolActivationPlane, the same values pool2dBackward
 * and the fused activation's gradient give), is made in pass 1 where its dx goes and overwritten
 * by pass 2, instead of being written out by the pool's backward and read back twice.
 */
template <int A>
void bnBackwardChannelsPooled(const float *x, const float *dPooled, const float *y, const float *gamma, const float *mean,
                              const float *var, float *dx, float *dgamma, float *dbeta, int64_t N, int64_t C, int64_t h,
                              int64_t w, float eps) {
  const int64_t S = h * w, oh = h / 2, ow = w / 2, pp = oh * ow;
  const double count = static_cast<double>(N * S);
  const bool parallel = N * C * S >= kSerialWork && C > 1;
#pragma omp parallel if (parallel)
  {
    std::vector<float> share(2 * ow);
#pragma omp for schedule(static)
    for (int64_t ch = 0; ch < C; ch++) {
      const float mu = mean[ch];
      const float invstd = static_cast<float>(1.0 / std::sqrt(static_cast<double>(var[ch]) + eps));
      double sdy = 0, sdyx = 0;
      for (int64_t i = 0; i < N; i++) {
        const int64_t base = (i * C + ch) * S;
        const float *__restrict xr = x + base;
        float *__restrict d = dx + base;
        // The plane's dy goes where its dx will: pass 2 reads it back from there and overwrites it.
        poolActivationPlane(A, y + base, dPooled + (i * C + ch) * pp, d, w, h, w, oh, ow, share.data());
        float a = 0, b = 0;
#pragma omp simd reduction(+ : a, b)
        for (int64_t j = 0; j < S; j++) {
          a += d[j];
          b += d[j] * (xr[j] - mu);
        }
        sdy += a;
        sdyx += b;
      }
      const BnGradTerms t(sdy, sdyx, gamma[ch], invstd, count, dgamma[ch], dbeta[ch]);
      const float k = t.k, m = t.m, fsdy = t.sdy, fsdyx = t.sdyx;
      for (int64_t i = 0; i < N; i++) {
        const int64_t base = (i * C + ch) * S;
        const float *__restrict xr = x + base;
        float *__restrict out = dx + base;
#pragma omp simd
        for (int64_t j = 0; j < S; j++) {
          const float xhat = (xr[j] - mu) * invstd;
          out[j] = k * (m * out[j] - fsdy - xhat * fsdyx);
        }
      }
    }
  }
}

/**
 * Batch norm over a channel-blocked x (oneDNN's nChw8c / nChw16c, block B dividing C): element
 * (i, ch, j) at ((i * C/B + ch/B) * S + j) * B + ch % B, as a convolution that fills whole channel
 * blocks leaves its output. Each block's B channels are the lanes of one run per position, so both
 * passes are contiguous and vectorized across channels, and the layout never has to be converted
 * (LeNet-BN's second batch norm had reordered its input and its gradient every step).
 * Per-channel sums are taken per chunk of images and the chunks added in order, so the result
 * does not depend on the number of threads.
 */
struct BlockedBn {
  int64_t n, c, s, b;
  int64_t blocks() const { return c / b; }
  /** The run of image i's block k: s positions of b lanes. */
  int64_t at(int64_t i, int64_t k) const { return (i * blocks() + k) * s * b; }
};

constexpr int64_t kBnChunk = 8;  // images per partial sum

/** sums[0..c) and sums[c..2c) over all images: f(run, lane offset, acc0, acc1) adds one run's two sums per lane. */
template <class F>
void blockedChannelSums(const BlockedBn &g, std::vector<double> &sums, F f) {
  const int64_t chunks = (g.n + kBnChunk - 1) / kBnChunk, C = g.c;
  std::vector<double> part(chunks * 2 * C, 0.0);
  const bool parallel = g.n * g.c * g.s >= kSerialWork && chunks > 1;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t chunk = 0; chunk < chunks; chunk++) {
    double *ps = part.data() + chunk * 2 * C;
    float a[16], q[16];
    for (int64_t i = chunk * kBnChunk; i < std::min(g.n, (chunk + 1) * kBnChunk); i++) {
      for (int64_t k = 0; k < g.blocks(); k++) {
        std::fill(a, a + g.b, 0.f);
        std::fill(q, q + g.b, 0.f);
        f(g.at(i, k), k * g.b, a, q);
        for (int64_t l = 0; l < g.b; l++) {
          ps[k * g.b + l] += a[l];
          ps[C + k * g.b + l] += q[l];
        }
      }
    }
  }
  sums.assign(2 * C, 0.0);
  for (int64_t chunk = 0; chunk < chunks; chunk++) {
    for (int64_t i = 0; i < 2 * C; i++) sums[i] += part[chunk * 2 * C + i];
  }
}

void bnTrainBlocked(const BlockedBn &g, const float *x, const float *gamma, const float *beta, float *y, float *mean,
                    float *var, float eps, int act) {
  const int64_t C = g.c, S = g.s, B = g.b;
  const double count = static_cast<double>(g.n * S);
  // Shifted by each channel's first value, as the plain pass (see BnTrain).
  std::vector<float> shiftBy(C);
  for (int64_t ch = 0; ch < C; ch++) shiftBy[ch] = x[g.at(0, ch / B) + ch % B];
  std::vector<double> sums;
  blockedChannelSums(g, sums, [&](int64_t run, int64_t lane0, float *a, float *q) {
    const float *__restrict p = x + run;
    const float *__restrict k = shiftBy.data() + lane0;
    for (int64_t j = 0; j < S; j++) {
#pragma omp simd
      for (int64_t l = 0; l < B; l++) {
        const float t = p[j * B + l] - k[l];
        a[l] += t;
        q[l] += t * t;
      }
    }
  });
  std::vector<float> scale(C), shift(C);
  for (int64_t ch = 0; ch < C; ch++) {
    const double shiftedMean = sums[ch] / count;
    const double v = std::max(0.0, sums[C + ch] / count - shiftedMean * shiftedMean);
    mean[ch] = static_cast<float>(shiftBy[ch] + shiftedMean);
    var[ch] = static_cast<float>(v);
    scale[ch] = static_cast<float>(gamma[ch] / std::sqrt(v + eps));
    shift[ch] = static_cast<float>(beta[ch] - shiftedMean * scale[ch]);
  }
  const bool inRuns = act != 0 && canActivateRun(act);
  const int64_t runs = g.n * g.blocks();
#pragma omp parallel for schedule(static) if (g.n * C * S >= kSerialWork)
  for (int64_t r = 0; r < runs; r++) {
    const int64_t lane0 = (r % g.blocks()) * B;
    const float *__restrict p = x + r * S * B;
    float *__restrict o = y + r * S * B;
    const float *__restrict k = shiftBy.data() + lane0;
    const float *__restrict sc = scale.data() + lane0;
    const float *__restrict sh = shift.data() + lane0;
    for (int64_t j = 0; j < S; j++) {
#pragma omp simd
      for (int64_t l = 0; l < B; l++) o[j * B + l] = (p[j * B + l] - k[l]) * sc[l] + sh[l];
    }
    if (inRuns) activateRun(o, S * B, act);
  }
  if (act && !inRuns) activateInPlace(y, g.n * C * S, act);
}

template <int A>
void bnBackwardBlocked(const BlockedBn &g, const float *x, const float *dyOut, const float *y, const float *gamma,
                       const float *mean, const float *var, float *dx, float *dgamma, float *dbeta, float eps) {
  const int64_t C = g.c, S = g.s, B = g.b;
  const double count = static_cast<double>(g.n * S);
  std::vector<float> invstd(C);
  for (int64_t ch = 0; ch < C; ch++) invstd[ch] = static_cast<float>(1.0 / std::sqrt(static_cast<double>(var[ch]) + eps));
  std::vector<double> sums;
  blockedChannelSums(g, sums, [&](int64_t run, int64_t lane0, float *a, float *b) {
    const float *__restrict xr = x + run;
    const float *__restrict gr = dyOut + run;
    const float *__restrict yr = y ? y + run : nullptr;
    const float *__restrict mu = mean + lane0;
    for (int64_t j = 0; j < S; j++) {
#pragma omp simd
      for (int64_t l = 0; l < B; l++) {
        const float d = throughActivation<A>(gr[j * B + l], A ? yr[j * B + l] : 0.f);
        a[l] += d;
        b[l] += d * (xr[j * B + l] - mu[l]);
      }
    }
  });
  std::vector<float> k(C), fsdy(C), fsdyx(C);
  for (int64_t ch = 0; ch < C; ch++) {
    const double sdyx = sums[C + ch] * invstd[ch];
    dgamma[ch] = static_cast<float>(sdyx);
    dbeta[ch] = static_cast<float>(sums[ch]);
    k[ch] = static_cast<float>(gamma[ch] * invstd[ch] / count);
    fsdy[ch] = static_cast<float>(sums[ch]);
    fsdyx[ch] = static_cast<float>(sdyx);
  }
  const float m = static_cast<float>(count);
  const int64_t runs = g.n * g.blocks();
#pragma omp parallel for schedule(static) if (g.n * C * S >= kSerialWork)
  for (int64_t r = 0; r < runs; r++) {
    const int64_t lane0 = (r % g.blocks()) * B, base = r * S * B;
    const float *__restrict xr = x + base;
    const float *__restrict gr = dyOut + base;
    const float *__restrict yr = y ? y + base : nullptr;
    float *__restrict o = dx + base;
    const float *__restrict mu = mean + lane0;
    const float *__restrict is = invstd.data() + lane0;
    const float *__restrict kk = k.data() + lane0;
    const float *__restrict s1 = fsdy.data() + lane0;
    const float *__restrict s2 = fsdyx.data() + lane0;
    for (int64_t j = 0; j < S; j++) {
#pragma omp simd
      for (int64_t l = 0; l < B; l++) {
        const float d = throughActivation<A>(gr[j * B + l], A ? yr[j * B + l] : 0.f);
        const float xhat = (xr[j * B + l] - mu[l]) * is[l];
        o[j * B + l] = kk[l] * (m * d - s1[l] - xhat * s2[l]);
      }
    }
  }
}

/** Argument i as a channel block (0 plain, 8 or 16) that divides c; throws otherwise. */
int64_t bnBlockArg(const Napi::CallbackInfo &info, size_t i, int64_t c) {
  const int64_t b = info.Length() > i && !info[i].IsUndefined() ? i64(info, i) : 0;
  if (b != 0 && ((b != 8 && b != 16) || c % b != 0)) {
    throw Napi::RangeError::New(info.Env(), "torchlet cpu: batch norm takes x plain or in channel blocks of 8 or 16 that divide its channels");
  }
  return b;
}

// batchNormTrain(x, gamma, beta, y, mean, variance, n, c, spatial, eps[, act, block]): y = act(bn(x)).
// With block 8 or 16, x is channel-blocked (BlockedBn) and y is written in the same layout.
// Direct loops rather than oneDNN's primitive: on plain NCHW with few channels (LeNet-BN's 6 and 16)
// oneDNN's kernel measured 2-3x slower than these per-channel passes, which PyTorch also uses.
// Statistics accumulate in double across rows, like the reference kernel; within a row, float
// partial sums are vectorized (omp simd), which reorders them. One pass gathers both sums
// (a two-pass mean then variance had read x three times in all).
Napi::Value BnTrain(const Napi::CallbackInfo &info) {
  BnGeom g = bnArg(info, 6);
  size_t total = g.n * g.c * g.spatial;
  float *x = f32(info, 0, total, "x");
  float *gamma = f32(info, 1, g.c, "gamma");
  float *beta = f32(info, 2, g.c, "beta");
  float *y = f32(info, 3, total, "y");
  float *mean = f32(info, 4, g.c, "mean");
  float *var = f32(info, 5, g.c, "variance");
  const int64_t N = g.n, C = g.c, S = g.spatial;
  const int act = info.Length() > 10 ? static_cast<int>(i64(info, 10)) : 0;
  if (act < 0 || act > 3) throw Napi::RangeError::New(info.Env(), "torchlet cpu: bad batchnorm activation code");
  const int64_t block = bnBlockArg(info, 11, C);
  if (block) {
    bnTrainBlocked(BlockedBn{N, C, S, block}, x, gamma, beta, y, mean, var, g.eps, act);
    return info.Env().Undefined();
  }
  // ReLU and sigmoid are applied to each row as it is written (still in cache); tanh after.
  const bool inRows = act != 0 && canActivateRun(act);
  if (S == 1) {
    bnTrainRows(x, gamma, beta, y, mean, var, N, C, g.eps);
    if (inRows) activateRun(y, static_cast<int64_t>(total), act);
    else if (act) activateInPlace(y, static_cast<int64_t>(total), act);
    return info.Env().Undefined();
  }
  bnTrainChannels(x, gamma, beta, y, mean, var, N, C, S, g.eps, inRows ? act : 0, nullptr);
  if (act && !inRows) activateInPlace(y, static_cast<int64_t>(total), act);
  return info.Env().Undefined();
}

// batchNormInference(x, gamma, beta, mean, variance, y, n, c, spatial, eps[, act])
Napi::Value BnInference(const Napi::CallbackInfo &info) {
  BnGeom g = bnArg(info, 6);
  size_t total = g.n * g.c * g.spatial;
  float *x = f32(info, 0, total, "x");
  float *gamma = f32(info, 1, g.c, "gamma");
  float *beta = f32(info, 2, g.c, "beta");
  float *mean = f32(info, 3, g.c, "mean");
  float *var = f32(info, 4, g.c, "variance");
  float *y = f32(info, 5, total, "y");
  Key k(61);
  addBn(k, g);
  Plan &p = cachedSized(k, total, [&](Plan &p) {
    batch_normalization_forward::desc d(prop_kind::forward_inference, dataMd(g), g.eps,
                                        kScaleShift | normalization_flags::use_global_stats);
    batch_normalization_forward::primitive_desc pd(d, baseAttr(), engine());
    p.add(batch_normalization_forward(pd), {{DNNL_ARG_SRC, p.user(0, dataMd(g))},
                                            {DNNL_ARG_SCALE, p.user(1, chanMd(g))},
                                            {DNNL_ARG_SHIFT, p.user(2, chanMd(g))},
                                            {DNNL_ARG_MEAN, p.user(3, chanMd(g))},
                                            {DNNL_ARG_VARIANCE, p.user(4, chanMd(g))},
                                            {DNNL_ARG_DST, p.user(5, dataMd(g))}},
          pd);
  });
  void *ptrs[] = {x, gamma, beta, mean, var, y};
  p.run(ptrs);
  const int act = info.Length() > 10 ? static_cast<int>(i64(info, 10)) : 0;
  if (act < 0 || act > 3) throw Napi::RangeError::New(info.Env(), "torchlet cpu: bad batchnorm activation code");
  if (act) activateInPlace(y, static_cast<int64_t>(total), act);
  return info.Env().Undefined();
}

// batchNormBackward(x, dy, gamma, mean, variance, dx, dgamma, dbeta, n, c, spatial, eps[, act, y, block])
// With act (1 relu, 2 sigmoid, 3 tanh), dy is the gradient of y = act(bn(x)). With block 8 or 16,
// x, dy, y and dx are all channel-blocked in that layout (BlockedBn).
// dx = γ·invstd/m · (m·dy − Σdy − x̂·Σ(dy·x̂)); direct loops for the same reason as BnTrain.
Napi::Value BnBackward(const Napi::CallbackInfo &info) {
  BnGeom g = bnArg(info, 8);
  size_t total = g.n * g.c * g.spatial;
  float *x = f32(info, 0, total, "x");
  float *dy = f32(info, 1, total, "dy");
  float *gamma = f32(info, 2, g.c, "gamma");
  float *mean = f32(info, 3, g.c, "mean");
  float *var = f32(info, 4, g.c, "variance");
  float *dx = f32(info, 5, total, "dx");
  float *dgamma = f32(info, 6, g.c, "dgamma");
  float *dbeta = f32(info, 7, g.c, "dbeta");
  const int act = info.Length() > 12 ? static_cast<int>(i64(info, 12)) : 0;
  if (act < 0 || act > 3) throw Napi::RangeError::New(info.Env(), "torchlet cpu: bad batchnorm activation code");
  float *y = act ? f32(info, 13, total, "y") : nullptr;
  const int64_t N = g.n, C = g.c, S = g.spatial;
  const int64_t block = bnBlockArg(info, 14, C);
  auto run = [&](auto tag) {
    constexpr int A = decltype(tag)::value;
    if (block) bnBackwardBlocked<A>(BlockedBn{N, C, S, block}, x, dy, y, gamma, mean, var, dx, dgamma, dbeta, g.eps);
    else if (S == 1) bnBackwardRows<A>(x, dy, y, gamma, mean, var, dx, dgamma, dbeta, N, C, g.eps);
    else bnBackwardChannels<A>(x, dy, y, gamma, mean, var, dx, dgamma, dbeta, N, C, S, g.eps);
  };
  switch (act) {
    case 1: run(std::integral_constant<int, 1>{}); break;
    case 2: run(std::integral_constant<int, 2>{}); break;
    case 3: run(std::integral_constant<int, 3>{}); break;
    default: run(std::integral_constant<int, 0>{});
  }
  return info.Env().Undefined();
}

// batchNormAvgPoolTrain(x, gamma, beta, y, pooled, mean, variance, n, c, h, w, eps, act): BnTrain's
// plain pass, y = act(bn(x)) with act 0 (none), 1 (relu) or 2 (sigmoid), and each plane's 2x2
// stride-2 average written to pooled ([n, c, h / 2, w / 2], rounded down) while it is in cache:
// Sequential's BatchNorm2d + activation + AvgPool2d, where the pool had read y back from memory.
Napi::Value BnAvgPoolTrain(const Napi::CallbackInfo &info) {
  const int64_t h = i64(info, 9), w = i64(info, 10);
  if (h < 2 || w < 2) throw Napi::RangeError::New(info.Env(), "torchlet cpu: batchNormAvgPoolTrain needs planes of at least 2x2");
  BnGeom g{i64(info, 7), i64(info, 8), h * w, static_cast<float>(num(info, 11))};
  if (g.n <= 0 || g.c <= 0) throw Napi::RangeError::New(info.Env(), "torchlet cpu: bad batchnorm shape");
  const int act = static_cast<int>(i64(info, 12));
  if (act < 0 || act > 2) throw Napi::RangeError::New(info.Env(), "torchlet cpu: batchNormAvgPoolTrain applies no activation, relu or sigmoid");
  const int64_t total = g.n * g.c * g.spatial, oh = h / 2, ow = w / 2;
  float *x = f32(info, 0, total, "x");
  float *gamma = f32(info, 1, g.c, "gamma");
  float *beta = f32(info, 2, g.c, "beta");
  float *y = f32(info, 3, total, "y");
  float *pooled = f32(info, 4, g.n * g.c * oh * ow, "pooled");
  float *mean = f32(info, 5, g.c, "mean");
  float *var = f32(info, 6, g.c, "variance");
  const PlanePool pool{h, w, oh, ow, pooled};
  bnTrainChannels(x, gamma, beta, y, mean, var, g.n, g.c, g.spatial, g.eps, act, &pool);
  return info.Env().Undefined();
}

// batchNormAvgPoolBackward(x, dPooled, y, gamma, mean, variance, dx, dgamma, dbeta, n, c, h, w, eps, act):
// batchNormBackward's plain pass from the gradient of batchNormAvgPoolTrain's pooled output.
Napi::Value BnAvgPoolBackward(const Napi::CallbackInfo &info) {
  const int64_t n = i64(info, 9), c = i64(info, 10), h = i64(info, 11), w = i64(info, 12);
  if (n <= 0 || c <= 0 || h < 2 || w < 2) throw Napi::RangeError::New(info.Env(), "torchlet cpu: bad batchNormAvgPoolBackward shape");
  const float eps = static_cast<float>(num(info, 13));
  const int act = static_cast<int>(i64(info, 14));
  if (act < 0 || act > 3) throw Napi::RangeError::New(info.Env(), "torchlet cpu: bad batchnorm activation code");
  const int64_t total = n * c * h * w;
  float *x = f32(info, 0, total, "x");
  float *dPooled = f32(info, 1, n * c * (h / 2) * (w / 2), "dPooled");
  float *y = f32(info, 2, total, "y");
  float *gamma = f32(info, 3, c, "gamma");
  float *mean = f32(info, 4, c, "mean");
  float *var = f32(info, 5, c, "variance");
  float *dx = f32(info, 6, total, "dx");
  float *dgamma = f32(info, 7, c, "dgamma");
  float *dbeta = f32(info, 8, c, "dbeta");
  switch (act) {
    case 1: bnBackwardChannelsPooled<1>(x, dPooled, y, gamma, mean, var, dx, dgamma, dbeta, n, c, h, w, eps); break;
    case 2: bnBackwardChannelsPooled<2>(x, dPooled, y, gamma, mean, var, dx, dgamma, dbeta, n, c, h, w, eps); break;
    case 3: bnBackwardChannelsPooled<3>(x, dPooled, y, gamma, mean, var, dx, dgamma, dbeta, n, c, h, w, eps); break;
    default: bnBackwardChannelsPooled<0>(x, dPooled, y, gamma, mean, var, dx, dgamma, dbeta, n, c, h, w, eps);
  }
  return info.Env().Undefined();
}

// ---- softmax ----

memory::desc rowsMd(int64_t rows, int64_t cols) { return memory::desc({rows, cols}, dt::f32, tag::ab); }

softmax_v2_forward::primitive_desc softmaxPd(int64_t rows, int64_t cols, bool log) {
  softmax_v2_forward::desc d(prop_kind::forward_training, log ? algorithm::softmax_log : algorithm::softmax_accurate,
                             rowsMd(rows, cols), rowsMd(rows, cols), 1);
  return softmax_v2_forward::primitive_desc(d, baseAttr(), engine());
}

void rowsArg(const Napi::CallbackInfo &info, size_t i, int64_t &rows, int64_t &cols) {
  rows = i64(info, i);
  cols = i64(info, i + 1);
  if (rows <= 0 || cols <= 0) throw Napi::RangeError::New(info.Env(), "torchlet cpu: bad softmax shape");
}

// softmaxForward(x, y, rows, cols, log)
Napi::Value SoftmaxForward(const Napi::CallbackInfo &info) {
  int64_t rows, cols;
  rowsArg(info, 2, rows, cols);
  bool log = flag(info, 4);
  float *x = f32(info, 0, rows * cols, "x");
  float *y = f32(info, 1, rows * cols, "y");
  Key k(70);
  k << rows << cols << log;
  Plan &p = cachedSized(k, rows * cols, [&](Plan &p) {
    auto pd = softmaxPd(rows, cols, log);
    p.add(softmax_v2_forward(pd), {{DNNL_ARG_SRC, p.user(0, rowsMd(rows, cols))}, {DNNL_ARG_DST, p.user(1, rowsMd(rows, cols))}},
          pd);
  });
  void *ptrs[] = {x, y};
  p.run(ptrs);
  return info.Env().Undefined();
}

// softmaxBackward(y, dy, dx, rows, cols, log)
Napi::Value SoftmaxBackward(const Napi::CallbackInfo &info) {
  int64_t rows, cols;
  rowsArg(info, 3, rows, cols);
  bool log = flag(info, 5);
  float *y = f32(info, 0, rows * cols, "y");
  float *dy = f32(info, 1, rows * cols, "dy");
  float *dx = f32(info, 2, rows * cols, "dx");
  Key k(71);
  k << rows << cols << log;
  Plan &p = cachedSized(k, rows * cols, [&](Plan &p) {
    auto hint = softmaxPd(rows, cols, log);
    memory::desc md = rowsMd(rows, cols);
    softmax_v2_backward::desc d(log ? algorithm::softmax_log : algorithm::softmax_accurate, md, md, md, 1);
    softmax_v2_backward::primitive_desc pd(d, baseAttr(), engine(), hint);
    p.add(softmax_v2_backward(pd),
          {{DNNL_ARG_DST, p.user(0, md)}, {DNNL_ARG_DIFF_DST, p.user(1, md)}, {DNNL_ARG_DIFF_SRC, p.user(2, md)}}, pd);
  });
  void *ptrs[] = {y, dy, dx};
  p.run(ptrs);
  return info.Env().Undefined();
}

}  // namespace

void initNorm(Napi::Env env, Napi::Object exports) {
  exports.Set("batchNormTrain", Napi::Function::New(env, BnTrain, "batchNormTrain"));
  exports.Set("batchNormInference", Napi::Function::New(env, BnInference, "batchNormInference"));
  exports.Set("batchNormBackward", Napi::Function::New(env, BnBackward, "batchNormBackward"));
  exports.Set("batchNormAvgPoolTrain", Napi::Function::New(env, BnAvgPoolTrain, "batchNormAvgPoolTrain"));
  exports.Set("batchNormAvgPoolBackward", Napi::Function::New(env, BnAvgPoolBackward, "batchNormAvgPoolBackward"));
  exports.Set("softmaxForward", Napi::Function::New(env, SoftmaxForward, "softmaxForward"));
  exports.Set("softmaxBackward", Napi::Function::New(env, SoftmaxBackward, "softmaxBackward"));
}

}  // namespace tl
