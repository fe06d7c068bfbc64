/**
 * LeNet with batch normalisation, both ways the seed writes it: a BatchNorm
 * built from tensor ops (`lenetBNScratch`) and the built-in layers (`lenetBN`).
 */
import { Tensor } from '../tensor.js';
import { isGradEnabled, noGrad } from '../autograd/grad-mode.js';
import { nn } from './nn.js';

/**
 * The seed's batch_norm: batch statistics when gradients are being recorded
 * (training), moving statistics otherwise — the mode comes from isGradEnabled(),
 * exactly as the seed decides it with torch.is_grad_enabled().
 */
export function batchNorm(
  X: Tensor, gamma: Tensor, beta: Tensor, movingMean: Tensor, movingVar: Tensor, eps: number, momentum: number,
): [Tensor, Tensor, Tensor] {
  let XHat: Tensor;
  if (!isGradEnabled()) {
    XHat = X.sub(movingMean).div(movingVar.add(eps).sqrt());
  } else {
    if (X.ndim !== 2 && X.ndim !== 4) throw new Error(`BatchNorm: expected a 2-D or 4-D input, got [${X.shape.join(',')}]`);
    let mean: Tensor;
    let variance: Tensor;
    if (X.ndim === 2) {
      mean = X.mean(0);
      variance = X.sub(mean).pow(2).mean(0);
    } else {
      mean = X.mean([0, 2, 3], true);
      variance = X.sub(mean).pow(2).mean([0, 2, 3], true);
    }
    XHat = X.sub(mean).div(variance.add(eps).sqrt());
    // Moving averages are state, not part of the graph.
    [movingMean, movingVar] = noGrad(() => [
      movingMean.mul(momentum).add(mean.mul(1 - momentum).reshape(movingMean.shape)),
      movingVar.mul(momentum).add(variance.mul(1 - momentum).reshape(movingVar.shape)),
    ]);
  }
  const Y = gamma.mul(XHat).add(beta);
  return [Y, movingMean.detach(), movingVar.detach()];
}

/**
 * The seed's BatchNorm layer. Unlike the seed, moving_mean and moving_var are
 * registered as buffers, so checkpoints keep them and eval after reload works.
 */
export class BatchNorm extends nn.Module {
  gamma: nn.Parameter;
  beta: nn.Parameter;
  declare moving_mean: Tensor;
  declare moving_var: Tensor;

  /** numDims: 2 after a fully connected layer, 4 after a convolution. */
  constructor(readonly numFeatures: number, readonly numDims: 2 | 4) {
    super();
    const shape = numDims === 2 ? [1, numFeatures] : [1, numFeatures, 1, 1];
    const n = numFeatures;
    this.gamma = new nn.Parameter(new Tensor(new Float32Array(n).fill(1), shape));
    this.beta = new nn.Parameter(new Tensor(new Float32Array(n), shape));
    this.registerBuffer('moving_mean', new Tensor(new Float32Array(n), shape));
    this.registerBuffer('moving_var', new Tensor(new Float32Array(n).fill(1), shape));
  }

  override describe(): string {
    return `BatchNorm(${this.numFeatures}, num_dims=${this.numDims})`;
  }

  forward(X: Tensor): Tensor {
    if (X.shape[1] !== this.numFeatures) {
      throw new nn.LayerError(this.describe(), `expected ${this.numFeatures} features in dim 1, got ${X.shape[1]} (input [${X.shape.join(',')}])`);
    }
    const [Y, mean, variance] = batchNorm(X, this.gamma, this.beta, this.moving_mean, this.moving_var, 1e-5, 0.9);
    // Keep the registered buffer objects; copy the new statistics into them.
    this.moving_mean.setStorage(mean.storage);
    this.moving_var.setStorage(variance.storage);
    return Y;
  }
}

export function lenetBNScratch(): nn.Sequential {
  return new nn.Sequential(
    new nn.Conv2d(1, 6, 5), new BatchNorm(6, 4), new nn.Sigmoid(),
    new nn.AvgPool2d(2, { stride: 2 }),
    new nn.Conv2d(6, 16, 5), new BatchNorm(16, 4), new nn.Sigmoid(),
    new nn.AvgPool2d(2, { stride: 2 }), new nn.Flatten(),
    new nn.Linear(16 * 4 * 4, 120), new BatchNorm(120, 2), new nn.Sigmoid(),
    new nn.Linear(120, 84), new BatchNorm(84, 2), new nn.Sigmoid(),
    // No normalisation on the output layer.
    new nn.Linear(84, 10),
  );
}

export function lenetBN(): nn.Sequential {
  return new nn.Sequential(
    new nn.Conv2d(1, 6, 5), new nn.BatchNorm2d(6), new nn.Sigmoid(),
    new nn.AvgPool2d(2, { stride: 2 }),
    new nn.Conv2d(6, 16, 5), new nn.BatchNorm2d(16), new nn.Sigmoid(),
    new nn.AvgPool2d(2, { stride: 2 }), new nn.Flatten(),
    new nn.Linear(256, 120), new nn.BatchNorm1d(120), new nn.Sigmoid(),
    new nn.Linear(120, 84), new nn.BatchNorm1d(84), new nn.Sigmoid(),
    new nn.Linear(84, 10),
  );
}
