/** torch.nn.functional: the stateless forms of the layers. */
import { Tensor } from '../tensor.js';
import { defaultGenerator } from '../random.js';

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
  const keep = 1 / (1 - p);
  const mask = new Float32Array(x.numel());
  for (let i = 0; i < mask.length; i++) mask[i] = defaultGenerator.uniform() >= p ? keep : 0;
  return x.mul(new Tensor(mask, x.shape));
}
