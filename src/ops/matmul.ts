/**
 * Matrix products. `linear` is its own op (not matmul + transpose + add) so
 * that no transposed copy of the weight is ever made: the kernel's transpose
 * flags express x·Wᵀ, dy·W and dyᵀ·x directly.
 */
import { kernelsOn } from './dispatch.js';
import { Tensor, fromOp } from '../tensor.js';
import { broadcastShapes, numel, shapeStr } from '../shape.js';
import { sumTo } from './reduce.js';
import { countMacs } from './counter.js';
import { asOneOp, recordOp, tracingOn } from './trace.js';
import { expand, reshape, transpose, unsqueeze, squeeze } from './movement.js';

/** torch.matmul for rank ≥ 1 operands, with batch broadcasting. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  if (a.ndim === 0 || b.ndim === 0) throw new Error('matmul: both arguments need at least 1 dimension');
  if (tracingOn()) return asOneOp('matmul', [a, b], {}, () => matmul(a, b));
  if (a.ndim === 1 && b.ndim === 1) return reshape(matmul(unsqueeze(a, 0), unsqueeze(b, -1)), []);
  if (a.ndim === 1) return squeeze(matmul(unsqueeze(a, 0), b), -2);
  if (b.ndim === 1) return squeeze(matmul(a, unsqueeze(b, -1)), -1);
  const [m, k] = a.shape.slice(-2);
  const [k2, n] = b.shape.slice(-2);
  if (k !== k2) throw new Error(`matmul: shapes ${shapeStr(a.shape)} and ${shapeStr(b.shape)} cannot be multiplied (${m}x${k} and ${k2}x${n})`);
  const batchShape = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2), 'matmul');
  const ae = expand(a, [...batchShape, m, k]);
  const be = expand(b, [...batchShape, k, n]);
  const batch = numel(batchShape);
  countMacs(batch * m * k * n);
  const buf = kernelsOn('matmul', ae, be).matmul(ae.storage, be.storage, { batch, m, k, n, transA: false, transB: false });
  return fromOp(buf, [...batchShape, m, n], [a, b], 'Mm', (g) => [
    a.requiresGrad ? sumTo(matmul(g, transpose(be, -1, -2)), a.shape) : null,
    b.requiresGrad ? sumTo(matmul(transpose(ae, -1, -2), g), b.shape) : null,
  ]);
}

/** y = x·Wᵀ + b for x of shape [..., in] and W of shape [out, in] (torch.nn.functional.linear). */
export function linear(x: Tensor, w: Tensor, bias: Tensor | null): Tensor {
  const inF = w.shape[1];
  const outF = w.shape[0];
  if (x.shape[x.ndim - 1] !== inF) {
    throw new Error(`linear: expected input with last dim ${inF}, got shape ${shapeStr(x.shape)} (weight ${shapeStr(w.shape)})`);
  }
  const rows = x.numel() / inF;
  countMacs(rows * inF * outF);
  const k = kernelsOn('linear', x, w, bias);
  const xw = k.matmul(x.storage, w.storage, { batch: 1, m: rows, k: inF, n: outF, transA: false, transB: true });
  const y = bias ? k.binary('add', xw, [rows, outF], bias.storage, [1, outF], [rows, outF]) : xw;
  if (bias) xw.discard(); // the product without bias is a temporary no tensor holds
  const outShape = [...x.shape.slice(0, -1), outF];
  const inputs = bias ? [x, w, bias] : [x, w];
  const out = fromOp(y, outShape, inputs, 'Addmm', (g) => {
    const gx = x.requiresGrad
      ? new Tensor(k.matmul(g.storage, w.storage, { batch: 1, m: rows, k: outF, n: inF, transA: false, transB: false }), x.shape)
      : null;
    const gw = w.requiresGrad
      ? new Tensor(k.matmul(g.storage, x.storage, { batch: 1, m: outF, k: rows, n: inF, transA: true, transB: false }), w.shape)
      : null;
    const gb = bias?.requiresGrad ? reshape(g, [rows, outF]).sum(0) : null;
    return bias ? [gx, gw, gb] : [gx, gw];
  });
  if (tracingOn()) recordOp('linear', inputs, out);
  return out;
}
