import type { ActivationOp, BinaryOp, Buf, RowMajorKernels, UnaryOp } from '../kernels.js';
import { stridesFor } from './strides.js';

const unaryFns: Record<UnaryOp, (v: number) => number> = {
  neg: (v) => -v,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  abs: Math.abs,
  sigmoid: (v) => (v >= 0 ? 1 / (1 + Math.exp(-v)) : Math.exp(v) / (1 + Math.exp(v))),
  relu: (v) => (v > 0 ? v : 0),
  tanh: Math.tanh,
  sign: Math.sign,
  reciprocal: (v) => 1 / v,
  square: (v) => v * v,
  trunc: Math.trunc,
};

function unary(op: UnaryOp, x: Buf): Buf {
  const out = new Float32Array(x.length);
  const f = unaryFns[op];
  for (let i = 0; i < x.length; i++) out[i] = f(x[i]);
  return out;
}

function activationBackward(op: ActivationOp, x: Buf, y: Buf, dy: Buf): Buf {
  const dx = new Float32Array(dy.length);
  if (op === 'relu') for (let i = 0; i < dy.length; i++) dx[i] = x[i] > 0 ? dy[i] : 0;
  else if (op === 'sigmoid') for (let i = 0; i < dy.length; i++) dx[i] = dy[i] * y[i] * (1 - y[i]);
  else for (let i = 0; i < dy.length; i++) dx[i] = dy[i] * (1 - y[i] * y[i]);
  return dx;
}

export function activationBackwardInPlace(op: ActivationOp, x: Buf, y: Buf, dy: Buf): void {
  // Each dx[i] reads only dy[i], so writing it over dy[i] is safe.
  if (op === 'relu') for (let i = 0; i < dy.length; i++) dy[i] = x[i] > 0 ? dy[i] : 0;
  else if (op === 'sigmoid') for (let i = 0; i < dy.length; i++) dy[i] = dy[i] * y[i] * (1 - y[i]);
  else for (let i = 0; i < dy.length; i++) dy[i] = dy[i] * (1 - y[i] * y[i]);
}

function addInPlace(a: Buf, b: Buf): void {
  for (let i = 0; i < a.length; i++) a[i] += b[i];
}

const binaryFns: Record<BinaryOp, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: Math.pow,
  maximum: (a, b) => (a >= b || Number.isNaN(a) ? a : b),
  minimum: (a, b) => (a <= b || Number.isNaN(a) ? a : b),
  eq: (a, b) => (a === b ? 1 : 0),
  ne: (a, b) => (a !== b ? 1 : 0),
  lt: (a, b) => (a < b ? 1 : 0),
  le: (a, b) => (a <= b ? 1 : 0),
  gt: (a, b) => (a > b ? 1 : 0),
  ge: (a, b) => (a >= b ? 1 : 0),
};

/**
 * Broadcasting binary op. The common cases (same shape, scalar operand, and
 * "b repeats along the leading dims" as in bias adds) get flat loops; the
 * general case walks an index odometer.
 */
function binary(op: BinaryOp, a: Buf, aShape: readonly number[], b: Buf, bShape: readonly number[], outShape: readonly number[]): Buf {
  const size = outShape.reduce((p, d) => p * d, 1);
  const out = new Float32Array(size);
  const f = binaryFns[op];
  if (a.length === size && b.length === size) {
    if (op === 'add') for (let i = 0; i < size; i++) out[i] = a[i] + b[i];
    else if (op === 'mul') for (let i = 0; i < size; i++) out[i] = a[i] * b[i];
    else if (op === 'sub') for (let i = 0; i < size; i++) out[i] = a[i] - b[i];
    else for (let i = 0; i < size; i++) out[i] = f(a[i], b[i]);
    return out;
  }
  if (b.length === 1) {
    const s = b[0];
    for (let i = 0; i < size; i++) out[i] = f(a[i], s);
    return out;
  }
  if (a.length === 1) {
    const s = a[0];
    for (let i = 0; i < size; i++) out[i] = f(s, b[i]);
    return out;
  }
  const rank = outShape.length;
  const as = stridesFor(aShape).map((s, i) => (aShape[i] === 1 ? 0 : s));
  const bs = stridesFor(bShape).map((s, i) => (bShape[i] === 1 ? 0 : s));
  // Walk all but the innermost dim with an odometer; the innermost runs as a flat loop.
  const inner = outShape[rank - 1];
  const ai = as[rank - 1];
  const bi = bs[rank - 1];
  const idx = new Array<number>(rank).fill(0);
  let aOff = 0;
  let bOff = 0;
  for (let o = 0; o < size; o += inner) {
    for (let j = 0; j < inner; j++) out[o + j] = f(a[aOff + j * ai], b[bOff + j * bi]);
    for (let d = rank - 2; d >= 0; d--) {
      idx[d]++;
      aOff += as[d];
      bOff += bs[d];
      if (idx[d] < outShape[d]) break;
      aOff -= as[d] * outShape[d];
      bOff -= bs[d] * outShape[d];
      idx[d] = 0;
    }
  }
  return out;
}

function where(cond: Buf, a: Buf, b: Buf): Buf {
  const out = new Float32Array(cond.length);
  for (let i = 0; i < cond.length; i++) out[i] = cond[i] !== 0 ? a[i] : b[i];
  return out;
}

function clamp(x: Buf, min: number, max: number): Buf {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i] < min ? min : x[i] > max ? max : x[i];
  return out;
}

function affine(x: Buf, scale: number, shift: number): Buf {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i] * scale + shift;
  return out;
}

export const elementwiseKernels: Pick<RowMajorKernels, 'unary' | 'activationBackward' | 'activationBackwardInPlace' | 'addInPlace' | 'binary' | 'where' | 'clamp' | 'affine'> = {
  unary, activationBackward, activationBackwardInPlace, addInPlace, binary, where, clamp, affine,
};
