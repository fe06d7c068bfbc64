/** Matrix products on oneDNN's matmul primitive (transpose flags instead of transposed copies). */
import type { Kernels } from '../kernels.js';
import { rowMajor, type HostStorage } from '../host.js';
import { alloc, own, type CpuContext } from './common.js';

export function matmulKernels(ctx: CpuContext): Partial<Kernels<HostStorage>> {
  return {
    matmul(a, b, d) {
      const n = d.batch * d.m * d.n;
      if (n === 0) return own(ctx, new Float32Array(0));
      if (d.k === 0) return own(ctx, new Float32Array(n));
      const c = alloc(n);
      ctx.nat.matmul(rowMajor(a), rowMajor(b), c, d.batch, d.m, d.k, d.n, d.transA, d.transB);
      return own(ctx, c);
    },
  };
}
