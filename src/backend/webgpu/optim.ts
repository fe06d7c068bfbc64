/** In-place SGD and Adam updates, one thread per parameter element (torch.optim's single-tensor formulas). */
import type { AdamDesc, Kernels, SgdDesc } from '../kernels.js';
import { groupsFor, run, type GpuStorage, type WebGpuCtx } from './common.js';
import { kernel, perElement } from './wgsl.js';

const SGD = kernel('sgd', () => ({
  bindings: 'Pm:w G:r Buf:w', params: 'n:u32 lr:f32 momentum:f32 dampening:f32 wd:f32 nesterov:u32 sign:f32 hasBuf:u32',
  body: perElement('P.n', `  var g = P.sign * G[i];
  if (P.wd != 0.0) { g += P.wd * Pm[i]; }
  if (P.hasBuf != 0u) {
    let b = P.momentum * Buf[i] + (1.0 - P.dampening) * g;
    Buf[i] = b;
    g = select(b, g + P.momentum * b, P.nesterov != 0u);
  }
  Pm[i] = Pm[i] - P.lr * g;`),
}));

const ADAM = kernel('adam', () => ({
  bindings: 'Pm:w G:r Mo:w Vo:w', params: 'n:u32 lr:f32 b1:f32 b2:f32 eps:f32 wd:f32 decoupled:u32 stepSize:f32 bc2Sqrt:f32',
  body: perElement('P.n', `  var g = G[i];
  var p = Pm[i];
  if (P.wd != 0.0) {
    if (P.decoupled != 0u) { p = p * (1.0 - P.lr * P.wd); } else { g += P.wd * p; }
  }
  let m = P.b1 * Mo[i] + (1.0 - P.b1) * g;
  let v = P.b2 * Vo[i] + (1.0 - P.b2) * g * g;
  Mo[i] = m;
  Vo[i] = v;
  let denom = sqrt(v) / P.bc2Sqrt + P.eps;
  Pm[i] = p - P.stepSize * (m / denom);`),
}));

export function optimKernels(c: WebGpuCtx): Pick<Kernels<GpuStorage>, 'sgdStepInplace' | 'adamStepInplace'> {
  return {
    sgdStepInplace(param, grad, momentumBuf, d: SgdDesc) {
      const useBuf = momentumBuf !== null && d.momentum !== 0;
      // Without momentum the buffer binding is unused; the context's placeholder fills it.
      c.gpu.dispatch(SGD, [param.buf, grad.buf, useBuf ? (momentumBuf as GpuStorage).buf : c.gpu.placeholder], [
        param.numel, d.lr, d.momentum, d.dampening, d.weightDecay, d.nesterov ? 1 : 0, d.maximize ? -1 : 1, useBuf ? 1 : 0,
      ], groupsFor(c, param.numel));
    },
    adamStepInplace(param, grad, m, v, d: AdamDesc) {
      const bc1 = 1 - Math.pow(d.beta1, d.step);
      const bc2 = 1 - Math.pow(d.beta2, d.step);
      run(c, ADAM, [param, grad, m, v], [
        param.numel, d.lr, d.beta1, d.beta2, d.eps, d.weightDecay, d.decoupled ? 1 : 0, d.lr / bc1, Math.sqrt(bc2),
      ], groupsFor(c, param.numel));
    },
  };
}
