/**
 * 2-D convolution as implicit GEMMs on the tiled template (gemm.ts): no
 * im2col buffer is ever written, each kernel gathers its operand on the fly.
 *
 *   forward          Y[oc, (n,oy,ox)]  = Σ_(c,ki,kj)   W[oc, (c,ki,kj)] · X[n, c, oy·s−p+ki, ox·s−p+kj]
 *                    with bias and the fused activation applied in the store;
 *   backward data    dX[c, (n,iy,ix)]  = Σ_(oc,ki,kj)  W[oc, c, ki, kj] · dY[n, oc, (iy+p−ki)/s, (ix+p−kj)/s]
 *   backward weight  dW[oc, (c,ki,kj)] = Σ_(n,oy,ox)   dY[n, oc, oy, ox] · X[n, c, oy·s−p+ki, ox·s−p+kj]
 *
 * The weight gradient's depth (N·OH·OW) is long and its result small, so it is
 * split-K: each split reduces one chunk into a partial buffer, and one more
 * kernel sums the partials.
 */
import type { Conv2dDesc, Kernels } from '../kernels.js';
import { alloc, groupsFor, run, type GpuStorage, type WebGpuCtx } from './common.js';
import { MATH_HELPERS, actCode } from './elementwise.js';
import { GEMM_PARAMS, TILE_K, TILE_M, TILE_N, gemmGroups, gemmKernel } from './gemm.js';
import { kernel, perElement } from './wgsl.js';
import { reduceKernels } from './reduce.js';
import { directConv } from './conv-direct.js';
import { ConvTuner, type ConvVariants } from './conv-tuner.js';

const GEOMETRY = 'C:u32 H:u32 W:u32 OC:u32 KH:u32 KW:u32 SH:u32 SW:u32 PH:u32 PW:u32 OH:u32 OW:u32';

function geometry(d: Conv2dDesc): number[] {
  return [d.c, d.h, d.w, d.oc, d.kh, d.kw, d.sh, d.sw, d.ph, d.pw, d.oh, d.ow];
}

/** WGSL: X[n, c, oy·s − p + ki, ox·s − p + kj], 0 in the padding. */
const X_AT = `
fn xAt(n: u32, c: u32, oy: u32, ox: u32, ki: u32, kj: u32) -> f32 {
  let iy = i32(oy * P.SH + ki) - i32(P.PH);
  let ix = i32(ox * P.SW + kj) - i32(P.PW);
  if (iy < 0 || ix < 0 || iy >= i32(P.H) || ix >= i32(P.W)) { return 0.0; }
  return X[((n * P.C + c) * P.H + u32(iy)) * P.W + u32(ix)];
}`;

/** Split the weight gradient's depth so that the GPU has enough workgroups, in chunks of whole K-tiles. */
function splitsFor(m: number, n: number, depth: number): { splits: number; chunk: number } {
  const tiles = Math.ceil(m / TILE_M) * Math.ceil(n / TILE_N);
  const want = Math.max(1, Math.min(Math.ceil(256 / tiles), Math.floor(depth / 512)));
  let chunk = Math.ceil(depth / want);
  chunk = Math.ceil(chunk / TILE_K) * TILE_K;
  return { splits: Math.ceil(depth / chunk), chunk };
}

