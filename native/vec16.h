// The 16-float vector type of the direct convolution kernels (GCC vector extensions, one AVX-512
// register), and its broadcast.
#pragma once

namespace tl {

typedef float v16 __attribute__((vector_size(64)));

/**
 * f in every lane. Spelled as an initializer because `v16{} + f` is not a broadcast to GCC: 0 + f
 * must turn -0 into +0, so it emits a scalar add and a register broadcast (on port 5, beside the
 * FMAs) before every use, where this is one broadcast from memory on a load port.
 */
inline v16 splat(float f) { return v16{f, f, f, f, f, f, f, f, f, f, f, f, f, f, f, f}; }

}  // namespace tl
