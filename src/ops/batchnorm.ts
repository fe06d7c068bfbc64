/** Batch normalisation (torch.nn.functional.batch_norm) over dim 1 of [N,C,*]. */
import { kernelsOn } from './dispatch.js';
import { activationGrad } from './activation-grad.js';
import { fullOn } from './creation-on.js';
import type { ActivationOp, BatchNormDesc } from '../backend/kernels.js';
import { Tensor, fromOp } from '../tensor.js';
import type { Storage } from '../backend/storage.js';
import { numel, shapeStr } from '../shape.js';
import { recordOp, tracingOn } from './trace.js';
import type { AnyKernels } from '../backend/registry.js';

export interface BatchNormOptions {
  training: boolean;
  momentum: number;
  eps: number;
  /** An activation applied to the output in the same kernel (Sequential fuses BatchNorm + ReLU/Sigmoid/Tanh). */
  activation?: ActivationOp;
}

export function batchNorm(
  x: Tensor, runningMean: Tensor | null, runningVar: Tensor | null,
  weight: Tensor | null, bias: Tensor | null, opts: BatchNormOptions,
): Tensor {
  if (x.ndim < 2) throw new Error(`batch_norm: expected input of at least 2 dims [N,C,...], got shape ${shapeStr(x.shape)}`);
  const { d, name, gamma, beta } = batchNormSetup(x, runningMean, runningVar, weight, bias, opts);
  const [n, c] = x.shape;
  const k = kernelsOn('batch_norm', x, weight, bias, runningMean, runningVar);
  const inputs = weight && bias ? [x, weight, bias] : [x];
  const useBatchStats = opts.training || !runningMean || !runningVar;
  if (useBatchStats) {
    const { y, mean, variance } = k.batchNormTrain(x.storage, gamma.storage, beta.storage, d);
    if (opts.training && runningMean && runningVar) updateRunningStats(k, runningMean, runningVar, mean, variance, opts.momentum, n * d.spatial);
    // The batch statistics ride along as inputs that need no gradient, so the graph frees them
    // with the node (see the engine) instead of leaving them to the garbage collector.
    const saved = [new Tensor(mean, [c]), new Tensor(variance, [c])];
    const out = fromOp(y, x.shape, [...inputs, ...saved], name, (g) => {
      const r = k.batchNormBackward(x.storage, g.storage, gamma.storage, saved[0].storage, saved[1].storage, d, y);
      const gx = new Tensor(r.dx, x.shape);
      return weight && bias ? [gx, new Tensor(r.dgamma, weight.shape), new Tensor(r.dbeta, bias.shape)] : [gx];
    });
    if (tracingOn()) recordOp('batch_norm_batch_stats', [x, gamma, beta], out, { eps: opts.eps, activation: opts.activation ?? null });
    return out;
  }
  const rm = runningMean as Tensor;
  const rv = runningVar as Tensor;
  const y = k.batchNormInference(x.storage, gamma.storage, beta.storage, rm.storage, rv.storage, d);
  const out = fromOp(y, x.shape, inputs, name, (gOut, spare) => {
    const act = opts.activation;
    const g = act ? activationGrad(k, act, y, y, gOut, spare) : gOut;
    // With fixed statistics the op is a per-channel affine map.
    const bshape = [1, c, ...x.shape.slice(2).map(() => 1)];
    const invstd = rv.reshape(bshape).add(opts.eps).sqrt().reciprocal();
    const gx = g.mul(gamma.reshape(bshape).mul(invstd));
    if (!(weight && bias)) return [gx];
    const axes = [0, ...x.shape.slice(2).map((_, i) => i + 2)];
    const xhat = x.sub(rm.reshape(bshape)).mul(invstd);
    return [gx, g.mul(xhat).sum(axes).reshape(weight.shape), g.sum(axes).reshape(bias.shape)];
  });
  if (tracingOn()) recordOp('batch_norm', [x, gamma, beta, rm, rv], out, { eps: opts.eps, activation: opts.activation ?? null });
  return out;
}

/** What batch_norm and the fused batch norm + pool node share: the descriptor, the node's name, γ and β (1 and 0 when absent), checked. */
export function batchNormSetup(
  x: Tensor, runningMean: Tensor | null, runningVar: Tensor | null, weight: Tensor | null, bias: Tensor | null, opts: BatchNormOptions,
): { d: BatchNormDesc; name: string; gamma: Tensor; beta: Tensor } {
  const [n, c] = x.shape;
  const d: BatchNormDesc = { n, c, spatial: numel(x.shape.slice(2)), eps: opts.eps };
  if (opts.activation) d.activation = opts.activation;
  const name = opts.activation ? `NativeBatchNorm${opts.activation.charAt(0).toUpperCase()}${opts.activation.slice(1)}` : 'NativeBatchNorm';
  const gamma = weight ?? fullOn([c], 1, x);
  const beta = bias ?? fullOn([c], 0, x);
  for (const [name, t] of [['weight', gamma], ['bias', beta], ['running_mean', runningMean], ['running_var', runningVar]] as const) {
    if (t && t.numel() !== c) throw new Error(`batch_norm: ${name} has ${t.numel()} elements but the input has ${c} channels (input ${shapeStr(x.shape)})`);
  }
  if (opts.training && n * d.spatial <= 1) {
    throw new Error(`batch_norm: expected more than 1 value per channel when training, got input ${shapeStr(x.shape)}`);
  }
  return { d, name, gamma, beta };
}

/** running = (1 - momentum)·running + momentum·batch; the running variance takes the unbiased estimate, as PyTorch's does. */
export function updateRunningStats(
  k: AnyKernels, runningMean: Tensor, runningVar: Tensor, mean: Storage, variance: Storage, momentum: number, count: number,
): void {
  const c = runningMean.numel();
  const unbias = count / Math.max(count - 1, 1);
  const blend = (old: Storage, batch: Storage, scale: number): Storage => {
    const a = k.affine(old, 1 - momentum, 0);
    const b = k.affine(batch, scale, 0);
    const out = k.binary('add', a, [c], b, [c], [c]);
    a.discard();
    b.discard();
    return out;
  };
  runningMean.setStorage(blend(runningMean.storage, mean, momentum));
  runningVar.setStorage(blend(runningVar.storage, variance, momentum * unbias));
}
