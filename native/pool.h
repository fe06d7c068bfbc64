// Per-plane pieces of the 2x2 stride-2 average pool (pool.cc), for kernels that pool a plane while
// it is still in cache: the direct convolution's fused Conv2d + activation + AvgPool2d passes.
#pragma once

#include <cstdint>

namespace tl {

/** dst[oh][ow] = the 2x2 stride-2 average of src (rows w apart), with pool2d's tiled kernel's arithmetic. */
void avgPool2x2Plane(const float *src, float *dst, int64_t w, int64_t oh, int64_t ow);

/**
 * act'(y) times the 2x2 stride-2 average pool's gradient for one h x w plane (act as throughActivation
 * takes it, 0 none), written into rows dxRowStride apart: each input gets its window's share dy / 4
 * times the slope there; inputs no window covers get 0. Columns w .. dxRowStride-1 are not touched.
 * share: scratch of 2 * ow floats.
 */
void poolActivationPlane(int act, const float *y, const float *dy, float *dx, int64_t dxRowStride, int64_t h, int64_t w,
                         int64_t oh, int64_t ow, float *share);

}  // namespace tl
