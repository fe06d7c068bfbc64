import type { Tensor } from '../../tensor.js';
import { Module } from '../module.js';
import { crossEntropy, mseLoss, type Reduction } from '../../ops/softmax.js';

export class CrossEntropyLoss extends Module {
  constructor(readonly reduction: Reduction = 'mean') {
    super();
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return crossEntropy(input, target, this.reduction);
  }
}

export class MSELoss extends Module {
  constructor(readonly reduction: Reduction = 'mean') {
    super();
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return mseLoss(input, target, this.reduction);
  }
}
