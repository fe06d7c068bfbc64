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

/**
 * Set every gradient to null (torch's zero_grad with set_to_none=True), disposing the old
 * gradient tensors so the next step reuses their memory at once; clone() one first to keep it.
 */
export function clearGrads(params: Iterable<Tensor>): void {
  for (const p of params) {
    p.grad?.dispose();
    p.grad = null;
  }
}
