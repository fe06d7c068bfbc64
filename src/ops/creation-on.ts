/** Constant tensors made where another tensor lives (ops need zeros and ones on their device). */
import { Storage } from '../backend/storage.js';
import type { Device } from '../device.js';
import { numel } from '../shape.js';
import { backendFor, kernelsFor } from '../backend/registry.js';
import { Tensor } from '../tensor.js';

/** An uninitialised storage of n values on a device, from its pool. */
export function emptyStorage(device: Device, n: number): Storage {
  const b = backendFor(device);
  return new Storage(b, b.memory.alloc(n), n);
}

/** A tensor of `shape` filled with value, on a device or on the device of a tensor. */
export function fullOn(shape: readonly number[], value: number, where: Tensor | Device, opts: { dtype?: 'float32' | 'int32'; requiresGrad?: boolean } = {}): Tensor {
  const device = where instanceof Tensor ? where.device : where;
  const s = emptyStorage(device, numel(shape));
  kernelsFor(device).fillInplace(s, value);
  return new Tensor(s, shape, opts);
}
