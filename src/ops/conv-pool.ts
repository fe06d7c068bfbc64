/**
 * Conv2d + activation + pooling as one autograd node: what Sequential runs for LeNet's Conv2d,
 * Sigmoid, AvgPool2d and AlexNet's Conv2d, ReLU, MaxPool2d. The forward is the fused convolution
 * then the pool, or for an average pool one kernel for both where the backend has it
 * (conv2dAvgPool: each image pooled while in cache). The backward takes the pool's gradient
 * through the activation in one pass (avgPoolActivationBackward, maxPoolActivationBackward), where
 * the layers one by one wrote the pool's input gradient and read it back for the activation's, or,
 * for an average pool when x needs no gradient, straight into the weight gradient
 * (conv2dAvgPoolBackwardWeight).
 */
import { kernelsOn } from './dispatch.js';
import { activationGrad } from './activation-grad.js';
import { conv2dDesc, convGradList, convGrads, type Pair } from './conv.js';
import { poolDesc } from './pool.js';
import { countMacs } from './counter.js';
import type { ActivationOp, Pool2dDesc } from '../backend/kernels.js';
import type { AnyKernels } from '../backend/registry.js';
import type { Storage } from '../backend/storage.js';
import { Tensor, fromOp } from '../tensor.js';

export interface PoolSpec {
  kind: 'max' | 'avg';
  kernel: Pair;
  stride: Pair | null;
  padding: Pair;
}

const capital = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

/** The convolution's output gradient from the pooled one: through the pool and the activation, fused where the backend can. */
function throughPoolAndActivation(k: AnyKernels, activation: ActivationOp, y: Tensor, pooled: Storage, gOut: Tensor, pd: Pool2dDesc): Tensor {
  const fused = pd.kind === 'avg'
    ? k.avgPoolActivationBackward?.(activation, y.storage, gOut.storage, pd) ?? null
    : k.maxPoolActivationBackward?.(activation, y.storage, pooled, gOut.storage, pd) ?? null;
  if (fused) return new Tensor(fused, y.shape);
  return activationGrad(k, activation, y.storage, y.storage, new Tensor(k.pool2dBackward(y.storage, pooled, gOut.storage, pd), y.shape), true);
}

export function conv2dActivationPool(
  x: Tensor, w: Tensor, bias: Tensor | null, stride: Pair, padding: Pair, activation: ActivationOp, pool: PoolSpec,
): Tensor {
  const d = conv2dDesc(x, w, stride, padding);
  countMacs(d.n * d.oc * d.oh * d.ow * d.c * d.kh * d.kw);
  const k = kernelsOn('conv2d', x, w, bias);
  const fd = { ...d, activation };
  const yShape = [d.n, d.oc, d.oh, d.ow];
  const pd = poolDesc(pool.kind, { ndim: 4, shape: yShape }, pool.kernel, pool.stride, pool.padding, true);
  const avg = pd.kind === 'avg';
  const fused = avg ? k.conv2dAvgPool?.(x.storage, w.storage, bias ? bias.storage : null, fd, pd) ?? null : null;
  const y = new Tensor(fused ? fused.y : k.conv2d(x.storage, w.storage, bias ? bias.storage : null, fd), yShape);
  const pooled = fused ? fused.pooled : k.pool2d(y.storage, pd);
  const params = bias ? [x, w, bias] : [x, w];
  const name = `Convolution${capital(activation)}${avg ? 'Avg' : 'Max'}Pool2D`;
  // The activation's output rides along as an input that needs no gradient: the graph keeps it
  // for the backward and frees it with the node.
  const out: Tensor = fromOp(pooled, [pd.n, pd.c, pd.oh, pd.ow], [...params, y], name, (gOut) => {
    // A first layer's x needs no gradient: the weight gradient can take the pooled one directly.
    const direct = avg && !x.requiresGrad && (w.requiresGrad || bias?.requiresGrad)
      ? k.conv2dAvgPoolBackwardWeight?.(x.storage, y.storage, gOut.storage, fd, pd, bias !== null) ?? null
      : null;
    if (direct) return convGradList(null, w, bias, direct);
    const g = throughPoolAndActivation(k, activation, y, out.storage, gOut, pd);
    const grads = convGrads(k, x, w, bias, d, g);
    g.dispose();
    return grads;
  });
  if (!out.gradFn) y.dispose();
  return out;
}
