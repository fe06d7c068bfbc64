/** An activation's backward (relu, sigmoid, tanh), shared by the ops that compute one fused or alone. */
import type { AnyKernels } from '../backend/registry.js';
import type { ActivationOp } from '../backend/kernels.js';
import type { Storage } from '../backend/storage.js';
import { Tensor } from '../tensor.js';

/**
 * dx from the activation's input x, its output y and the incoming gradient g. When autograd says g
 * is spare, and the backend can, dx is written over g and g itself comes back: a ReLU network's
 * backward then needs no second buffer the size of each activation (about 400 MB a layer in VGG's
 * first blocks at batch 128).
 */
export function activationGrad(k: AnyKernels, op: ActivationOp, x: Storage, y: Storage, g: Tensor, gIsSpare: boolean): Tensor {
  if (gIsSpare && k.activationBackwardInPlace) {
    k.activationBackwardInPlace(op, x, y, g.storage);
    return g;
  }
  return new Tensor(k.activationBackward(op, x, y, g.storage), g.shape);
}
