import { Tensor } from '../../tensor.js';
import { numel } from '../../shape.js';

/** Uninitialised (zero) storage for a parameter that an initialiser fills next. */
export function empty(shape: readonly number[]): Tensor {
  return new Tensor(new Float32Array(numel(shape)), shape);
}
