/**
 * 2-D convolution as im2col + GEMM, one image at a time so the column buffer
 * stays small (C·kh·kw × OH·OW) and is reused across the batch.
 *
 *   forward:          Y_n  = W · cols(X_n)            [OC, OHW]
 *   backward data:    dX_n = col2im(Wᵀ · dY_n)
 *   backward weight:  dW  += dY_n · cols(X_n)ᵀ ;  db += Σ dY_n
 */
import type { Buf, Conv2dDesc, RowMajorKernels } from '../kernels.js';
import { gemm } from './gemm.js';
import { elementwiseKernels } from './elementwise.js';

function isPointwise(d: Conv2dDesc): boolean {
  return d.kh === 1 && d.kw === 1 && d.sh === 1 && d.sw === 1 && d.ph === 0 && d.pw === 0;
}

/** Unfold image n of x into cols[(c·kh + ki)·kw + kj, oh·OW + ow]. */
function im2col(x: Buf, n: number, d: Conv2dDesc, cols: Float32Array): void {
  const { c: C, h: H, w: W, kh, kw, sh, sw, ph, pw, oh: OH, ow: OW } = d;
  const ohw = OH * OW;
  for (let c = 0; c < C; c++) {
    const plane = (n * C + c) * H * W;
    for (let ki = 0; ki < kh; ki++) {
      for (let kj = 0; kj < kw; kj++) {
        const row = ((c * kh + ki) * kw + kj) * ohw;
        for (let oy = 0; oy < OH; oy++) {
          const iy = oy * sh - ph + ki;
          const dst = row + oy * OW;
          if (iy < 0 || iy >= H) {
            cols.fill(0, dst, dst + OW);
            continue;
          }
          const src = plane + iy * W;
          for (let ox = 0; ox < OW; ox++) {
            const ix = ox * sw - pw + kj;
            cols[dst + ox] = ix >= 0 && ix < W ? x[src + ix] : 0;
          }
        }
      }
    }
  }
}

/** Inverse of im2col: scatter-add cols back into image n of dx. */
function col2im(cols: Float32Array, n: number, d: Conv2dDesc, dx: Float32Array): void {
  const { c: C, h: H, w: W, kh, kw, sh, sw, ph, pw, oh: OH, ow: OW } = d;
  const ohw = OH * OW;
  for (let c = 0; c < C; c++) {
    const plane = (n * C + c) * H * W;
    for (let ki = 0; ki < kh; ki++) {
      for (let kj = 0; kj < kw; kj++) {
        const row = ((c * kh + ki) * kw + kj) * ohw;
        for (let oy = 0; oy < OH; oy++) {
          const iy = oy * sh - ph + ki;
          if (iy < 0 || iy >= H) continue;
          const src = row + oy * OW;
          const dst = plane + iy * W;
          for (let ox = 0; ox < OW; ox++) {
            const ix = ox * sw - pw + kj;
            if (ix >= 0 && ix < W) dx[dst + ix] += cols[src + ox];
          }
        }
      }
    }
  }
}

function conv2d(x: Buf, w: Buf, bias: Buf | null, d: Conv2dDesc): Buf {
  const ckk = d.c * d.kh * d.kw;
  const ohw = d.oh * d.ow;
  const y = new Float32Array(d.n * d.oc * ohw);
  const pointwise = isPointwise(d);
  const cols = pointwise ? x : new Float32Array(ckk * ohw);
  for (let n = 0; n < d.n; n++) {
    if (!pointwise) im2col(x, n, d, cols);
    const colOff = pointwise ? n * ckk * ohw : 0;
    const yOff = n * d.oc * ohw;
    gemm(false, false, d.oc, ohw, ckk, w, 0, cols, colOff, y, yOff, true);
    if (bias) {
      for (let o = 0; o < d.oc; o++) {
        const b = bias[o];
        const base = yOff + o * ohw;
        for (let i = 0; i < ohw; i++) y[base + i] += b;
      }
    }
  }
  return d.activation ? elementwiseKernels.unary(d.activation, y) : y;
}

function conv2dBackwardData(dy: Buf, w: Buf, d: Conv2dDesc): Buf {
  const ckk = d.c * d.kh * d.kw;
  const ohw = d.oh * d.ow;
  const dx = new Float32Array(d.n * d.c * d.h * d.w);
  const pointwise = isPointwise(d);
  const cols = new Float32Array(ckk * ohw);
  for (let n = 0; n < d.n; n++) {
    if (pointwise) {
      gemm(true, false, ckk, ohw, d.oc, w, 0, dy, n * d.oc * ohw, dx, n * ckk * ohw, true);
    } else {
      gemm(true, false, ckk, ohw, d.oc, w, 0, dy, n * d.oc * ohw, cols, 0, false);
      col2im(cols, n, d, dx);
    }
  }
  return dx;
}

function conv2dBackwardWeight(x: Buf, dy: Buf, d: Conv2dDesc, withBias: boolean): { dw: Buf; db: Buf | null } {
  const ckk = d.c * d.kh * d.kw;
  const ohw = d.oh * d.ow;
  const dw = new Float32Array(d.oc * ckk);
  const db = withBias ? new Float32Array(d.oc) : null;
  const pointwise = isPointwise(d);
  const cols = pointwise ? x : new Float32Array(ckk * ohw);
  for (let n = 0; n < d.n; n++) {
    if (!pointwise) im2col(x, n, d, cols);
    const dyOff = n * d.oc * ohw;
    gemm(false, true, d.oc, ckk, ohw, dy, dyOff, cols, pointwise ? n * ckk * ohw : 0, dw, 0, true);
    if (db) {
      for (let o = 0; o < d.oc; o++) {
        let s = 0;
        const base = dyOff + o * ohw;
        for (let i = 0; i < ohw; i++) s += dy[base + i];
        db[o] += s;
      }
    }
  }
  return { dw, db };
}

export const convKernels: Pick<RowMajorKernels, 'conv2d' | 'conv2dBackwardData' | 'conv2dBackwardWeight'> = {
  conv2d, conv2dBackwardData, conv2dBackwardWeight,
};
