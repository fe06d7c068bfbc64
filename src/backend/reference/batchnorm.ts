/**
 * Batch normalisation over x viewed as [n, c, spatial]; statistics per channel.
 * Accumulation is in float64 so the oracle does not drift on large batches.
 */
import { elementwiseKernels } from './elementwise.js';
import type { BatchNormDesc, Buf, RowMajorKernels } from '../kernels.js';

function channelStats(x: Buf, d: BatchNormDesc): { mean: Float32Array; variance: Float32Array } {
  const { n, c, spatial } = d;
  const count = n * spatial;
  const mean = new Float32Array(c);
  const variance = new Float32Array(c);
  for (let ch = 0; ch < c; ch++) {
    let s = 0;
    for (let i = 0; i < n; i++) {
      const base = (i * c + ch) * spatial;
      for (let j = 0; j < spatial; j++) s += x[base + j];
    }
    const m = s / count;
    let v = 0;
    for (let i = 0; i < n; i++) {
      const base = (i * c + ch) * spatial;
      for (let j = 0; j < spatial; j++) {
        const t = x[base + j] - m;
        v += t * t;
      }
    }
    mean[ch] = m;
    variance[ch] = v / count;
  }
  return { mean, variance };
}

function normalise(x: Buf, gamma: Buf, beta: Buf, mean: Buf, variance: Buf, d: BatchNormDesc): Float32Array {
  const { n, c, spatial, eps } = d;
  const y = new Float32Array(x.length);
  for (let ch = 0; ch < c; ch++) {
    const scale = gamma[ch] / Math.sqrt(variance[ch] + eps);
    const shift = beta[ch] - mean[ch] * scale;
    for (let i = 0; i < n; i++) {
      const base = (i * c + ch) * spatial;
      for (let j = 0; j < spatial; j++) y[base + j] = x[base + j] * scale + shift;
    }
  }
  return y;
}

/** The fused activation, if any, applied to the normalised output. */
function activate(y: Buf, d: BatchNormDesc): Buf {
  return d.activation ? elementwiseKernels.unary(d.activation, y) : y;
}

function batchNormTrain(x: Buf, gamma: Buf, beta: Buf, d: BatchNormDesc): { y: Buf; mean: Buf; variance: Buf } {
  const { mean, variance } = channelStats(x, d);
  return { y: activate(normalise(x, gamma, beta, mean, variance, d), d), mean, variance };
}

function batchNormInference(x: Buf, gamma: Buf, beta: Buf, mean: Buf, variance: Buf, d: BatchNormDesc): Buf {
  return activate(normalise(x, gamma, beta, mean, variance, d), d);
}

/**
 * dx = γ·invstd/m · (m·dy − Σdy − x̂·Σ(dy·x̂)), the standard closed form for
 * batch statistics; dγ = Σ dy·x̂, dβ = Σ dy.
 */
function batchNormBackward(x: Buf, dyOut: Buf, gamma: Buf, mean: Buf, variance: Buf, d: BatchNormDesc, y?: Buf): { dx: Buf; dgamma: Buf; dbeta: Buf } {
  const { n, c, spatial, eps } = d;
  if (d.activation && !y) throw new Error('batchNormBackward: a fused activation needs the output y');
  // Through the fused activation first: dy of the normalised values.
  // (relu tests its input > 0, which its output y tells as well, as for the fused convolution)
  const dy = d.activation ? elementwiseKernels.activationBackward(d.activation, y as Buf, y as Buf, dyOut) : dyOut;
  const m = n * spatial;
  const dx = new Float32Array(x.length);
  const dgamma = new Float32Array(c);
  const dbeta = new Float32Array(c);
  for (let ch = 0; ch < c; ch++) {
    const invstd = 1 / Math.sqrt(variance[ch] + eps);
    const mu = mean[ch];
    let sdy = 0;
    let sdyx = 0;
    for (let i = 0; i < n; i++) {
      const base = (i * c + ch) * spatial;
      for (let j = 0; j < spatial; j++) {
        sdy += dy[base + j];
        sdyx += dy[base + j] * (x[base + j] - mu) * invstd;
      }
    }
    dgamma[ch] = sdyx;
    dbeta[ch] = sdy;
    const k = gamma[ch] * invstd / m;
    for (let i = 0; i < n; i++) {
      const base = (i * c + ch) * spatial;
      for (let j = 0; j < spatial; j++) {
        const xhat = (x[base + j] - mu) * invstd;
        dx[base + j] = k * (m * dy[base + j] - sdy - xhat * sdyx);
      }
    }
  }
  return { dx, dgamma, dbeta };
}

export const batchNormKernels: Pick<RowMajorKernels, 'batchNormTrain' | 'batchNormInference' | 'batchNormBackward'> = {
  batchNormTrain, batchNormInference, batchNormBackward,
};
