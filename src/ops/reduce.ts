/** Reductions and their gradients (broadcast the output gradient back). */
import { kernelsOn } from './dispatch.js';
import { Tensor, fromOp } from '../tensor.js';
import { normDim, normDims, numel, padShape, sameShape, type Shape } from '../shape.js';
import { asOneOp, recordOp, tracingOn } from './trace.js';

function keptShape(shape: Shape, axes: readonly number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

function dropAxes(shape: Shape, axes: readonly number[]): number[] {
  return shape.filter((_, i) => !axes.includes(i));
}

/** Broadcast g (reduced over axes, with or without kept dims) back to shape. */
function expandBack(g: Tensor, shape: Shape, axes: readonly number[]): Tensor {
  const kept = keptShape(shape, axes);
  return g.reshape(kept).expand([...shape]);
}

/** Sum g down to shape: the gradient of broadcasting shape → g.shape. */
export function sumTo(g: Tensor, shape: Shape): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const padded = padShape(shape, g.ndim);
  const axes: number[] = [];
  for (let i = 0; i < g.ndim; i++) if (padded[i] === 1 && g.shape[i] !== 1) axes.push(i);
  const s = axes.length > 0 ? sum(g, axes, true) : g;
  return s.reshape([...shape]);
}

export function sum(x: Tensor, dim: number | readonly number[] | undefined, keepdim: boolean): Tensor {
  const axes = normDims(dim, x.ndim, 'sum');
  const k = kernelsOn('sum', x);
  const buf = axes.length === 0 || x.ndim === 0 ? k.affine(x.storage, 1, 0) : k.reduce('sum', x.storage, x.shape, axes);
  const shape = keepdim ? keptShape(x.shape, axes) : dropAxes(x.shape, axes);
  const out = fromOp(buf, shape, [x], 'Sum', (g) => [expandBack(g, x.shape, axes)]);
  if (tracingOn()) recordOp('sum', [x], out, { axes, keepdim });
  return out;
}

export function mean(x: Tensor, dim: number | readonly number[] | undefined, keepdim: boolean): Tensor {
  const axes = normDims(dim, x.ndim, 'mean');
  const count = axes.reduce((p, a) => p * x.shape[a], 1);
  if (count === 0) throw new Error(`mean: reducing over an empty dimension (shape [${x.shape.join(',')}])`);
  if (tracingOn()) return asOneOp('mean', [x], { axes, keepdim }, () => mean(x, axes, keepdim));
  return sum(x, axes, keepdim).div(count);
}

/** max/min over all elements or one dim; gradient split evenly between ties (torch.amax semantics). */
function extreme(op: 'max' | 'min', x: Tensor, dim: number | undefined, keepdim: boolean): Tensor {
  if (x.numel() === 0) throw new Error(`${op}: empty tensor has no ${op}`);
  const axes = dim === undefined ? normDims(undefined, x.ndim, op) : [normDim(dim, x.ndim, op)];
  const k = kernelsOn(op, x);
  const buf = axes.length === 0 ? k.affine(x.storage, 1, 0) : k.reduce(op, x.storage, x.shape, axes);
  const shape = keepdim ? keptShape(x.shape, axes) : dropAxes(x.shape, axes);
  const out = fromOp(buf, shape, [x], op === 'max' ? 'Amax' : 'Amin', (g) => {
    const kept = keptShape(x.shape, axes);
    const mask = x.eq(out.reshape(kept));
    const count = sum(mask, axes, true);
    return [mask.div(count).mul(g.reshape(kept))];
  });
  if (tracingOn()) recordOp(op === 'max' ? 'amax' : 'amin', [x], out, { axes, keepdim });
  return out;
}

export function amax(x: Tensor, dim: number | undefined, keepdim: boolean): Tensor {
  return extreme('max', x, dim, keepdim);
}

export function amin(x: Tensor, dim: number | undefined, keepdim: boolean): Tensor {
  return extreme('min', x, dim, keepdim);
}

export function argmax(x: Tensor, dim: number | undefined, keepdim: boolean): Tensor {
  if (dim === undefined) {
    const flat = new Tensor(x.storage, [x.numel()], { dtype: x.dtype });
    return argmax(flat, 0, false);
  }
  const d = normDim(dim, x.ndim, 'argmax');
  const buf = kernelsOn('argmax', x).argmax(x.storage, x.shape, d);
  const shape = keepdim ? keptShape(x.shape, [d]) : dropAxes(x.shape, [d]);
  const out = new Tensor(buf, shape, { dtype: 'int32' });
  if (tracingOn()) recordOp('argmax', [x], out, { dim: d, keepdim });
  return out;
}

/** Variance with Bessel's correction by default (torch.var). */
export function variance(x: Tensor, dim: number | readonly number[] | undefined, opts: { correction?: number; unbiased?: boolean; keepdim?: boolean }): Tensor {
  const axes = normDims(dim, x.ndim, 'var');
  const correction = opts.correction ?? (opts.unbiased === false ? 0 : 1);
  const count = axes.reduce((p, a) => p * x.shape[a], 1);
  const mu = mean(x, axes, true);
  const sq = x.sub(mu).square();
  const s = sum(sq, axes, opts.keepdim ?? false);
  return s.div(Math.max(count - correction, 0));
}

export { numel };
