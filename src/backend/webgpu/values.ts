/** Writing values: copies, fills and the dropout mask, whose counter-based draws match reference/values.ts bit for bit. */
import type { Kernels } from '../kernels.js';
import { alloc, groupsFor, run, type GpuStorage, type WebGpuCtx } from './common.js';
import { kernel, perElement } from './wgsl.js';

const FILL = kernel('fill', () => ({
  bindings: 'Y:w', params: 'n:u32 value:f32',
  body: perElement('P.n', '  Y[i] = P.value;'),
}));

/** reference/values.ts counterUniform in u32 arithmetic (Math.imul and >>> are the same operations). */
const DROPOUT = kernel('dropoutMask', () => ({
  bindings: 'Y:w', params: 'n:u32 threshold:u32 seed:u32 keep:f32',
  body: `
fn counterBits(seed: u32, i: u32) -> u32 {
  var x = (i * 0x9e3779b9u) ^ seed;
  for (var r = 0; r < 2; r++) {
    x ^= x >> 16u;
    x = x * 0x7feb352du;
    x ^= x >> 15u;
    x = x * 0x846ca68bu;
    x ^= x >> 16u;
    x = x + seed;
  }
  return x >> 8u;
}
${perElement('P.n', '  Y[i] = select(0.0, P.keep, counterBits(P.seed, i) >= P.threshold);')}`,
}));

export function valueKernels(c: WebGpuCtx): Pick<Kernels<GpuStorage>, 'copyInplace' | 'fillInplace' | 'dropoutMask'> {
  return {
    copyInplace(dst, src) {
      if (dst.numel !== src.numel) throw new Error(`copyInplace: ${src.numel} values into ${dst.numel}`);
      c.gpu.copy(src.buf, dst.buf, src.numel * 4);
    },
    fillInplace(dst, value) {
      run(c, FILL, [dst], [dst.numel, value], groupsFor(c, dst.numel));
    },
    dropoutMask(n, p, seed) {
      const y = alloc(c, n);
      // The reference keeps a value when k/2^24 ≥ p for the 24-bit draw k: compare k with the
      // smallest such k, in integers, so no f32 rounding of p can flip a draw.
      const threshold = Math.min(Math.ceil(p * 16777216), 16777216);
      run(c, DROPOUT, [y], [n, threshold, seed >>> 0, 1 / (1 - p)], groupsFor(c, n));
      return y;
    },
  };
}
