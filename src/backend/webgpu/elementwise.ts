/** Elementwise kernels: unary maths, activations and their backward, broadcasting binary ops, where, clamp, affine. */
import type { ActivationOp, BinaryOp, Kernels, UnaryOp } from '../kernels.js';
import { alloc, groupsFor, NAN_HELPERS, run, type GpuStorage, type WebGpuCtx } from './common.js';
import { kernel, perElement } from './wgsl.js';

const UNARY: Record<UnaryOp, string> = {
  neg: '-v',
  exp: 'exp(v)',
  log: 'logf(v)',
  sqrt: 'sqrt(v)',
  abs: 'abs(v)',
  sigmoid: 'sigmoidf(v)',
  relu: 'select(0.0, v, v > 0.0)',
  tanh: 'tanhf(v)',
  sign: 'select(sign(v), v, isNan(v))',
  reciprocal: '1.0 / v',
  square: 'v * v',
  trunc: 'trunc(v)',
};

/** Maths with IEEE edge cases spelled out (WGSL leaves log(0), pow of negatives and NaN to the implementation). */
export const MATH_HELPERS = `${NAN_HELPERS}
fn logf(v: f32) -> f32 {
  if (v == 0.0) { return -inff(); }
  if (v < 0.0 || isNan(v)) { return nanf(); }
  if (v == inff()) { return inff(); }
  return log(v);
}
fn sigmoidf(v: f32) -> f32 {
  if (v >= 0.0) { return 1.0 / (1.0 + exp(-v)); }
  let e = exp(v);
  return e / (1.0 + e);
}
fn powf(a: f32, b: f32) -> f32 {
  if (b == 0.0) { return 1.0; }
  if (isNan(a) || isNan(b)) { return nanf(); }
  if (a == 0.0) { return select(0.0, inff(), b < 0.0); }
  let r = exp2(b * log2(abs(a)));
  if (a > 0.0) { return r; }
  if (b != trunc(b)) { return nanf(); }
  return select(r, -r, abs(b) % 2.0 == 1.0);
}
// Clamped first: some drivers compute tanh from exp(2v), which overflows to NaN past ~44.
fn tanhf(v: f32) -> f32 { return select(tanh(clamp(v, -15.0, 15.0)), v, isNan(v)); }
fn maxf(a: f32, b: f32) -> f32 { return select(b, a, a >= b || isNan(a)); }
fn minf(a: f32, b: f32) -> f32 { return select(b, a, a <= b || isNan(a)); }
fn act(op: u32, v: f32) -> f32 {
  switch (op) {
    case 1u: { return select(0.0, v, v > 0.0); }
    case 2u: { return sigmoidf(v); }
    case 3u: { return tanhf(v); }
    default: { return v; }
  }
}
`;

/** Activation codes for fused kernels (0: none). */
export function actCode(op: ActivationOp | undefined): number {
  return op === 'relu' ? 1 : op === 'sigmoid' ? 2 : op === 'tanh' ? 3 : 0;
}

const BINARY: Record<BinaryOp, string> = {
  add: 'a + b', sub: 'a - b', mul: 'a * b', div: 'a / b', pow: 'powf(a, b)',
  maximum: 'maxf(a, b)', minimum: 'minf(a, b)',
  eq: 'select(0.0, 1.0, a == b)', ne: 'select(0.0, 1.0, a != b)', lt: 'select(0.0, 1.0, a < b)',
  le: 'select(0.0, 1.0, a <= b)', gt: 'select(0.0, 1.0, a > b)', ge: 'select(0.0, 1.0, a >= b)',
};

const MAX_RANK = 6;

/**
 * Merge adjacent output dims along which a and b each either both broadcast or
 * both advance, so a bias add over NCHW becomes [N][C][HW]: the kernel's index
 * arithmetic then runs over few dims.
 */
export function collapseBroadcast(aShape: readonly number[], bShape: readonly number[], outShape: readonly number[]): { a: number[]; b: number[]; out: number[] } {
  const a: number[] = [];
  const b: number[] = [];
  const out: number[] = [];
  for (let i = 0; i < outShape.length; i++) {
    if (outShape[i] === 1) continue;
    const ab = aShape[i] === 1;
    const bb = bShape[i] === 1;
    const k = out.length - 1;
    if (k >= 0 && (a[k] === 1) === ab && (b[k] === 1) === bb) {
      out[k] *= outShape[i];
      a[k] *= aShape[i];
      b[k] *= bShape[i];
    } else {
      out.push(outShape[i]);
      a.push(aShape[i]);
      b.push(bShape[i]);
    }
  }
  return { a, b, out };
}

function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = shape[i] === 1 ? 0 : acc;
    acc *= shape[i];
  }
  return s;
}

