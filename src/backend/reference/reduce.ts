import type { Buf, RowMajorKernels, ReduceOp } from '../kernels.js';
import { sizeOf } from './strides.js';

/**
 * Merge adjacent dims that are all-reduced or all-kept, so any reduction
 * becomes alternating [keep, reduce, keep, ...] blocks. A channel reduction of
 * NCHW over (0,2,3), for example, becomes [N reduce][C keep][HW reduce].
 */
export function mergeDims(shape: readonly number[], axes: readonly number[]): { dims: number[]; reduced: boolean[] } {
  const dims: number[] = [];
  const reduced: boolean[] = [];
  shape.forEach((d, i) => {
    const r = axes.includes(i);
    if (dims.length > 0 && reduced[reduced.length - 1] === r) dims[dims.length - 1] *= d;
    else {
      dims.push(d);
      reduced.push(r);
    }
  });
  return { dims, reduced };
}

function reduce(op: ReduceOp, x: Buf, shape: readonly number[], axes: readonly number[]): Buf {
  const outShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const out = new Float32Array(sizeOf(outShape));
  const init = op === 'sum' ? 0 : op === 'max' ? -Infinity : Infinity;
  out.fill(init);
  const { dims, reduced } = mergeDims(shape, axes);
  // Odometer over merged dims; the output offset only advances along kept dims.
  const rank = dims.length;
  const outStrides = new Array<number>(rank);
  let s = 1;
  for (let i = rank - 1; i >= 0; i--) {
    outStrides[i] = reduced[i] ? 0 : s;
    if (!reduced[i]) s *= dims[i];
  }
  const inner = dims[rank - 1];
  const innerStride = outStrides[rank - 1];
  const idx = new Array<number>(rank).fill(0);
  let o = 0;
  for (let base = 0; base < x.length; base += inner) {
    if (op === 'sum') {
      if (innerStride === 0) {
        let acc = 0;
        for (let j = 0; j < inner; j++) acc += x[base + j];
        out[o] += acc;
      } else for (let j = 0; j < inner; j++) out[o + j] += x[base + j];
    } else if (op === 'max') {
      for (let j = 0; j < inner; j++) {
        const v = x[base + j];
        const k = o + j * innerStride;
        if (v > out[k] || Number.isNaN(v)) out[k] = v;
      }
    } else {
      for (let j = 0; j < inner; j++) {
        const v = x[base + j];
        const k = o + j * innerStride;
        if (v < out[k] || Number.isNaN(v)) out[k] = v;
      }
    }
    for (let d = rank - 2; d >= 0; d--) {
      idx[d]++;
      o += outStrides[d];
      if (idx[d] < dims[d]) break;
      o -= outStrides[d] * dims[d];
      idx[d] = 0;
    }
  }
  return out;
}

function argmax(x: Buf, shape: readonly number[], axis: number): Buf {
  let outer = 1;
  for (let i = 0; i < axis; i++) outer *= shape[i];
  const dim = shape[axis];
  const inner = sizeOf(shape.slice(axis + 1));
  const out = new Float32Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      // PyTorch's rule: NaN is the maximum, so the first NaN wins; otherwise the first of equal maxima.
      let best = -Infinity;
      let at = 0;
      for (let d = 0; d < dim; d++) {
        const v = x[(o * dim + d) * inner + i];
        if (v !== v) {
          at = d;
          break;
        }
        if (v > best) {
          best = v;
          at = d;
        }
      }
      out[o * inner + i] = at;
    }
  }
  return out;
}

export const reduceKernels: Pick<RowMajorKernels, 'reduce' | 'argmax'> = { reduce, argmax };
