import { Tensor } from '../tensor.js';
import { keep } from '../memory.js';

/** A tensor that is a module's learnable parameter (torch.nn.Parameter): always a leaf that requires grad. */
export class Parameter extends Tensor {
  constructor(data: Tensor, requiresGrad = true) {
    super(data.storage, data.shape, { requiresGrad });
    // A model outlives the tidy() scope it may be built in.
    keep(this);
  }
}
