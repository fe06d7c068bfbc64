/**
 * Batch norm as direct per-channel loops, with the following activation fused (native/norm.cc),
 * and for BatchNorm2d + activation + AvgPool2d(2) the pool too (batchNormAvgPoolTrain/Backward).
 */
import type { BatchNormDesc, Kernels, Pool2dDesc } from '../kernels.js';
import { referenceKernels as ref } from '../reference/index.js';
import { rowMajor, type HostStorage } from '../host.js';
import { alloc, anyZero, own, sameLayout, type CpuContext } from './common.js';
import { activationCodes } from './elementwise.js';
import { twoByTwoAvg } from './pool.js';

const bnAct = (d: BatchNormDesc): number => (d.activation ? activationCodes[d.activation] + 1 : 0);
const empty = (d: BatchNormDesc): boolean => anyZero(d.n, d.c, d.spatial);

/**
 * Planes smaller than this go to the separate batch norm and pool kernels. The fused passes make
 * each plane's pool gradient with one call per plane, and on small planes that costs more than
 * the memory traffic it saves: LeNet-BN's [256, 16, 8, 8] backward measured 0.12 ms fused against
 * 0.025 + 0.08 ms apart, its [256, 6, 24, 24] 0.15-0.19 ms against 0.03 + 0.17-0.18 ms.
 */
const MIN_FUSED_PLANE = 256;

/**
 * Whether batchNormAvgPool{Train,Backward} take this: plain x (and the other inputs), planes of
 * MIN_FUSED_PLANE or more, an activation the native loops apply per plane (none, relu, sigmoid),
 * and p the 2x2 stride-2 pool of x's planes.
 */
function poolFusable(d: BatchNormDesc, p: Pool2dDesc, ...xs: HostStorage[]): boolean {
  const act = bnAct(d);
  return p.h * p.w >= MIN_FUSED_PLANE && act <= 2 && twoByTwoAvg(p) && p.n === d.n && p.c === d.c && p.h * p.w === d.spatial &&
    xs.every((s) => !s.layout);
}

/**
 * The channel block x is in when the native loops can take it as it is (a convolution's nChw16c/8c
 * output of [n, c, h, w] with h·w = spatial), else 0 (row-major, converted by rowMajor()).
 */
function blockOf(xs: HostStorage, d: BatchNormDesc): number {
  const l = xs.layout;
  if (!l || l.dims.length !== 4) return 0;
  const [n, c, h, w] = l.dims;
  return n === d.n && c === d.c && h * w === d.spatial && c % l.block === 0 ? l.block : 0;
}

export function batchNormKernels(ctx: CpuContext): Partial<Kernels<HostStorage>> {
  const { nat } = ctx;
  const wrap = <T extends Record<string, Float32Array>>(r: T): { [K in keyof T]: HostStorage } =>
    Object.fromEntries(Object.entries(r).map(([k, v]) => [k, own(ctx, v)])) as { [K in keyof T]: HostStorage };
  return {
    batchNormTrain(xs, gs, bs, d) {
      const [g, b] = [rowMajor(gs), rowMajor(bs)];
      const block = empty(d) ? 0 : blockOf(xs, d);
      const x = block ? xs.buf : rowMajor(xs);
      if (empty(d)) return wrap(ref.batchNormTrain(x, g, b, d));
      const y = alloc(x.length);
      const mean = new Float32Array(d.c);
      const variance = new Float32Array(d.c);
      nat.batchNormTrain(x, g, b, y, mean, variance, d.n, d.c, d.spatial, d.eps, bnAct(d), block);
      return { y: own(ctx, y, block ? xs.layout : null), mean: own(ctx, mean), variance: own(ctx, variance) };
    },

    batchNormAvgPoolTrain(xs, gs, bs, d, p) {
      if (empty(d) || !poolFusable(d, p, xs)) return null;
      const [g, b] = [rowMajor(gs), rowMajor(bs)];
      const y = alloc(xs.buf.length);
      const pooled = alloc(p.n * p.c * p.oh * p.ow);
      const mean = new Float32Array(d.c);
      const variance = new Float32Array(d.c);
      nat.batchNormAvgPoolTrain(xs.buf, g, b, y, pooled, mean, variance, d.n, d.c, p.h, p.w, d.eps, bnAct(d));
      return { y: own(ctx, y), pooled: own(ctx, pooled), mean: own(ctx, mean), variance: own(ctx, variance) };
    },

    batchNormAvgPoolBackward(xs, dPooled, gs, ms, vs, d, ys, p) {
      if (empty(d) || !poolFusable(d, p, xs, dPooled, ys)) return null;
      const [g, m, v] = [gs, ms, vs].map(rowMajor);
      const dx = alloc(xs.buf.length);
      const dgamma = new Float32Array(d.c);
      const dbeta = new Float32Array(d.c);
      nat.batchNormAvgPoolBackward(xs.buf, dPooled.buf, ys.buf, g, m, v, dx, dgamma, dbeta, d.n, d.c, p.h, p.w, d.eps, bnAct(d));
      return wrap({ dx, dgamma, dbeta });
    },

    batchNormInference(xs, gs, bs, ms, vs, d) {
      const [x, g, b, m, v] = [xs, gs, bs, ms, vs].map(rowMajor);
      if (empty(d)) return own(ctx, ref.batchNormInference(x, g, b, m, v, d));
      const y = alloc(x.length);
      nat.batchNormInference(x, g, b, m, v, y, d.n, d.c, d.spatial, d.eps, bnAct(d));
      return own(ctx, y);
    },

    batchNormBackward(xs, dys, gs, ms, vs, d, ys) {
      if (d.activation && !ys) throw new Error('batchNormBackward: a fused activation needs the output y');
      const [g, m, v] = [gs, ms, vs].map(rowMajor);
      // Blocked as the forward saw x when dy (and y, for the activation) are in the same blocks:
      // what a pool or convolution hands back after a blocked forward.
      const block = empty(d) ? 0 : blockOf(xs, d);
      const together = block !== 0 && sameLayout(dys.layout, xs.layout) && (!d.activation || sameLayout((ys as HostStorage).layout, xs.layout));
      if (together) {
        const dx = alloc(xs.buf.length);
        const dgamma = new Float32Array(d.c);
        const dbeta = new Float32Array(d.c);
        nat.batchNormBackward(xs.buf, dys.buf, g, m, v, dx, dgamma, dbeta, d.n, d.c, d.spatial, d.eps, bnAct(d),
          d.activation ? (ys as HostStorage).buf : undefined, block);
        return { dx: own(ctx, dx, xs.layout), dgamma: own(ctx, dgamma), dbeta: own(ctx, dbeta) };
      }
      const [x, dy] = [rowMajor(xs), rowMajor(dys)];
      const y = ys ? rowMajor(ys) : undefined;
      if (empty(d)) return wrap(ref.batchNormBackward(x, dy, g, m, v, d, y));
      const dx = alloc(x.length);
      const dgamma = new Float32Array(d.c);
      const dbeta = new Float32Array(d.c);
      nat.batchNormBackward(x, dy, g, m, v, dx, dgamma, dbeta, d.n, d.c, d.spatial, d.eps, bnAct(d), y);
      return wrap({ dx, dgamma, dbeta });
    },
  };
}