export function convKernels(c: WebGpuCtx): Pick<Kernels<GpuStorage>, 'conv2d' | 'conv2dBackwardData' | 'conv2dBackwardWeight'> {
  const reduce = reduceKernels(c).reduce;
  const direct = directConv(c);
  const gemm = {
    forward(x: GpuStorage, w: GpuStorage, bias: GpuStorage | null, d: Conv2dDesc): GpuStorage {
      const ohw = d.oh * d.ow;
      const y = alloc(c, d.n * d.oc * ohw);
      const spec = gemmKernel(c, 'conv2d.fwd', () => ({
        bindings: 'X:r Wt:r Bias:r Y:w',
        params: `${GEMM_PARAMS} ${GEOMETRY} hasBias:u32 act:u32`,
        gemm: {
          aAlongM: false,
          bAlongN: true,
          helpers: `${MATH_HELPERS}${X_AT}
fn loadA(b: u32, m: u32, k: u32) -> f32 { return Wt[m * P.K + k]; }
fn loadB(b: u32, k: u32, n: u32) -> f32 {
  let khw = P.KH * P.KW;
  let ci = k / khw;
  let r = k % khw;
  let ohw = P.OH * P.OW;
  let sp = n % ohw;
  return xAt(n / ohw, ci, sp / P.OW, sp % P.OW, r / P.KW, r % P.KW);
}
fn store(b: u32, split: u32, m: u32, n: u32, v: f32) {
  let ohw = P.OH * P.OW;
  var o = v;
  if (P.hasBias != 0u) { o += Bias[m]; }
  Y[((n / ohw) * P.OC + m) * ohw + n % ohw] = act(P.act, o);
}`,
        },
      }));
      const K = d.c * d.kh * d.kw;
      const N = d.n * ohw;
      run(c, spec, [x, w, bias ?? w, y], [d.oc, N, K, 1, K, ...geometry(d), bias ? 1 : 0, actCode(d.activation)], gemmGroups(d.oc, N, 1));
      return y;
    },

    backwardData(dy: GpuStorage, w: GpuStorage, d: Conv2dDesc): GpuStorage {
      const hw = d.h * d.w;
      const dx = alloc(c, d.n * d.c * hw);
      const spec = gemmKernel(c, 'conv2d.bwdData', () => ({
        bindings: 'DY:r Wt:r DX:w',
        params: `${GEMM_PARAMS} ${GEOMETRY}`,
        gemm: {
          aAlongM: false,
          bAlongN: true,
          helpers: `
fn loadA(b: u32, m: u32, k: u32) -> f32 {
  let khw = P.KH * P.KW;
  return Wt[((k / khw) * P.C + m) * khw + k % khw];
}
fn loadB(b: u32, k: u32, n: u32) -> f32 {
  let khw = P.KH * P.KW;
  let oc = k / khw;
  let r = k % khw;
  let hw = P.H * P.W;
  let p = n % hw;
  let ty = i32(p / P.W + P.PH) - i32(r / P.KW);
  let tx = i32(p % P.W + P.PW) - i32(r % P.KW);
  if (ty < 0 || tx < 0) { return 0.0; }
  let uy = u32(ty);
  let ux = u32(tx);
  if (uy % P.SH != 0u || ux % P.SW != 0u) { return 0.0; }
  let oy = uy / P.SH;
  let ox = ux / P.SW;
  if (oy >= P.OH || ox >= P.OW) { return 0.0; }
  return DY[(((n / hw) * P.OC + oc) * P.OH + oy) * P.OW + ox];
}
fn store(b: u32, split: u32, m: u32, n: u32, v: f32) {
  let hw = P.H * P.W;
  DX[((n / hw) * P.C + m) * hw + n % hw] = v;
}`,
        },
      }));
      const K = d.oc * d.kh * d.kw;
      const N = d.n * hw;
      run(c, spec, [dy, w, dx], [d.c, N, K, 1, K, ...geometry(d)], gemmGroups(d.c, N, 1));
      return dx;
    },

    backwardWeight(x: GpuStorage, dy: GpuStorage, d: Conv2dDesc): GpuStorage {
      const ohw = d.oh * d.ow;
      const M = d.oc;
      const N = d.c * d.kh * d.kw;
      const K = d.n * ohw;
      const { splits, chunk } = splitsFor(M, N, K);
      const dw = alloc(c, M * N);
      const target = splits > 1 ? alloc(c, splits * M * N) : dw;
      const spec = gemmKernel(c, 'conv2d.bwdWeight', () => ({
        bindings: 'X:r DY:r OUT:w',
        params: `${GEMM_PARAMS} ${GEOMETRY}`,
        gemm: {
          aAlongM: false,
          bAlongN: false,
          helpers: `${X_AT}
fn loadA(b: u32, m: u32, k: u32) -> f32 {
  let ohw = P.OH * P.OW;
  return DY[((k / ohw) * P.OC + m) * ohw + k % ohw];
}
fn loadB(b: u32, k: u32, n: u32) -> f32 {
  let khw = P.KH * P.KW;
  let r = n % khw;
  let ohw = P.OH * P.OW;
  let sp = k % ohw;
  return xAt(k / ohw, n / khw, sp / P.OW, sp % P.OW, r / P.KW, r % P.KW);
}
fn store(b: u32, split: u32, m: u32, n: u32, v: f32) { OUT[(split * P.M + m) * P.N + n] = v; }`,
        },
      }));
      run(c, spec, [x, dy, target], [M, N, K, splits, chunk, ...geometry(d)], gemmGroups(M, N, splits));
      if (splits > 1) {
        const sum = kernel('conv2d.sumSplits', () => ({
          bindings: 'part:r dw:w', params: 'n:u32 splits:u32',
          body: perElement('P.n', '  var s = 0.0;\n  for (var k = 0u; k < P.splits; k++) { s += part[k * P.n + i]; }\n  dw[i] = s;'),
        }));
        run(c, sum, [target, dw], [M * N, splits], groupsFor(c, M * N));
        target.discard();
      }
      return dw;
    },
  };
  const variants: ConvVariants = {
    forward: { direct: (x, w, b, d) => direct.forward(x, w, b, d, actCode(d.activation)), gemm: gemm.forward },
    data: { direct: direct.backwardData, gemm: gemm.backwardData },
    weight: { direct: direct.backwardWeight, gemm: gemm.backwardWeight },
  };
  const tuner = new ConvTuner(c, variants);
  return {
    conv2d: (x, w, bias, d) => variants.forward[tuner.pick('forward', d)](x, w, bias, d),
    conv2dBackwardData: (dy, w, d) => variants.data[tuner.pick('data', d)](dy, w, d),
    conv2dBackwardWeight(x, dy, d, withBias) {
      const db = withBias ? reduce('sum', dy, [d.n, d.oc, d.oh * d.ow], [0, 2]) : null;
      return { dw: variants.weight[tuner.pick('weight', d)](x, dy, d), db };
    },
  };
}
