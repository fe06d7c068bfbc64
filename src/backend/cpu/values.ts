/** Writing values: the dropout mask's counter-based draws, natively (reference/values.ts is the same draw in JS). */
import type { Kernels } from '../kernels.js';
import { referenceKernels as ref } from '../reference/index.js';
import type { HostStorage } from '../host.js';
import { SMALL, alloc, own, type CpuContext } from './common.js';

export function valueKernels(ctx: CpuContext): Partial<Kernels<HostStorage>> {
  const { nat } = ctx;
  return {
    dropoutMask(n, p, seed) {
      // In JS a draw took about 24 ns: 12.6 ms for each of AlexNet's two masks at batch 128.
      if (n < SMALL) return own(ctx, ref.dropoutMask(n, p, seed));
      const mask = alloc(n);
      nat.dropoutMask(mask, p, seed);
      return own(ctx, mask);
    },
  };
}
