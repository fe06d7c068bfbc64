/** Copies between devices (tensor.to(device)), recorded so gradients flow back across them. */
import { backendFor } from '../backend/registry.js';
import type { Storage } from '../backend/storage.js';
import type { Device } from '../device.js';
import { Tensor, fromOp } from '../tensor.js';
import { recordOp, tracingOn } from './trace.js';

function copyTo(s: Storage, to: Device, what: string): Storage {
  const read = s.backend.readSync;
  if (!read) {
    throw new Error(`${what}: the tensor is on ${s.backend.device}, which the host reads asynchronously; use \`await t.toAsync('${to}')\` (or \`await t.data()\`) to bring values to ${to}`);
  }
  return backendFor(to).upload(read.call(s.backend, s));
}

export function toDeviceOp(x: Tensor, to: Device): Tensor {
  if (x.device === to) return x;
  const s = copyTo(x.storage, to, `to('${to}')`);
  const from = x.device;
  const out = x.dtype !== 'float32'
    ? new Tensor(s, x.shape, { dtype: x.dtype })
    : fromOp(s, x.shape, [x], 'ToCopy', (g) => [new Tensor(copyTo(g.storage, from, `backward of to('${to}')`), x.shape)]);
  if (tracingOn()) recordOp('to', [x], out, { device: String(to) });
  return out;
}

/** The copy for devices read back asynchronously (a GPU tensor to cpu); not recorded for autograd. */
export async function toDeviceAsync(x: Tensor, to: Device): Promise<Tensor> {
  if (x.device === to) return x;
  const values = await x.data();
  return new Tensor(values, x.shape, { dtype: x.dtype, device: to });
}
