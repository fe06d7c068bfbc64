/**
 * Which kernels an op runs: those of the one device all its tensor arguments
 * are on. Tensors on two devices are an error naming the op, both devices
 * and the argument, as PyTorch's "Expected all tensors to be on the same device".
 */
import { kernelsFor, type AnyKernels } from '../backend/registry.js';
import type { Device } from '../device.js';
import type { Tensor } from '../tensor.js';

export class DeviceMismatchError extends Error {
  constructor(op: string, first: Device, other: Device, argument: number) {
    super(`${op}: expected all tensors on one device, got ${first} and ${other} (argument ${argument}); move them with .to(device) first`);
    this.name = 'DeviceMismatchError';
  }
}

/** The device of an op's tensor arguments (nulls skipped; positions counted from 1). */
export function deviceOf(op: string, tensors: ReadonlyArray<Tensor | null | undefined>): Device {
  let dev: Device | null = null;
  for (let i = 0; i < tensors.length; i++) {
    const t = tensors[i];
    if (!t) continue;
    const d = t.device;
    if (dev === null) dev = d;
    else if (d !== dev) throw new DeviceMismatchError(op, dev, d, i + 1);
  }
  if (dev === null) throw new Error(`${op}: expected at least one tensor argument`);
  return dev;
}

/** The kernels for an op on these tensors, after checking they share a device. */
export function kernelsOn(op: string, ...tensors: Array<Tensor | null | undefined>): AnyKernels {
  return kernelsFor(deviceOf(op, tensors));
}
