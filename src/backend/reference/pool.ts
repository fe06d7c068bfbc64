/**
 * Max and average pooling with PyTorch's window rules: padding counts as -∞
 * for max; for avg, count_include_pad divides by the window clipped to the
 * padded input (not the full kernel when the window overhangs the padding).
 */
import type { ActivationOp, Buf, RowMajorKernels, Pool2dDesc } from '../kernels.js';
import { activationBackwardInPlace } from './elementwise.js';

interface Window { y0: number; y1: number; x0: number; x1: number; divisor: number }

function windowAt(d: Pool2dDesc, oy: number, ox: number): Window {
  let y0 = oy * d.sh - d.ph;
  let x0 = ox * d.sw - d.pw;
  let y1 = Math.min(y0 + d.kh, d.h + d.ph);
  let x1 = Math.min(x0 + d.kw, d.w + d.pw);
  const padded = (y1 - y0) * (x1 - x0);
  y0 = Math.max(y0, 0);
  x0 = Math.max(x0, 0);
  y1 = Math.min(y1, d.h);
  x1 = Math.min(x1, d.w);
  const divisor = d.countIncludePad ? padded : (y1 - y0) * (x1 - x0);
  return { y0, y1, x0, x1, divisor };
}

function pool2d(x: Buf, d: Pool2dDesc): Buf {
  const planes = d.n * d.c;
  const out = new Float32Array(planes * d.oh * d.ow);
  const windows: Window[] = [];
  for (let oy = 0; oy < d.oh; oy++) for (let ox = 0; ox < d.ow; ox++) windows.push(windowAt(d, oy, ox));
  const hw = d.h * d.w;
  const ohw = d.oh * d.ow;
  for (let p = 0; p < planes; p++) {
    const base = p * hw;
    for (let o = 0; o < ohw; o++) {
      const win = windows[o];
      if (d.kind === 'max') {
        let m = -Infinity;
        for (let y = win.y0; y < win.y1; y++) {
          const row = base + y * d.w;
          for (let xx = win.x0; xx < win.x1; xx++) {
            const v = x[row + xx];
            if (v > m || Number.isNaN(v)) m = v;
          }
        }
        out[p * ohw + o] = m;
      } else {
        let s = 0;
        for (let y = win.y0; y < win.y1; y++) {
          const row = base + y * d.w;
          for (let xx = win.x0; xx < win.x1; xx++) s += x[row + xx];
        }
        out[p * ohw + o] = s / win.divisor;
      }
    }
  }
  return out;
}

function pool2dBackward(x: Buf, _y: Buf, dy: Buf, d: Pool2dDesc): Buf {
  const planes = d.n * d.c;
  const dx = new Float32Array(x.length);
  const hw = d.h * d.w;
  const ohw = d.oh * d.ow;
  for (let oy = 0; oy < d.oh; oy++) {
    for (let ox = 0; ox < d.ow; ox++) {
      const win = windowAt(d, oy, ox);
      const o = oy * d.ow + ox;
      for (let p = 0; p < planes; p++) {
        const base = p * hw;
        const g = dy[p * ohw + o];
        if (d.kind === 'max') {
          // Gradient goes to the first maximum, as PyTorch's kernel picks it.
          let m = -Infinity;
          let at = -1;
          for (let y = win.y0; y < win.y1; y++) {
            for (let xx = win.x0; xx < win.x1; xx++) {
              const v = x[base + y * d.w + xx];
              if (v > m || (at < 0 && Number.isNaN(v))) {
                m = v;
                at = base + y * d.w + xx;
              }
            }
          }
          if (at >= 0) dx[at] += g;
        } else {
          const share = g / win.divisor;
          for (let y = win.y0; y < win.y1; y++) {
            const row = base + y * d.w;
            for (let xx = win.x0; xx < win.x1; xx++) dx[row + xx] += share;
          }
        }
      }
    }
  }
  return dx;
}

/** The composition it stands for: the pool's gradient, then the activation's (from its output y). */
function avgPoolActivationBackward(op: ActivationOp, y: Buf, dy: Buf, d: Pool2dDesc): Buf {
  if (d.kind !== 'avg') throw new Error('avgPoolActivationBackward: an average pool only');
  const dx = pool2dBackward(y, y, dy, d);
  // y is also the activation's input here: ReLU's slope from y > 0 is the same as from x > 0.
  activationBackwardInPlace(op, y, y, dx);
  return dx;
}

export const poolKernels: Pick<RowMajorKernels, 'pool2d' | 'pool2dBackward' | 'avgPoolActivationBackward'> = {
  pool2d, pool2dBackward, avgPoolActivationBackward,
};
