/**
 * Channel concat and slice of blocked activations (Inception's branches):
 * along whole channel blocks each image's part is one contiguous run, exactly
 * as in NCHW, so the row-major copy applies to the blocked bytes unchanged.
 */
import type { Kernels } from '../kernels.js';
import { concatInto, sliceInto } from '../reference/movement.js';
import { rowMajor, type HostStorage } from '../host.js';
import { alloc, blockedLayout, own, type CpuContext } from './common.js';

export function movementKernels(ctx: CpuContext): Partial<Kernels<HostStorage>> {
  const { nat } = ctx;
  return {
    concat(parts, dims, outer, inner) {
      const first = parts[0].layout;
      const ok = first !== null && first.dims.length === 4 && first.dims[0] === outer && first.dims[2] * first.dims[3] === inner &&
        parts.every((p, i) => {
          const l = p.layout;
          return l !== null && l.block === first.block && l.dims[0] === outer && l.dims[1] === dims[i] &&
            l.dims[2] === first.dims[2] && l.dims[3] === first.dims[3] && dims[i] % l.block === 0;
        });
      const total = dims.reduce((a, b) => a + b, 0);
      // Into a pooled buffer: Inception's concatenations are activation-sized, every step.
      const out = concatInto(alloc(outer * total * inner), ok ? parts.map((p) => p.buf) : parts.map(rowMajor), dims, outer, inner);
      return own(ctx, out, ok ? blockedLayout(nat, [outer, total, first.dims[2], first.dims[3]], first.block) : null);
    },

    slice(x, outer, dim, inner, start, len) {
      const l = x.layout;
      const ok = l !== null && l.dims.length === 4 && l.dims[0] === outer && l.dims[1] === dim && l.dims[2] * l.dims[3] === inner &&
        start % l.block === 0 && len % l.block === 0 && len > 0;
      const out = sliceInto(alloc(outer * len * inner), ok ? x.buf : rowMajor(x), outer, dim, inner, start, len);
      return own(ctx, out, ok ? blockedLayout(nat, [outer, len, l.dims[2], l.dims[3]], l.block) : null);
    },
  };
}
