/** Constant tensors made where another tensor lives (ops need zeros and ones on their device). */
import { Storage } from '../backend/storage.js';
import { numel } from '../shape.js';
import { backendFor, kernelsFor } from '../backend/registry.js';
import { Tensor } from '../tensor.js';

/** A tensor of `shape` filled with value on like's device, in a buffer from that device's pool. */
export function fullOn(shape: readonly number[], value: number, like: Tensor): Tensor {
  const b = backendFor(like.device);
  const n = numel(shape);
  const s = new Storage(b, b.memory.alloc(n), n);
  kernelsFor(like.device).fillInplace(s, value);
  return new Tensor(s, shape);
}
