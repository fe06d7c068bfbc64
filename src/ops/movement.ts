/** Shape and data-movement ops. Reshapes share storage; the rest copy. */
import { kernelsOn } from './dispatch.js';
import { fullOn } from './creation-on.js';
import { Tensor, fromOp } from '../tensor.js';
import { normDim, numel, padShape, sameShape, shapeStr, type Shape } from '../shape.js';
import { sumTo } from './reduce.js';
import { asOneOp, recordOp, tracingOn } from './trace.js';
import type { Storage } from '../backend/storage.js';

export function reshape(x: Tensor, shapeIn: readonly number[]): Tensor {
  const shape = resolveShape(shapeIn, x.numel(), x.shape);
  if (sameShape(shape, x.shape)) return x;
  const out = x.dtype !== 'float32'
    ? new Tensor(x.storage, shape, { dtype: x.dtype })
    : fromOp(x.storage, shape, [x], 'View', (g) => [reshape(g, x.shape)]);
  // The shape as asked (with its -1) is what a traced graph needs to stay valid for other batch sizes.
  if (tracingOn()) recordOp('reshape', [x], out, { shape: [...shapeIn] });
  return out;
}

function resolveShape(shape: readonly number[], n: number, from: Shape): number[] {
  const out = [...shape];
  const infer = out.indexOf(-1);
  if (out.filter((d) => d === -1).length > 1) throw new Error(`view: only one dimension can be -1, got ${shapeStr(shape)}`);
  if (infer >= 0) {
    const known = out.reduce((p, d, i) => (i === infer ? p : p * d), 1);
    if (known === 0 || n % known !== 0) throw new Error(`view: shape ${shapeStr(shape)} is invalid for input of size ${n} (shape ${shapeStr(from)})`);
    out[infer] = n / known;
  }
  if (out.some((d) => !Number.isInteger(d) || d < 0) || numel(out) !== n) {
    throw new Error(`view: shape ${shapeStr(shape)} is invalid for input of size ${n} (shape ${shapeStr(from)})`);
  }
  return out;
}

export function flatten(x: Tensor, startDim: number, endDim: number): Tensor {
  if (x.ndim === 0) return reshape(x, [1]);
  if (tracingOn()) return asOneOp('flatten', [x], { startDim, endDim }, () => flatten(x, startDim, endDim));
  const s = normDim(startDim, x.ndim, 'flatten');
  const e = normDim(endDim, x.ndim, 'flatten');
  if (s > e) throw new Error(`flatten: start_dim ${startDim} comes after end_dim ${endDim}`);
  const mid = x.shape.slice(s, e + 1).reduce((p, d) => p * d, 1);
  return reshape(x, [...x.shape.slice(0, s), mid, ...x.shape.slice(e + 1)]);
}

export function permute(x: Tensor, permIn: readonly number[]): Tensor {
  if (permIn.length !== x.ndim) throw new Error(`permute: got ${permIn.length} dims for a tensor of rank ${x.ndim}`);
  const perm = permIn.map((d) => normDim(d, x.ndim, 'permute'));
  if (new Set(perm).size !== perm.length) throw new Error(`permute: repeated dim in [${permIn.join(',')}]`);
  if (perm.every((p, i) => p === i)) return x;
  const shape = perm.map((p) => x.shape[p]);
  const inverse = new Array<number>(perm.length);
  perm.forEach((p, i) => (inverse[p] = i));
  const out = fromOp(kernelsOn('permute', x).permute(x.storage, x.shape, perm), shape, [x], 'Permute', (g) => [permute(g, inverse)]);
  if (tracingOn()) recordOp('permute', [x], out, { perm });
  return out;
}

export function transpose(x: Tensor, d0: number, d1: number): Tensor {
  const perm = [...x.shape.keys()];
  const a = normDim(d0, x.ndim, 'transpose');
  const b = normDim(d1, x.ndim, 'transpose');
  [perm[a], perm[b]] = [perm[b], perm[a]];
  return permute(x, perm);
}

export function squeeze(x: Tensor, dim?: number): Tensor {
  if (dim === undefined) return reshape(x, x.shape.filter((d) => d !== 1));
  const d = normDim(dim, x.ndim, 'squeeze');
  if (x.shape[d] !== 1) return x;
  return reshape(x, x.shape.filter((_, i) => i !== d));
}

export function unsqueeze(x: Tensor, dim: number): Tensor {
  const d = normDim(dim, x.ndim + 1, 'unsqueeze');
  const shape = [...x.shape];
  shape.splice(d, 0, 1);
  return reshape(x, shape);
}

