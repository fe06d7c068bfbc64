/**
 * Pooling. Max pooling keeps where each maximum was (PyTorch's "indices") on
 * the output's Storage, so the backward only scatters; on channel-blocked
 * inputs it is vectorized across the channels of a block.
 */
import type { Kernels, Pool2dDesc } from '../kernels.js';
import { referenceKernels as ref } from '../reference/index.js';
import { hostMemory, rowMajor, type HostStorage } from '../host.js';
import { activationIn, alloc, anyZero, blockedLayout, own, sameDims, type CpuContext } from './common.js';
import { activationCodes } from './elementwise.js';

/** What a max-pool output's storage carries for its backward. */
interface MaxPoolIndices {
  /** Argmax in-plane offsets, one per output value, in the channel-block layout `block` (0: NCHW). */
  readonly idx: Int32Array;
  readonly block: number;
  /** The input storage and geometry they were computed for. */
  readonly key: string;
}

function poolKey(x: HostStorage, d: Pool2dDesc): string {
  return `${x.id}:${d.n},${d.c},${d.h},${d.w},${d.kh},${d.kw},${d.sh},${d.sw},${d.ph},${d.pw}`;
}

function savedIndices(y: HostStorage, x: HostStorage, d: Pool2dDesc): MaxPoolIndices | null {
  const aux = y.aux as MaxPoolIndices | null;
  return d.kind === 'max' && aux && aux.key === poolKey(x, d) ? aux : null;
}

/**
 * Average pooling of blocked inputs is oneDNN's, whose window rules match PyTorch's when there is
 * no padding and no window overhangs the input; other average pools take the row-major kernels.
 */
function blockedAvgPoolOk(d: Pool2dDesc): boolean {
  return d.kind === 'avg' && d.ph === 0 && d.pw === 0 && (d.oh - 1) * d.sh + d.kh <= d.h && (d.ow - 1) * d.sw + d.kw <= d.w;
}

/** LeNet's 2x2 stride-2 average pool without padding, whose gradients have a one-pass kernel of their own. */
export const twoByTwoAvg = (d: Pool2dDesc): boolean =>
  d.kind === 'avg' && d.kh === 2 && d.kw === 2 && d.sh === 2 && d.sw === 2 && d.ph === 0 && d.pw === 0 && !anyZero(d.n, d.c, d.oh, d.ow) &&
  2 * d.oh <= d.h && 2 * d.ow <= d.w;

const poolKind = (d: Pool2dDesc): number => (d.kind === 'max' ? 0 : d.countIncludePad ? 1 : 2);

