import { Tensor } from '../tensor.js';

/** A tensor that is a module's learnable parameter (torch.nn.Parameter): always a leaf that requires grad. */
export class Parameter extends Tensor {
  constructor(data: Tensor, requiresGrad = true) {
    super(data.storage, data.shape, { requiresGrad });
  }
}
