/**
 * Direct convolution kernels for layers with few channels (LeNet's), where a
 * 64×64 GEMM tile would be mostly padding: one thread per output value,
 * looping over the window with no workgroup memory and no barriers.
 *
 *   forward       one thread per y[n, oc, oy, ox]
 *   backward data one thread per dx[n, c, iy, ix], gathering from the outputs whose windows cover it
 *   backward weight one thread per (dW element, slice of the batch), each summing its slice;
 *                 a second kernel adds the slices (the long N·OH·OW reduction split, as split-K).
 */
import { alloc, groupsFor, run, type GpuStorage, type WebGpuCtx } from './common.js';
import { MATH_HELPERS } from './elementwise.js';
import { kernel, perElement } from './wgsl.js';
import type { Conv2dDesc } from '../kernels.js';

/**
 * The geometry is baked into each shader as constants: a GPU without integer division
 * hardware (lavapipe's SIMD on a CPU, many mobile GPUs) then divides by multiply-and-shift.
 * A training run has few distinct shapes, so this costs few pipelines.
 */
const GEOMETRY_NAMES = ['N', 'C', 'H', 'W', 'OC', 'KH', 'KW', 'SH', 'SW', 'PH', 'PW', 'OH', 'OW'] as const;

function geometryValues(d: Conv2dDesc): number[] {
  return [d.n, d.c, d.h, d.w, d.oc, d.kh, d.kw, d.sh, d.sw, d.ph, d.pw, d.oh, d.ow];
}

function shapeKey(d: Conv2dDesc): string {
  return geometryValues(d).join('_');
}

function geometryConsts(d: Conv2dDesc): string {
  const v = geometryValues(d);
  return GEOMETRY_NAMES.map((n, i) => `const G_${n}: u32 = ${v[i]}u;`).join('\n');
}

function bakeGeometry(body: string): string {
  return body.replace(/\bP\.(N|C|H|W|OC|KH|KW|SH|SW|PH|PW|OH|OW)\b/g, 'G_$1');
}

/** Direct kernels pay off where the GEMM's reduction or its rows are short. */
export function preferDirect(d: Conv2dDesc, pass: 'forward' | 'data' | 'weight'): boolean {
  if (pass === 'forward') return d.oc <= 16 || d.c * d.kh * d.kw <= 64;
  if (pass === 'data') return d.c <= 16 || d.oc * d.kh * d.kw <= 64;
  return d.oc * d.c * d.kh * d.kw <= 4096;
}

const FORWARD = (d: Conv2dDesc) => kernel(`conv2d.direct.fwd.${shapeKey(d)}`, () => ({
  bindings: 'X:r Wt:r Bias:r Y:w', params: 'total:u32 hasBias:u32 act:u32',
  body: `${MATH_HELPERS}\n${geometryConsts(d)}\n${perElement('P.total', bakeGeometry(`  let ox = i % P.OW;
  let t = i / P.OW;
  let oy = t % P.OH;
  let t2 = t / P.OH;
  let oc = t2 % P.OC;
  let n = t2 / P.OC;
  var acc = 0.0;
  if (P.hasBias != 0u) { acc = Bias[oc]; }
  let y0 = i32(oy * P.SH) - i32(P.PH);
  let x0 = i32(ox * P.SW) - i32(P.PW);
  for (var c = 0u; c < P.C; c++) {
    let xb = (n * P.C + c) * P.H;
    let wb = (oc * P.C + c) * P.KH;
    for (var ki = 0u; ki < P.KH; ki++) {
      let iy = y0 + i32(ki);
      if (iy < 0 || iy >= i32(P.H)) { continue; }
      let xr = (xb + u32(iy)) * P.W;
      let wr = (wb + ki) * P.KW;
      for (var kj = 0u; kj < P.KW; kj++) {
        let ix = x0 + i32(kj);
        if (ix < 0 || ix >= i32(P.W)) { continue; }
        acc += X[xr + u32(ix)] * Wt[wr + kj];
      }
    }
  }
  Y[i] = act(P.act, acc);`))}`,
}));

