/** Elementwise kernels on oneDNN's eltwise and binary primitives (blocked inputs stay blocked). */
import type { ActivationOp, BinaryOp, Kernels, UnaryOp } from '../kernels.js';
import { referenceKernels as ref } from '../reference/index.js';
import { rowMajor, type HostStorage } from '../host.js';
import { SMALL, alloc, elementwise, own, sameDims, sameLayout, sizeOf, type CpuContext } from './common.js';

const unaryCodes: Partial<Record<UnaryOp, [code: number, alpha: number, beta: number]>> = {
  relu: [0, 0, 0],
  sigmoid: [1, 0, 0],
  tanh: [2, 0, 0],
  exp: [3, 0, 0],
  log: [4, 0, 0],
  sqrt: [5, 0, 0],
  abs: [6, 0, 0],
  neg: [7, -1, 0],
  square: [8, 0, 0],
};

export const activationCodes: Record<ActivationOp, number> = { relu: 0, sigmoid: 1, tanh: 2 };

const binaryCodes: Record<BinaryOp, number> = {
  add: 0, sub: 1, mul: 2, div: 3, maximum: 4, minimum: 5, eq: 6, ne: 7, lt: 8, le: 9, gt: 10, ge: 11, pow: 12,
};

/**
 * Ops that go to oneDNN's binary primitive (which broadcasts its second operand only), and
 * their mirror (a∘b == b∘'a) when only the first operand is full-size. Maximum, minimum and the
 * comparisons stay in the addon's own loop: oneDNN's versions treat NaN differently.
 */
const viaOneDnn: Partial<Record<BinaryOp, BinaryOp | null>> = { add: 'add', mul: 'mul', sub: null, div: null };

/** Drop size-1 axes common to every operand and merge runs of axes with the same broadcast pattern. */
function mergeBroadcast(aShape: readonly number[], bShape: readonly number[], outShape: readonly number[]):
  { a: number[]; b: number[]; out: number[] } {
  const a: number[] = [];
  const b: number[] = [];
  const out: number[] = [];
  let lastKind = -1;
  for (let i = 0; i < outShape.length; i++) {
    const o = outShape[i];
    if (o === 1) continue;
    const kind = (aShape[i] === o ? 1 : 0) | (bShape[i] === o ? 2 : 0);
    if (kind === lastKind) {
      const j = out.length - 1;
      out[j] *= o;
      a[j] *= aShape[i];
      b[j] *= bShape[i];
    } else {
      out.push(o);
      a.push(aShape[i]);
      b.push(bShape[i]);
      lastKind = kind;
    }
  }
  if (out.length === 0) return { a: [1], b: [1], out: [1] };
  return { a, b, out };
}

export function elementwiseKernels(ctx: CpuContext): Partial<Kernels<HostStorage>> {
  const { nat } = ctx;

  function binaryRowMajor(op: BinaryOp, a: Float32Array, aShape: readonly number[], b: Float32Array, bShape: readonly number[], outShape: readonly number[]): Float32Array {
    const size = sizeOf(outShape);
    if (size < SMALL) return ref.binary(op, a, aShape, b, bShape, outShape);
    const m = mergeBroadcast(aShape, bShape, outShape);
    const out = alloc(size);
    const mirror = viaOneDnn[op];
    if (mirror !== undefined && a.length === size) {
      nat.binaryForward(a, m.a, b, m.b, out, binaryCodes[op]);
    } else if (mirror && b.length === size) {
      nat.binaryForward(b, m.b, a, m.a, out, binaryCodes[mirror]);
    } else {
      nat.binaryLoop(a, m.a, b, m.b, out, m.out, binaryCodes[op]);
    }
    return out;
  }

  return {
    unary(op, x) {
      return elementwise(ctx, [x], (xb) => {
        const c = unaryCodes[op];
        if (!c || xb.length < SMALL) return ref.unary(op, xb);
        const y = alloc(xb.length);
        nat.eltwiseForward(xb, y, c[0], c[1], c[2]);
        return y;
      });
    },

    activationBackward(op, x, y, dy) {
      return elementwise(ctx, [x, y, dy], (xb, yb, dyb) => {
        if (dyb.length < SMALL) return ref.activationBackward(op, xb, yb, dyb);
        const dx = alloc(dyb.length);
        nat.eltwiseBackward(yb, dyb, dx, activationCodes[op]);
        return dx;
      });
    },

    activationBackwardInPlace(op, x, y, dy) {
      // In dy's layout when x and y share it (a fused convolution's blocked output), else row-major, as above.
      const l = dy.layout;
      const asIs = l !== null && sameLayout(x.layout, l) && sameLayout(y.layout, l);
      const [xb, yb, dyb] = asIs ? [x.buf, y.buf, dy.buf] : [rowMajor(x), rowMajor(y), rowMajor(dy)];
      if (dyb.length < SMALL) ref.activationBackwardInPlace?.(op, xb, yb, dyb);
      else nat.eltwiseBackward(yb, dyb, dyb, activationCodes[op]); // oneDNN allows diff_src = diff_dst
    },

    addInPlace(a, b) {
      // In a's layout when b shares it (gradients from two blocked convolutions), else row-major.
      const [ab, bb] = sameLayout(a.layout, b.layout) ? [a.buf, b.buf] : [rowMajor(a), rowMajor(b)];
      if (ab.length < SMALL) ref.addInPlace?.(ab, bb);
      else nat.binaryForward(ab, [ab.length], bb, [bb.length], ab, binaryCodes.add); // oneDNN allows dst = src0
    },

    binary(op, a, aShape, b, bShape, outShape) {
      // Same shapes: elementwise, so operands in one blocked layout stay in it.
      if (sameDims(aShape, bShape) && sameDims(aShape, outShape)) {
        return elementwise(ctx, [a, b], (ab, bb) => binaryRowMajor(op, ab, aShape, bb, bShape, outShape));
      }
      return own(ctx, binaryRowMajor(op, rowMajor(a), aShape, rowMajor(b), bShape, outShape));
    },

    clamp(x, min, max) {
      const xb = rowMajor(x);
      if (xb.length < SMALL) return own(ctx, ref.clamp(xb, min, max));
      const y = alloc(xb.length);
      nat.clamp(xb, y, min, max);
      return own(ctx, y);
    },

    affine(x, scale, shift) {
      // Elementwise too: a blocked input stays blocked (clone is affine(x, 1, 0)).
      return elementwise(ctx, [x], (xb) => {
        if (xb.length < SMALL) return ref.affine(xb, scale, shift);
        const y = alloc(xb.length);
        nat.eltwiseForward(xb, y, 7, scale, shift);
        return y;
      });
    },
  };
}