export function expand(x: Tensor, shapeIn: readonly number[]): Tensor {
  if (shapeIn.length < x.ndim) throw new Error(`expand: target ${shapeStr(shapeIn)} has fewer dims than ${shapeStr(x.shape)}`);
  const padded = padShape(x.shape, shapeIn.length);
  const shape = shapeIn.map((d, i) => (d === -1 ? padded[i] : d));
  shape.forEach((d, i) => {
    if (padded[i] !== 1 && padded[i] !== d) throw new Error(`expand: cannot expand ${shapeStr(x.shape)} to ${shapeStr(shapeIn)} (dim ${i})`);
  });
  if (sameShape(shape, x.shape)) return x;
  const out = fromOp(kernelsOn('expand', x).expand(x.storage, padded, shape), shape, [x], 'Expand', (g) => [sumTo(g, x.shape)]);
  if (tracingOn()) recordOp('expand', [x], out, { shape });
  return out;
}

/** View x as [outer, dim, inner] around axis d. */
function around(shape: Shape, d: number): { outer: number; dim: number; inner: number } {
  return { outer: numel(shape.slice(0, d)), dim: shape[d], inner: numel(shape.slice(d + 1)) };
}

export function slice(x: Tensor, dim: number, start: number, end?: number): Tensor {
  const d = normDim(dim, x.ndim, 'slice');
  const size = x.shape[d];
  const clampIdx = (i: number): number => Math.min(Math.max(i < 0 ? i + size : i, 0), size);
  const s = clampIdx(start);
  const e = Math.max(s, clampIdx(end ?? size));
  const { outer, inner } = around(x.shape, d);
  const shape = [...x.shape];
  shape[d] = e - s;
  const buf = kernelsOn('slice', x).slice(x.storage, outer, size, inner, s, e - s);
  const out = x.dtype !== 'float32' ? new Tensor(buf, shape, { dtype: x.dtype }) : sliceNode(x, buf, shape, d, s, e);
  if (tracingOn()) recordOp('slice', [x], out, { dim: d, start: s, end: e });
  return out;
}

/** A float slice with its gradient: zeros around g along the sliced dim. */
function sliceNode(x: Tensor, buf: Storage, shape: number[], d: number, s: number, e: number): Tensor {
  const size = x.shape[d];
  return fromOp(buf, shape, [x], 'Slice', (g) => {
    // Pad the gradient back with zeros before and after the slice.
    const parts: Tensor[] = [];
    const zerosAlong = (n: number): Tensor => {
      const zs = [...x.shape];
      zs[d] = n;
      return fullOn(zs, 0, x);
    };
    if (s > 0) parts.push(zerosAlong(s));
    parts.push(g);
    if (e < size) parts.push(zerosAlong(size - e));
    return [parts.length === 1 ? g : cat(parts, d)];
  });
}

export function select(x: Tensor, dim: number, i: number): Tensor {
  const d = normDim(dim, x.ndim, 'select');
  const size = x.shape[d];
  if (i < -size || i >= size) throw new Error(`index ${i} is out of bounds for dimension ${d} with size ${size}`);
  return squeeze(slice(x, d, i < 0 ? i + size : i, (i < 0 ? i + size : i) + 1), d);
}

export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  if (tensors.length === 0) throw new Error('cat: expected a non-empty list of tensors');
  const first = tensors[0];
  const d = normDim(dim, first.ndim, 'cat');
  tensors.forEach((t, i) => {
    const ok = t.ndim === first.ndim && t.shape.every((s, j) => j === d || s === first.shape[j]);
    if (!ok) throw new Error(`cat: tensor ${i} has shape ${shapeStr(t.shape)}, expected ${shapeStr(first.shape)} except in dim ${d}`);
  });
  const dims = tensors.map((t) => t.shape[d]);
  const { outer, inner } = around(first.shape, d);
  const shape = [...first.shape];
  shape[d] = dims.reduce((a, b) => a + b, 0);
  const buf = kernelsOn('cat', ...tensors).concat(tensors.map((t) => t.storage), dims, outer, inner);
  const out = first.dtype !== 'float32' ? new Tensor(buf, shape, { dtype: first.dtype }) : fromOp(buf, shape, tensors, 'Cat', (g) => {
    let offset = 0;
    return tensors.map((t, i) => {
      const part = t.requiresGrad ? slice(g, d, offset, offset + dims[i]) : null;
      offset += dims[i];
      return part;
    });
  });
  if (tracingOn()) recordOp('cat', tensors, out, { dim: d });
  return out;
}

export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  if (tensors.length === 0) throw new Error('stack: expected a non-empty list of tensors');
  const d = normDim(dim, tensors[0].ndim + 1, 'stack');
  tensors.forEach((t, i) => {
    if (!sameShape(t.shape, tensors[0].shape)) throw new Error(`stack: tensor ${i} has shape ${shapeStr(t.shape)}, expected ${shapeStr(tensors[0].shape)}`);
  });
  return cat(tensors.map((t) => unsqueeze(t, d)), d);
}
