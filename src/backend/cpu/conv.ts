/**
 * Convolution: oneDNN's direct and Winograd plans and the addon's own direct
 * NCHW plan, timed per shape and pass (native/conv.cc). Inputs are read in
 * the blocked layout they arrive in; outputs stay blocked when they fill
 * whole channel blocks.
 */
import type { Conv2dDesc, Kernels } from '../kernels.js';
import { referenceKernels as ref } from '../reference/index.js';
import { rowMajor, type HostStorage } from '../host.js';
import { activationIn, alloc, anyZero, blockedLayout, own, type CpuContext } from './common.js';
import { activationCodes } from './elementwise.js';

const emptyConv = (d: Conv2dDesc): boolean => anyZero(d.n, d.c, d.h, d.w, d.oc, d.oh, d.ow);

export function convKernels(ctx: CpuContext): Partial<Kernels<HostStorage>> {
  const { nat } = ctx;
  return {
    conv2d(xs, ws, bias, d) {
      const w = rowMajor(ws);
      const b = bias ? rowMajor(bias) : null;
      if (emptyConv(d)) return own(ctx, ref.conv2d(rowMajor(xs), w, b, d));
      const [x, xBlock] = activationIn(xs, [d.n, d.c, d.h, d.w]);
      const y = alloc(d.n * d.oc * d.oh * d.ow);
      const act = d.activation ? activationCodes[d.activation] + 1 : 0;
      const block = nat.conv2dForward(x, w, b, y, d.n, d.c, d.h, d.w, d.oc, d.kh, d.kw, d.sh, d.sw, d.ph, d.pw, d.oh, d.ow, act,
        xBlock, ctx.keepBlocked);
      return own(ctx, y, block ? blockedLayout(nat, [d.n, d.oc, d.oh, d.ow], block) : null);
    },

    conv2dBackwardData(dys, ws, d) {
      const w = rowMajor(ws);
      if (emptyConv(d)) return own(ctx, ref.conv2dBackwardData(rowMajor(dys), w, d));
      const [dy, dyBlock] = activationIn(dys, [d.n, d.oc, d.oh, d.ow]);
      const dx = alloc(d.n * d.c * d.h * d.w);
      const block = nat.conv2dBackwardData(dy, w, dx, d.n, d.c, d.h, d.w, d.oc, d.kh, d.kw, d.sh, d.sw, d.ph, d.pw, d.oh, d.ow,
        dyBlock, ctx.keepBlocked);
      return own(ctx, dx, block ? blockedLayout(nat, [d.n, d.c, d.h, d.w], block) : null);
    },

    conv2dBackwardWeight(xs, dys, d, withBias) {
      if (emptyConv(d)) {
        const r = ref.conv2dBackwardWeight(rowMajor(xs), rowMajor(dys), d, withBias);
        return { dw: own(ctx, r.dw), db: r.db ? own(ctx, r.db) : null };
      }
      const [x, xBlock] = activationIn(xs, [d.n, d.c, d.h, d.w]);
      const [dy, dyBlock] = activationIn(dys, [d.n, d.oc, d.oh, d.ow]);
      const dw = alloc(d.oc * d.c * d.kh * d.kw);
      const db = withBias ? new Float32Array(d.oc) : null;
      nat.conv2dBackwardWeight(x, dy, dw, db, d.n, d.c, d.h, d.w, d.oc, d.kh, d.kw, d.sh, d.sw, d.ph, d.pw, d.oh, d.ow, xBlock, dyBlock);
      return { dw: own(ctx, dw), db: db ? own(ctx, db) : null };
    },
  };
}
