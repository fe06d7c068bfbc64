/** Softmax and log-softmax over rows on oneDNN's softmax primitive; NLL stays on the reference. */
import type { Kernels } from '../kernels.js';
import { referenceKernels as ref } from '../reference/index.js';
import { rowMajor, type HostStorage } from '../host.js';
import { SMALL, alloc, own, type CpuContext } from './common.js';

export function softmaxKernels(ctx: CpuContext): Partial<Kernels<HostStorage>> {
  const { nat } = ctx;
  const forward = (log: boolean) => (xs: HostStorage, rows: number, cols: number): HostStorage => {
    const x = rowMajor(xs);
    if (x.length < SMALL) return own(ctx, log ? ref.logSoftmax(x, rows, cols) : ref.softmax(x, rows, cols));
    const y = alloc(x.length);
    nat.softmaxForward(x, y, rows, cols, log);
    return own(ctx, y);
  };
  const backward = (log: boolean) => (ys: HostStorage, dys: HostStorage, rows: number, cols: number): HostStorage => {
    const [y, dy] = [rowMajor(ys), rowMajor(dys)];
    if (y.length < SMALL) return own(ctx, log ? ref.logSoftmaxBackward(y, dy, rows, cols) : ref.softmaxBackward(y, dy, rows, cols));
    const dx = alloc(y.length);
    nat.softmaxBackward(y, dy, dx, rows, cols, log);
    return own(ctx, dx);
  };
  return {
    logSoftmax: forward(true),
    softmax: forward(false),
    logSoftmaxBackward: backward(true),
    softmaxBackward: backward(false),
  };
}