const BACKWARD_DATA = (d: Conv2dDesc) => kernel(`conv2d.direct.bwdData.${shapeKey(d)}`, () => ({
  bindings: 'DY:r Wt:r DX:w', params: 'total:u32',
  body: `${geometryConsts(d)}\n${perElement('P.total', bakeGeometry(`  let ix = i % P.W;
  let t = i / P.W;
  let iy = t % P.H;
  let t2 = t / P.H;
  let c = t2 % P.C;
  let n = t2 / P.C;
  var acc = 0.0;
  for (var ki = 0u; ki < P.KH; ki++) {
    let ty = i32(iy + P.PH) - i32(ki);
    if (ty < 0 || u32(ty) % P.SH != 0u) { continue; }
    let oy = u32(ty) / P.SH;
    if (oy >= P.OH) { continue; }
    for (var kj = 0u; kj < P.KW; kj++) {
      let tx = i32(ix + P.PW) - i32(kj);
      if (tx < 0 || u32(tx) % P.SW != 0u) { continue; }
      let ox = u32(tx) / P.SW;
      if (ox >= P.OW) { continue; }
      for (var oc = 0u; oc < P.OC; oc++) {
        acc += DY[((n * P.OC + oc) * P.OH + oy) * P.OW + ox] * Wt[((oc * P.C + c) * P.KH + ki) * P.KW + kj];
      }
    }
  }
  DX[i] = acc;`))}`,
}));

const BACKWARD_WEIGHT = (d: Conv2dDesc) => kernel(`conv2d.direct.bwdWeight.${shapeKey(d)}`, () => ({
  bindings: 'X:r DY:r PART:w', params: 'total:u32 slices:u32 perSlice:u32',
  body: `${geometryConsts(d)}\n${perElement('P.total', bakeGeometry(`  let nw = P.OC * P.C * P.KH * P.KW;
  let e = i % nw;
  let slice = i / nw;
  let kj = e % P.KW;
  let t = e / P.KW;
  let ki = t % P.KH;
  let t2 = t / P.KH;
  let c = t2 % P.C;
  let oc = t2 / P.C;
  let n0 = slice * P.perSlice;
  let n1 = min(P.N, n0 + P.perSlice);
  var acc = 0.0;
  for (var n = n0; n < n1; n++) {
    for (var oy = 0u; oy < P.OH; oy++) {
      let iy = i32(oy * P.SH + ki) - i32(P.PH);
      if (iy < 0 || iy >= i32(P.H)) { continue; }
      let xr = ((n * P.C + c) * P.H + u32(iy)) * P.W;
      let dr = ((n * P.OC + oc) * P.OH + oy) * P.OW;
      for (var ox = 0u; ox < P.OW; ox++) {
        let ix = i32(ox * P.SW + kj) - i32(P.PW);
        if (ix < 0 || ix >= i32(P.W)) { continue; }
        acc += DY[dr + ox] * X[xr + u32(ix)];
      }
    }
  }
  PART[i] = acc;`))}`,
}));

const SUM_SLICES = kernel('conv2d.direct.sumSlices', () => ({
  bindings: 'PART:r DW:w', params: 'n:u32 slices:u32',
  body: perElement('P.n', '  var s = 0.0;\n  for (var k = 0u; k < P.slices; k++) { s += PART[k * P.n + i]; }\n  DW[i] = s;'),
}));

export function directConv(c: WebGpuCtx) {
  return {
    forward(x: GpuStorage, w: GpuStorage, bias: GpuStorage | null, d: Conv2dDesc, act: number): GpuStorage {
      const total = d.n * d.oc * d.oh * d.ow;
      const y = alloc(c, total);
      run(c, FORWARD(d), [x, w, bias ?? w, y], [total, bias ? 1 : 0, act], groupsFor(c, total));
      return y;
    },
    backwardData(dy: GpuStorage, w: GpuStorage, d: Conv2dDesc): GpuStorage {
      const total = d.n * d.c * d.h * d.w;
      const dx = alloc(c, total);
      run(c, BACKWARD_DATA(d), [dy, w, dx], [total], groupsFor(c, total));
      return dx;
    },
    backwardWeight(x: GpuStorage, dy: GpuStorage, d: Conv2dDesc): GpuStorage {
      const nw = d.oc * d.c * d.kh * d.kw;
      // Enough threads to fill a GPU, each summing at least one whole image.
      const slices = Math.max(1, Math.min(d.n, Math.ceil(16384 / nw)));
      const perSlice = Math.ceil(d.n / slices);
      const used = Math.ceil(d.n / perSlice);
      const dw = alloc(c, nw);
      const part = used > 1 ? alloc(c, used * nw) : dw;
      run(c, BACKWARD_WEIGHT(d), [x, dy, part], [used * nw, used, perSlice], groupsFor(c, used * nw));
      if (used > 1) {
        run(c, SUM_SLICES, [part, dw], [nw, used], groupsFor(c, nw));
        part.discard();
      }
      return dw;
    },
  };
}
