/**
 * Conv2d + activation + 2x2 average pool (ops/conv-pool.ts) in one pass over each image, on the
 * addon's direct convolution plan (native/conv_direct.cc): the forward pools each image's
 * activation while it is in cache, and the weight gradient makes the convolution's output gradient
 * per image from the pooled one instead of writing it out (LeNet's conv1: 4.8 MB each way a step).
 * The addon runs them only once the shape's convolution is decided on the direct plan, so the
 * fused and the separate kernels never disagree on which plan computes a shape; they decline
 * (null) before that, and for anything else, and the op runs the separate kernels. Readiness is
 * asked first, so outputs are allocated only for a pass that runs; the run's own answer is still
 * checked, and outputs go back to the pool should it decline.
 */
import type { Conv2dDesc, Kernels, Pool2dDesc } from '../kernels.js';
import { hostMemory, type HostStorage } from '../host.js';
import { alloc, own, type CpuContext } from './common.js';
import { activationCodes } from './elementwise.js';
import { twoByTwoAvg } from './pool.js';

/** Activation codes the direct plan applies per image (none, relu, sigmoid). */
function fusableActivation(d: Conv2dDesc): number | null {
  const act = d.activation ? activationCodes[d.activation] + 1 : 0;
  return act <= 2 ? act : null;
}

/** Whether p is the 2x2 stride-2 pool of exactly this convolution's output. */
const poolsOutput = (d: Conv2dDesc, p: Pool2dDesc): boolean =>
  twoByTwoAvg(p) && p.n === d.n && p.c === d.oc && p.h === d.oh && p.w === d.ow && p.oh === Math.floor(d.oh / 2) && p.ow === Math.floor(d.ow / 2);

export function convPoolKernels(ctx: CpuContext): Partial<Kernels<HostStorage>> {
  const { nat } = ctx;
  // Asked before any output is allocated: a shape on another plan (LeNet's conv2) declines every step.
  const ready = (pass: 1 | 3, d: Conv2dDesc, act: number, withBias: boolean): boolean =>
    nat.conv2dAvgPoolReady(pass, d.n, d.c, d.h, d.w, d.oc, d.kh, d.kw, d.sh, d.sw, d.ph, d.pw, d.oh, d.ow, act, withBias, ctx.keepBlocked);
  return {
    conv2dAvgPool(xs, ws, bias, d, p) {
      const act = fusableActivation(d);
      if (act === null || !poolsOutput(d, p) || xs.layout || ws.layout || bias?.layout || !ready(1, d, act, bias !== null)) return null;
      const yn = d.n * d.oc * d.oh * d.ow, pn = p.n * p.c * p.oh * p.ow;
      const y = alloc(yn), pooled = alloc(pn);
      const ran = nat.conv2dForwardAvgPool(xs.buf, ws.buf, bias ? bias.buf : null, y, pooled, d.n, d.c, d.h, d.w, d.oc, d.kh, d.kw,
        d.sh, d.sw, d.ph, d.pw, d.oh, d.ow, act, ctx.keepBlocked);
      if (!ran) {
        hostMemory.recycle(y, yn);
        hostMemory.recycle(pooled, pn);
        return null;
      }
      return { y: own(ctx, y), pooled: own(ctx, pooled) };
    },

    conv2dAvgPoolBackwardWeight(xs, ys, dPooled, d, p, withBias) {
      const act = fusableActivation(d);
      if (act === null || !poolsOutput(d, p) || xs.layout || ys.layout || dPooled.layout || !ready(3, d, act, withBias)) return null;
      const wn = d.oc * d.c * d.kh * d.kw;
      const dw = alloc(wn);
      const db = withBias ? new Float32Array(d.oc) : null;
      const ran = nat.conv2dBackwardWeightAvgPool(xs.buf, ys.buf, dPooled.buf, dw, db, d.n, d.c, d.h, d.w, d.oc, d.kh, d.kw,
        d.sh, d.sw, d.ph, d.pw, d.oh, d.ow, act);
      if (!ran) {
        hostMemory.recycle(dw, wn);
        return null;
      }
      return { dw: own(ctx, dw), db: db ? own(ctx, db) : null };
    },
  };
}
