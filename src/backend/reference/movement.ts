import type { Buf, RowMajorKernels } from '../kernels.js';
import { sizeOf, stridesFor } from './strides.js';

function permute(x: Buf, shape: readonly number[], perm: readonly number[]): Buf {
  const rank = shape.length;
  const outShape = perm.map((p) => shape[p]);
  const inStrides = stridesFor(shape);
  // stride in x for each output dim
  const srcStride = perm.map((p) => inStrides[p]);
  const out = new Float32Array(x.length);
  const idx = new Array<number>(rank).fill(0);
  const inner = outShape[rank - 1] ?? 1;
  const innerStride = srcStride[rank - 1] ?? 1;
  let src = 0;
  for (let o = 0; o < out.length; o += inner) {
    for (let j = 0; j < inner; j++) out[o + j] = x[src + j * innerStride];
    for (let d = rank - 2; d >= 0; d--) {
      idx[d]++;
      src += srcStride[d];
      if (idx[d] < outShape[d]) break;
      src -= srcStride[d] * outShape[d];
      idx[d] = 0;
    }
  }
  return out;
}

function concat(parts: readonly Buf[], dims: readonly number[], outer: number, inner: number): Buf {
  const total = dims.reduce((a, b) => a + b, 0);
  return concatInto(new Float32Array(outer * total * inner), parts, dims, outer, inner);
}

/** concat, written into `out` (outer × Σdims × inner values, every one overwritten). */
export function concatInto(out: Buf, parts: readonly Buf[], dims: readonly number[], outer: number, inner: number): Buf {
  const total = dims.reduce((a, b) => a + b, 0);
  let offset = 0;
  parts.forEach((p, i) => {
    const block = dims[i] * inner;
    for (let o = 0; o < outer; o++) out.set(p.subarray(o * block, (o + 1) * block), (o * total + offset) * inner);
    offset += dims[i];
  });
  return out;
}

function slice(x: Buf, outer: number, dim: number, inner: number, start: number, len: number): Buf {
  return sliceInto(new Float32Array(outer * len * inner), x, outer, dim, inner, start, len);
}

/** slice, written into `out` (outer × len × inner values, every one overwritten). */
export function sliceInto(out: Buf, x: Buf, outer: number, dim: number, inner: number, start: number, len: number): Buf {
  for (let o = 0; o < outer; o++) {
    const from = (o * dim + start) * inner;
    out.set(x.subarray(from, from + len * inner), o * len * inner);
  }
  return out;
}

function expand(x: Buf, shape: readonly number[], outShape: readonly number[]): Buf {
  const rank = outShape.length;
  const strides = stridesFor(shape).map((s, i) => (shape[i] === 1 ? 0 : s));
  const out = new Float32Array(sizeOf(outShape));
  const idx = new Array<number>(rank).fill(0);
  const inner = outShape[rank - 1] ?? 1;
  const innerStride = strides[rank - 1] ?? 0;
  let src = 0;
  for (let o = 0; o < out.length; o += inner) {
    for (let j = 0; j < inner; j++) out[o + j] = x[src + j * innerStride];
    for (let d = rank - 2; d >= 0; d--) {
      idx[d]++;
      src += strides[d];
      if (idx[d] < outShape[d]) break;
      src -= strides[d] * outShape[d];
      idx[d] = 0;
    }
  }
  return out;
}

export const movementKernels: Pick<RowMajorKernels, 'permute' | 'concat' | 'slice' | 'expand'> = { permute, concat, slice, expand };
