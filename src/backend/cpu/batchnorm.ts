/** Batch norm as direct per-channel loops, with the following activation fused (native/norm.cc). */
import type { BatchNormDesc, Kernels } from '../kernels.js';
import { referenceKernels as ref } from '../reference/index.js';
import { rowMajor, type HostStorage } from '../host.js';
import { alloc, anyZero, own, type CpuContext } from './common.js';
import { activationCodes } from './elementwise.js';

const bnAct = (d: BatchNormDesc): number => (d.activation ? activationCodes[d.activation] + 1 : 0);
const empty = (d: BatchNormDesc): boolean => anyZero(d.n, d.c, d.spatial);

export function batchNormKernels(ctx: CpuContext): Partial<Kernels<HostStorage>> {
  const { nat } = ctx;
  const wrap = <T extends Record<string, Float32Array>>(r: T): { [K in keyof T]: HostStorage } =>
    Object.fromEntries(Object.entries(r).map(([k, v]) => [k, own(ctx, v)])) as { [K in keyof T]: HostStorage };
  return {
    batchNormTrain(xs, gs, bs, d) {
      const [x, g, b] = [rowMajor(xs), rowMajor(gs), rowMajor(bs)];
      if (empty(d)) return wrap(ref.batchNormTrain(x, g, b, d));
      const y = alloc(x.length);
      const mean = new Float32Array(d.c);
      const variance = new Float32Array(d.c);
      nat.batchNormTrain(x, g, b, y, mean, variance, d.n, d.c, d.spatial, d.eps, bnAct(d));
      return wrap({ y, mean, variance });
    },

    batchNormInference(xs, gs, bs, ms, vs, d) {
      const [x, g, b, m, v] = [xs, gs, bs, ms, vs].map(rowMajor);
      if (empty(d)) return own(ctx, ref.batchNormInference(x, g, b, m, v, d));
      const y = alloc(x.length);
      nat.batchNormInference(x, g, b, m, v, y, d.n, d.c, d.spatial, d.eps, bnAct(d));
      return own(ctx, y);
    },

    batchNormBackward(xs, dys, gs, ms, vs, d, ys) {
      const [x, dy, g, m, v] = [xs, dys, gs, ms, vs].map(rowMajor);
      const y = ys ? rowMajor(ys) : undefined;
      if (empty(d)) return wrap(ref.batchNormBackward(x, dy, g, m, v, d, y));
      if (d.activation && !y) throw new Error('batchNormBackward: a fused activation needs the output y');
      const dx = alloc(x.length);
      const dgamma = new Float32Array(d.c);
      const dbeta = new Float32Array(d.c);
      nat.batchNormBackward(x, dy, g, m, v, dx, dgamma, dbeta, d.n, d.c, d.spatial, d.eps, bnAct(d), y);
      return wrap({ dx, dgamma, dbeta });
    },
  };
}
