/** Optimiser updates, written to follow torch.optim's single-tensor formulas line by line. */
import type { AdamDesc, Buf, RowMajorKernels, SgdDesc } from '../kernels.js';

function sgdStepInplace(param: Buf, grad: Buf, momentumBuf: Buf | null, d: SgdDesc): void {
  const sign = d.maximize ? -1 : 1;
  for (let i = 0; i < param.length; i++) {
    let g = sign * grad[i];
    if (d.weightDecay !== 0) g += d.weightDecay * param[i];
    if (momentumBuf && d.momentum !== 0) {
      // The caller zero-initialises momentumBuf and passes dampening=0 on the first step, as torch does.
      momentumBuf[i] = d.momentum * momentumBuf[i] + (1 - d.dampening) * g;
      g = d.nesterov ? g + d.momentum * momentumBuf[i] : momentumBuf[i];
    }
    param[i] -= d.lr * g;
  }
}

function adamStepInplace(param: Buf, grad: Buf, m: Buf, v: Buf, d: AdamDesc): void {
  const bc1 = 1 - Math.pow(d.beta1, d.step);
  const bc2 = 1 - Math.pow(d.beta2, d.step);
  const stepSize = d.lr / bc1;
  const bc2Sqrt = Math.sqrt(bc2);
  for (let i = 0; i < param.length; i++) {
    let g = grad[i];
    if (d.weightDecay !== 0) {
      if (d.decoupled) param[i] *= 1 - d.lr * d.weightDecay;
      else g += d.weightDecay * param[i];
    }
    m[i] = d.beta1 * m[i] + (1 - d.beta1) * g;
    v[i] = d.beta2 * v[i] + (1 - d.beta2) * g * g;
    const denom = Math.sqrt(v[i]) / bc2Sqrt + d.eps;
    param[i] -= stepSize * (m[i] / denom);
  }
}

export const optimKernels: Pick<RowMajorKernels, 'sgdStepInplace' | 'adamStepInplace'> = { sgdStepInplace, adamStepInplace };
