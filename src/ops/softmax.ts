/** Softmax family and the classification losses built on it. */
import { kernelsOn } from './dispatch.js';
import { Tensor, fromOp } from '../tensor.js';
import { normDim, shapeStr } from '../shape.js';
import { transpose } from './movement.js';
import { asOneOp, recordOp, tracingOn } from './trace.js';

type RowKernel = 'softmax' | 'logSoftmax';

/** Apply a row-wise kernel along `dim` by moving that dim last when needed. */
function alongDim(kind: RowKernel, x: Tensor, dim: number): Tensor {
  const d = normDim(dim, x.ndim, kind);
  if (tracingOn()) return asOneOp(kind === 'softmax' ? 'softmax' : 'log_softmax', [x], { dim: d }, () => alongDim(kind, x, d));
  const last = x.ndim - 1;
  if (d !== last) return transpose(alongDim(kind, transpose(x, d, last), last), d, last);
  const cols = x.shape[last] ?? 1;
  const rows = x.numel() / cols;
  const k = kernelsOn(kind, x);
  const y = kind === 'softmax' ? k.softmax(x.storage, rows, cols) : k.logSoftmax(x.storage, rows, cols);
  const out = fromOp(y, x.shape, [x], kind === 'softmax' ? 'Softmax' : 'LogSoftmax', (g) => {
    const dx = kind === 'softmax'
      ? k.softmaxBackward(out.storage, g.storage, rows, cols)
      : k.logSoftmaxBackward(out.storage, g.storage, rows, cols);
    return [new Tensor(dx, x.shape)];
  });
  return out;
}

export function softmax(x: Tensor, dim: number): Tensor {
  return alongDim('softmax', x, dim);
}

export function logSoftmax(x: Tensor, dim: number): Tensor {
  return alongDim('logSoftmax', x, dim);
}

export type Reduction = 'mean' | 'sum' | 'none';

/** Negative log-likelihood of class-index targets (torch.nn.functional.nll_loss for [N,C] input). */
export function nllLoss(logp: Tensor, target: Tensor, reduction: Reduction = 'mean'): Tensor {
  if (logp.ndim !== 2) throw new Error(`nll_loss: expected input of shape [N,C], got ${shapeStr(logp.shape)}`);
  const [rows, cols] = logp.shape;
  if (target.ndim !== 1 || target.shape[0] !== rows) {
    throw new Error(`cross_entropy/nll_loss: expected target of shape [${rows}] (one class index per row), got ${shapeStr(target.shape)}`);
  }
  // The kernel checks every target is a class index (host backends throw naming the first bad one).
  const k = kernelsOn('nll_loss', logp, target);
  const perRow = fromOp(k.nllLoss(logp.storage, target.storage, rows, cols), [rows], [logp], 'NllLoss', (g) => [
    new Tensor(k.nllLossBackward(g.storage, target.storage, rows, cols), logp.shape),
  ]);
  if (tracingOn()) recordOp('nll_loss', [logp, target], perRow);
  if (reduction === 'none') return perRow;
  return reduction === 'sum' ? perRow.sum() : perRow.mean();
}

export function crossEntropy(logits: Tensor, target: Tensor, reduction: Reduction = 'mean'): Tensor {
  if (logits.ndim !== 2) throw new Error(`cross_entropy: expected logits of shape [N,C], got ${shapeStr(logits.shape)}`);
  return nllLoss(logSoftmax(logits, 1), target, reduction);
}

export function mseLoss(input: Tensor, target: Tensor, reduction: Reduction = 'mean'): Tensor {
  const sq = input.sub(target).square();
  if (reduction === 'none') return sq;
  return reduction === 'sum' ? sq.sum() : sq.mean();
}
