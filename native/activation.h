// Fused activations: the gradient through one from its output (throughActivation), and in-place
// ReLU / sigmoid over a run of floats, for kernels that apply a fused activation while
// the run is still in cache (batch norm's output pass, the direct convolution's copy-out).
// Sigmoid is 1 / (1 + exp(-x)) with glibc's vector expf (libmvec, 16 lanes on AVX-512).
// Returns false for activations it does not handle here (tanh): callers then use oneDNN's.
#pragma once

#include <cstdint>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif
#if defined(__AVX512F__) && defined(__GLIBC__)
extern "C" __m512 _ZGVeN16v_expf(__m512);
#define TL_VECTOR_EXP 1
#endif

namespace tl {

/**
 * The gradient through a fused activation, from its output y: 0 none, 1 relu, 2 sigmoid, 3 tanh
 * (the same codes as the convolution's post-op). Computed on the fly inside the backward loops
 * (batch norm's, the fused 2x2 average pool's), so the activation's gradient never takes a pass over
 * memory of its own.
 */
template <int A>
inline float throughActivation(float g, float y) {
  if (A == 1) return y > 0.f ? g : 0.f;
  if (A == 2) return g * y * (1.f - y);
  if (A == 3) return g * (1.f - y * y);
  return g;
}

#if defined(__AVX512F__)
/** throughActivation on 16 lanes: the same operations in the same order. */
template <int A>
inline __m512 throughActivation16(__m512 g, __m512 y) {
  if (A == 1) return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(y, _mm512_setzero_ps(), _CMP_GT_OQ), g);
  if (A == 2) return _mm512_mul_ps(_mm512_mul_ps(g, y), _mm512_sub_ps(_mm512_set1_ps(1.f), y));
  if (A == 3) return _mm512_mul_ps(g, _mm512_sub_ps(_mm512_set1_ps(1.f), _mm512_mul_ps(y, y)));
  return g;
}
#endif

/** Whether activateRun handles act here. */
inline bool canActivateRun(int act) {
#if defined(TL_VECTOR_EXP)
  return act == 1 || act == 2;
#else
  return act == 1;
#endif
}

/** act: 1 relu, 2 sigmoid (the codes of the convolution post-ops). */
inline bool activateRun(float *y, int64_t n, int act) {
  if (act == 1) {
    for (int64_t i = 0; i < n; i++) y[i] = y[i] > 0.f ? y[i] : (y[i] != y[i] ? y[i] : 0.f);
    return true;
  }
#if defined(TL_VECTOR_EXP)
  if (act == 2) {
    const __m512 one = _mm512_set1_ps(1.f);
    int64_t i = 0;
    for (; i < n; i += 16) {
      const __mmask16 m = i + 16 <= n ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (n - i)) - 1);
      const __m512 x = _mm512_maskz_loadu_ps(m, y + i);
      const __m512 e = _ZGVeN16v_expf(_mm512_sub_ps(_mm512_setzero_ps(), x));
      _mm512_mask_storeu_ps(y + i, m, _mm512_div_ps(one, _mm512_add_ps(one, e)));
    }
    return true;
  }
#endif
  return false;
}

}  // namespace tl
