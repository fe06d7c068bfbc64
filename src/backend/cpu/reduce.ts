/** Sum reductions on oneDNN's reduction primitive; max and min stay on the reference (rare in training; NaN rules). */
import type { Kernels } from '../kernels.js';
import { referenceKernels as ref } from '../reference/index.js';
import { rowMajor, type HostStorage } from '../host.js';
import { SMALL, alloc, own, sizeOf, type CpuContext } from './common.js';

/** Merge adjacent axes that are all reduced or all kept (as the reference kernel does). */
function mergeAxes(shape: readonly number[], axes: readonly number[]): { dims: number[]; out: number[] } {
  const dims: number[] = [];
  const out: number[] = [];
  let last: boolean | null = null;
  shape.forEach((d, i) => {
    if (d === 1) return; // size-1 axes are neutral
    const r = axes.includes(i);
    if (last === r) {
      dims[dims.length - 1] *= d;
      if (!r) out[out.length - 1] *= d;
    } else {
      dims.push(d);
      out.push(r ? 1 : d);
      last = r;
    }
  });
  if (dims.length === 0) {
    dims.push(1);
    out.push(1);
  }
  return { dims, out };
}

export function reduceKernels(ctx: CpuContext): Partial<Kernels<HostStorage>> {
  return {
    reduce(op, xs, shape, axes) {
      const x = rowMajor(xs);
      if (op !== 'sum' || x.length < SMALL || axes.length === 0) return own(ctx, ref.reduce(op, x, shape, axes));
      const { dims, out } = mergeAxes(shape, axes);
      if (sizeOf(out) === x.length) return own(ctx, ref.reduce(op, x, shape, axes));
      const y = alloc(sizeOf(out));
      ctx.nat.reduceSum(x, dims, y, out);
      return own(ctx, y);
    },
  };
}
