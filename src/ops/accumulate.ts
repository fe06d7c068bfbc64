/**
 * Summing a gradient that reaches a tensor a second time (a tensor read by two ops: every
 * Inception block's input feeds four branches). Where autograd says the first gradient is its
 * own alone (made by the pass, held by one slot, storage unshared) and the backend has
 * addInPlace, the second is added into it; otherwise a new sum is made.
 */
import { kernelsOn } from './dispatch.js';
import { sameShape } from '../shape.js';
import type { Tensor } from '../tensor.js';

/** prev + g: prev itself, summed in place, when prevIsSpare and the backend can; else a new tensor. */
export function accumulateGrad(prev: Tensor, g: Tensor, prevIsSpare: boolean): Tensor {
  if (prevIsSpare && sameShape(prev.shape, g.shape) && prev.storage !== g.storage) {
    const k = kernelsOn('backward (summing gradients)', prev, g);
    if (k.addInPlace) {
      k.addInPlace(prev.storage, g.storage);
      return prev;
    }
  }
  return prev.add(g);
}
