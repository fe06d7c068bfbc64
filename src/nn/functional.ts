/** torch.nn.functional: the stateless forms of the layers. */
import { Tensor } from '../tensor.js';
import { defaultGenerator } from '../random.js';
import { kernelsOn } from '../ops/dispatch.js';

export { conv2d } from '../ops/conv.js';
export { linear } from '../ops/matmul.js';
export { maxPool2d, avgPool2d, adaptiveAvgPool2d } from '../ops/pool.js';
export { softmax, logSoftmax, crossEntropy, nllLoss, mseLoss } from '../ops/softmax.js';
export { batchNorm } from '../ops/batchnorm.js';

export function relu(x: Tensor): Tensor {
  return x.relu();
}

export function sigmoid(x: Tensor): Tensor {
  return x.sigmoid();
}

export function tanh(x: Tensor): Tensor {
  return x.tanh();
}

/** Zero each element with probability p and scale the rest by 1/(1-p) while training. */
export function dropout(x: Tensor, p = 0.5, training = true): Tensor {
  if (!training || p === 0) return x;
  if (p === 1) return x.mul(0);
  // One draw from the seeded generator picks the mask's seed; the mask itself is drawn on x's device.
  const seed = defaultGenerator.int(0, 2 ** 31);
  const mask = new Tensor(kernelsOn('dropout', x).dropoutMask(x.numel(), p, seed), x.shape);
  return x.mul(mask);
}
