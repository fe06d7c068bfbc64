/**
 * BatchNorm2d (training) + activation + AvgPool2d as one autograd node: what Sequential runs for
 * LeNet-BN's BatchNorm2d, Sigmoid, AvgPool2d(2). Where the backend has it (batchNormAvgPoolTrain),
 * each plane is normalised, activated and pooled while in cache, and the backward makes the pool's
 * and the activation's gradient per plane inside the batch norm's two passes
 * (batchNormAvgPoolBackward): the layers one by one wrote the activation's output and its gradient
 * out and read each back. Elsewhere the node is batchNorm then avgPool2d, the layers' own ops.
 */
import { kernelsOn } from './dispatch.js';
import { batchNorm, batchNormSetup, updateRunningStats, type BatchNormOptions } from './batchnorm.js';
import { avgPool2d, poolDesc } from './pool.js';
import type { Pair } from './conv.js';
import { Tensor, fromOp } from '../tensor.js';
import { shapeStr } from '../shape.js';

export interface AvgPoolSpec {
  kernel: Pair;
  stride: Pair | null;
  padding: Pair;
}

export function batchNormActivationAvgPool(
  x: Tensor, runningMean: Tensor | null, runningVar: Tensor | null, weight: Tensor | null, bias: Tensor | null,
  opts: BatchNormOptions, pool: AvgPoolSpec,
): Tensor {
  if (x.ndim !== 4) throw new Error(`batch_norm + avg_pool2d: expected a 4-D input [N,C,H,W], got shape ${shapeStr(x.shape)}`);
  const unfused = (): Tensor => avgPool2d(batchNorm(x, runningMean, runningVar, weight, bias, opts), pool.kernel, pool.stride, pool.padding);
  // Running statistics normalise in eval mode: a per-channel affine map, nothing to gain by fusing.
  if (!opts.training) return unfused();
  const k = kernelsOn('batch_norm', x, weight, bias, runningMean, runningVar);
  // A backend without the fused kernel (reference, webgpu) goes straight to the layers' ops.
  if (!k.batchNormAvgPoolTrain) return unfused();
  const { d, name, gamma, beta } = batchNormSetup(x, runningMean, runningVar, weight, bias, opts);
  const pd = poolDesc('avg', x, pool.kernel, pool.stride, pool.padding, true);
  const fused = k.batchNormAvgPoolTrain?.(x.storage, gamma.storage, beta.storage, d, pd) ?? null;
  if (!fused) return unfused();
  const { y, pooled, mean, variance } = fused;
  const [n, c] = x.shape;
  if (runningMean && runningVar) updateRunningStats(k, runningMean, runningVar, mean, variance, opts.momentum, n * d.spatial);
  // The statistics and the activation's output ride along as inputs that need no gradient: the
  // graph keeps them for the backward and frees them with the node.
  const saved = [new Tensor(mean, [c]), new Tensor(variance, [c]), new Tensor(y, x.shape)];
  const params = weight && bias ? [x, weight, bias] : [x];
  const out: Tensor = fromOp(pooled, [pd.n, pd.c, pd.oh, pd.ow], [...params, ...saved], `${name}AvgPool2D`, (gOut) => {
    const [m, v, act] = saved.map((t) => t.storage);
    let r = k.batchNormAvgPoolBackward?.(x.storage, gOut.storage, gamma.storage, m, v, d, act, pd) ?? null;
    if (!r) {
      const dAct = k.pool2dBackward(act, out.storage, gOut.storage, pd);
      r = k.batchNormBackward(x.storage, dAct, gamma.storage, m, v, d, act);
      dAct.discard();
    }
    const gx = new Tensor(r.dx, x.shape);
    return weight && bias ? [gx, new Tensor(r.dgamma, weight.shape), new Tensor(r.dbeta, bias.shape)] : [gx];
  });
  if (!out.gradFn) saved.forEach((t) => t.dispose());
  return out;
}
