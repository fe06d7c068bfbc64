/** Softmax, log-softmax and negative log-likelihood over rows of a [rows, cols] matrix. */
import type { Buf, RowMajorKernels } from '../kernels.js';

function logSoftmax(x: Buf, rows: number, cols: number): Buf {
  const y = new Float32Array(x.length);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let m = -Infinity;
    for (let j = 0; j < cols; j++) if (x[o + j] > m) m = x[o + j];
    let s = 0;
    for (let j = 0; j < cols; j++) s += Math.exp(x[o + j] - m);
    const lse = m + Math.log(s);
    for (let j = 0; j < cols; j++) y[o + j] = x[o + j] - lse;
  }
  return y;
}

/** dx = dy − softmax · Σdy, with softmax = exp(y). */
function logSoftmaxBackward(y: Buf, dy: Buf, rows: number, cols: number): Buf {
  const dx = new Float32Array(y.length);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let s = 0;
    for (let j = 0; j < cols; j++) s += dy[o + j];
    for (let j = 0; j < cols; j++) dx[o + j] = dy[o + j] - Math.exp(y[o + j]) * s;
  }
  return dx;
}

function softmax(x: Buf, rows: number, cols: number): Buf {
  const y = new Float32Array(x.length);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let m = -Infinity;
    for (let j = 0; j < cols; j++) if (x[o + j] > m) m = x[o + j];
    let s = 0;
    for (let j = 0; j < cols; j++) {
      const e = Math.exp(x[o + j] - m);
      y[o + j] = e;
      s += e;
    }
    for (let j = 0; j < cols; j++) y[o + j] /= s;
  }
  return y;
}

/** dx = y ⊙ (dy − Σ dy⊙y). */
function softmaxBackward(y: Buf, dy: Buf, rows: number, cols: number): Buf {
  const dx = new Float32Array(y.length);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let s = 0;
    for (let j = 0; j < cols; j++) s += dy[o + j] * y[o + j];
    for (let j = 0; j < cols; j++) dx[o + j] = y[o + j] * (dy[o + j] - s);
  }
  return dx;
}

/** Host backends check the targets here, where the values are readable without waiting. */
function nllLoss(logp: Buf, target: Buf, rows: number, cols: number): Buf {
  for (let i = 0; i < rows; i++) {
    const t = target[i];
    if (!Number.isInteger(t) || t < 0 || t >= cols) {
      throw new Error(`cross_entropy/nll_loss: target[${i}] = ${t} is not a class index in [0, ${cols})`);
    }
  }
  const out = new Float32Array(rows);
  for (let r = 0; r < rows; r++) out[r] = -logp[r * cols + target[r]];
  return out;
}

function nllLossBackward(dloss: Buf, target: Buf, rows: number, cols: number): Buf {
  const dx = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) dx[r * cols + target[r]] = -dloss[r];
  return dx;
}

export const softmaxKernels: Pick<RowMajorKernels, 'logSoftmax' | 'logSoftmaxBackward' | 'softmax' | 'softmaxBackward' | 'nllLoss' | 'nllLossBackward'> = {
  logSoftmax, logSoftmaxBackward, softmax, softmaxBackward, nllLoss, nllLossBackward,
};