export function poolKernels(ctx: CpuContext): Partial<Kernels<HostStorage>> {
  const { nat } = ctx;
  const blocked = (dims: readonly number[], block: number) => blockedLayout(nat, dims, block);
  const kernels: Partial<Kernels<HostStorage>> = {
    pool2d(xs, d) {
      if (anyZero(d.n, d.c, d.h, d.w, d.oh, d.ow)) return own(ctx, ref.pool2d(rowMajor(xs), d));
      const [xb, block] = activationIn(xs, [d.n, d.c, d.h, d.w]);
      const outDims = [d.n, d.c, d.oh, d.ow];
      const y = alloc(d.n * d.c * d.oh * d.ow);
      if (d.kind === 'max') {
        // The argmax indices live as long as y, in a pooled buffer that goes back with it.
        const idxBuf = alloc(y.length);
        const idx = new Int32Array(idxBuf.buffer, idxBuf.byteOffset, y.length);
        if (block) nat.maxPoolBlockedForward(xb, y, idx, d.n, d.c, d.h, d.w, d.kh, d.kw, d.sh, d.sw, d.ph, d.pw, d.oh, d.ow, block);
        else nat.maxPool2dForwardIndices(xb, y, idx, 0, d.n, d.c, d.h, d.w, d.kh, d.kw, d.sh, d.sw, d.ph, d.pw, d.oh, d.ow);
        const out = own(ctx, y, block ? blocked(outDims, block) : null);
        out.aux = { idx, block, key: poolKey(xs, d) } satisfies MaxPoolIndices;
        out.addDependent(own(ctx, idxBuf));
        return out;
      }
      if (block && blockedAvgPoolOk(d)) {
        nat.avgPoolBlockedForward(xb, y, poolKind(d), d.n, d.c, d.h, d.w, d.kh, d.kw, d.sh, d.sw, d.ph, d.pw, d.oh, d.ow, block);
        return own(ctx, y, blocked(outDims, block));
      }
      nat.pool2dForward(rowMajor(xs), y, poolKind(d), d.n, d.c, d.h, d.w, d.kh, d.kw, d.sh, d.sw, d.ph, d.pw, d.oh, d.ow);
      return own(ctx, y);
    },

    pool2dBackward(xs, ys, dys, d) {
      if (anyZero(d.n, d.c, d.h, d.w, d.oh, d.ow)) return own(ctx, ref.pool2dBackward(rowMajor(xs), rowMajor(ys), rowMajor(dys), d));
      const inDims = [d.n, d.c, d.h, d.w];
      const outDims = [d.n, d.c, d.oh, d.ow];
      // The indices are in the layout the forward saw, whatever has become of y since (a Flatten converts it).
      const saved = savedIndices(ys, xs, d);
      if (saved) {
        const { idx, block } = saved;
        const dx = alloc(d.n * d.c * d.h * d.w);
        if (block) {
          const [dy, dyBlock] = activationIn(dys, outDims);
          const t = dyBlock === block ? null : alloc(dy.length);
          if (t) nat.reorderActivation(dy, dyBlock, t, block, d.n, d.c, d.oh, d.ow);
          nat.maxPoolBlockedBackward(t ?? dy, idx, dx, d.n * (d.c / block), d.h * d.w, d.oh * d.ow, block);
          if (t) hostMemory.recycle(t, t.length);
          return own(ctx, dx, blocked(inDims, block));
        }
        nat.maxPool2dBackwardIndices(rowMajor(dys), idx, dx, d.n * d.c, d.h * d.w, d.oh * d.ow);
        return own(ctx, dx);
      }
      const [xb, block] = activationIn(xs, inDims);
      if (block && twoByTwoAvg(d)) {
        // LeNet-BN's second pool, after a blocked batch norm: one contiguous pass (act 0: no
        // activation to go through); plain planes keep pool2dBackward's tiled kernel, faster there.
        const [dy, dyBlock] = activationIn(dys, outDims);
        if (dyBlock === 0 || dyBlock === block) {
          const dx = alloc(d.n * d.c * d.h * d.w);
          nat.avgPoolActivationBackward(xb, dy, dx, 0, d.n, d.c, d.h, d.w, d.oh, d.ow, block, dyBlock);
          return own(ctx, dx, blocked(inDims, block));
        }
      }
      if (block && blockedAvgPoolOk(d)) {
        const [dy, dyBlock] = activationIn(dys, outDims);
        const dx = alloc(d.n * d.c * d.h * d.w);
        nat.avgPoolBlockedBackward(dy, dyBlock, dx, poolKind(d), d.n, d.c, d.h, d.w, d.kh, d.kw, d.sh, d.sw, d.ph, d.pw, d.oh, d.ow, block);
        return own(ctx, dx, blocked(inDims, block));
      }
      const dx = alloc(d.n * d.c * d.h * d.w);
      nat.pool2dBackward(rowMajor(xs), rowMajor(dys), dx, poolKind(d), d.n, d.c, d.h, d.w, d.kh, d.kw, d.sh, d.sw, d.ph, d.pw, d.oh, d.ow);
      return own(ctx, dx);
    },

    maxPoolActivationBackward(op, ys, pooled, dys, d) {
      // ReLU only, whose gradient at an argmax is whether the maximum was positive; the saved
      // indices must be the ones pool2d made from ys.
      const saved = op === 'relu' && !anyZero(d.n, d.c, d.h, d.w, d.oh, d.ow) ? savedIndices(pooled, ys, d) : null;
      if (!saved) return null;
      const { idx, block } = saved;
      const temps: Float32Array[] = [];
      // Each in the indices' layout (a Flatten after the pool converts its output to row-major).
      const inBlock = (s: HostStorage, dims: readonly number[]): Float32Array => {
        const have = s.layout && sameDims(s.layout.dims, dims) ? s.layout.block : 0;
        const buf = have ? s.buf : rowMajor(s);
        if (have === block) return buf;
        const t = alloc(buf.length);
        nat.reorderActivation(buf, have, t, block, dims[0], dims[1], dims[2], dims[3]);
        temps.push(t);
        return t;
      };
      const outDims = [d.n, d.c, d.oh, d.ow];
      const inDims = [d.n, d.c, d.h, d.w];
      const dy = inBlock(dys, outDims);
      const py = inBlock(pooled, outDims);
      const x = inBlock(ys, inDims);
      const dx = alloc(d.n * d.c * d.h * d.w);
      nat.maxPoolReluBackward(dy, idx, py, x, dx, d.n * (block ? d.c / block : d.c), d.h * d.w, d.oh * d.ow, block);
      for (const t of temps) hostMemory.recycle(t, t.length);
      return own(ctx, dx, block ? blocked(inDims, block) : null);
    },

    avgPoolActivationBackward(op, ys, dys, d) {
      // The 2x2 stride-2 pool (LeNet's) in one pass, on plain buffers or on a channel-blocked y (a
      // convolution's output: dx keeps its layout, dy plain or in the same blocks); anything else as the two kernels.
      if (twoByTwoAvg(d)) {
        const [y, yBlock] = activationIn(ys, [d.n, d.c, d.h, d.w]);
        const [dy, dyBlock] = activationIn(dys, [d.n, d.c, d.oh, d.ow]);
        const dyFits = dyBlock === 0 || dyBlock === yBlock;
        if (dyFits && (yBlock === 0 || d.c % yBlock === 0)) {
          const dx = alloc(d.n * d.c * d.h * d.w);
          nat.avgPoolActivationBackward(y, dy, dx, activationCodes[op] + 1, d.n, d.c, d.h, d.w, d.oh, d.ow, yBlock, dyBlock);
          return own(ctx, dx, yBlock ? ys.layout : null);
        }
      }
      const pooled = (kernels.pool2dBackward as NonNullable<typeof kernels.pool2dBackward>)(ys, ys, dys, d);
      const dxPool = rowMajor(pooled);
      const dx = alloc(dxPool.length);
      nat.eltwiseBackward(rowMajor(ys), dxPool, dx, activationCodes[op]);
      pooled.discard();
      return own(ctx, dx);
    },
  };
  return kernels;
}