export function elementwiseKernels(c: WebGpuCtx): Pick<Kernels<GpuStorage>, 'unary' | 'activationBackward' | 'binary' | 'where' | 'clamp' | 'affine'> {
  const flat = (key: string, bindings: string, params: string, expr: string, pre = '') =>
    kernel(key, () => ({ bindings, params, body: `${MATH_HELPERS}${pre}\n${perElement('P.n', expr)}` }));

  return {
    unary(op: UnaryOp, x: GpuStorage): GpuStorage {
      const y = alloc(c, x.numel);
      run(c, flat(`unary.${op}`, 'x:r y:w', 'n:u32', `  let v = x[i];\n  y[i] = ${UNARY[op]};`), [x, y], [x.numel], groupsFor(c, x.numel));
      return y;
    },
    activationBackward(op: ActivationOp, x: GpuStorage, y: GpuStorage, dy: GpuStorage): GpuStorage {
      const dx = alloc(c, dy.numel);
      const expr = op === 'relu' ? 'select(0.0, dy[i], x[i] > 0.0)' : op === 'sigmoid' ? 'dy[i] * y[i] * (1.0 - y[i])' : 'dy[i] * (1.0 - y[i] * y[i])';
      run(c, flat(`actback.${op}`, 'x:r y:r dy:r dx:w', 'n:u32', `  dx[i] = ${expr};`), [x, y, dy, dx], [dy.numel], groupsFor(c, dy.numel));
      return dx;
    },
    binary(op: BinaryOp, a: GpuStorage, aShape: readonly number[], b: GpuStorage, bShape: readonly number[], outShape: readonly number[]): GpuStorage {
      const size = outShape.reduce((p, d) => p * d, 1);
      const out = alloc(c, size);
      const f = BINARY[op];
      const g = groupsFor(c, size);
      if (a.numel === size && b.numel === size) {
        run(c, flat(`binary.${op}.same`, 'A:r B:r O:w', 'n:u32', `  let a = A[i];\n  let b = B[i];\n  O[i] = ${f};`), [a, b, out], [size], g);
      } else if (b.numel === 1) {
        run(c, flat(`binary.${op}.bscalar`, 'A:r B:r O:w', 'n:u32', `  let a = A[i];\n  let b = B[0];\n  O[i] = ${f};`), [a, b, out], [size], g);
      } else if (a.numel === 1) {
        run(c, flat(`binary.${op}.ascalar`, 'A:r B:r O:w', 'n:u32', `  let a = A[0];\n  let b = B[i];\n  O[i] = ${f};`), [a, b, out], [size], g);
      } else {
        const m = collapseBroadcast(aShape, bShape, outShape);
        const r = m.out.length;
        if (r > MAX_RANK) throw new Error(`webgpu binary ${op}: broadcasting over ${r} distinct dims is not supported (at most ${MAX_RANK}); reshape the operands`);
        const sa = stridesOf(m.a);
        const sb = stridesOf(m.b);
        const dimParams = Array.from({ length: r }, (_, d) => `o${d}:u32 sa${d}:u32 sb${d}:u32`).join(' ');
        let walk = '  var rem = i;\n  var ia = 0u;\n  var ib = 0u;\n';
        for (let d = r - 1; d >= 0; d--) walk += `  { let q = rem % P.o${d}; rem = rem / P.o${d}; ia += q * P.sa${d}; ib += q * P.sb${d}; }\n`;
        const spec = flat(`binary.${op}.bcast${r}`, 'A:r B:r O:w', `n:u32 ${dimParams}`, `${walk}  let a = A[ia];\n  let b = B[ib];\n  O[i] = ${f};`);
        const params: number[] = [size];
        for (let d = 0; d < r; d++) params.push(m.out[d], sa[d], sb[d]);
        run(c, spec, [a, b, out], params, g);
      }
      return out;
    },
    where(cond: GpuStorage, a: GpuStorage, b: GpuStorage): GpuStorage {
      const out = alloc(c, cond.numel);
      run(c, flat('where', 'C:r A:r B:r O:w', 'n:u32', '  O[i] = select(B[i], A[i], C[i] != 0.0);'), [cond, a, b, out], [cond.numel], groupsFor(c, cond.numel));
      return out;
    },
    clamp(x: GpuStorage, min: number, max: number): GpuStorage {
      const y = alloc(c, x.numel);
      const spec = flat('clamp', 'x:r y:w', 'n:u32 lo:f32 hi:f32', '  let v = x[i];\n  y[i] = select(select(v, P.hi, v > P.hi), P.lo, v < P.lo);');
      run(c, spec, [x, y], [x.numel, min, max], groupsFor(c, x.numel));
      return y;
    },
    affine(x: GpuStorage, scale: number, shift: number): GpuStorage {
      const y = alloc(c, x.numel);
      run(c, flat('affine', 'x:r y:w', 'n:u32 scale:f32 shift:f32', '  y[i] = x[i] * P.scale + P.shift;'), [x, y], [x.numel, scale, shift], groupsFor(c, x.numel));
      return y;
    },
  };
}
