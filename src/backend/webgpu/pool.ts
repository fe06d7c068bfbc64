/**
 * Max and average pooling with PyTorch's window rules (see reference/pool.ts).
 * Max pooling saves the argmax of every window in a second buffer, kept on
 * the output storage's `aux` for the input it came from, so the backward only
 * gathers. Backward kernels run one thread per input element and gather from
 * the windows covering it: no atomics, no scatter.
 */
import type { Kernels, Pool2dDesc } from '../kernels.js';
import { alloc, groupsFor, NAN_HELPERS, run, type GpuStorage, type WebGpuCtx } from './common.js';
import { kernel, perElement } from './wgsl.js';

interface SavedIndices {
  readonly inputId: number;
  readonly indices: GpuStorage;
}

const GEOMETRY = 'n:u32 H:u32 W:u32 KH:u32 KW:u32 SH:u32 SW:u32 PH:u32 PW:u32 OH:u32 OW:u32 includePad:u32';

function geometry(count: number, d: Pool2dDesc): number[] {
  return [count, d.h, d.w, d.kh, d.kw, d.sh, d.sw, d.ph, d.pw, d.oh, d.ow, d.countIncludePad ? 1 : 0];
}

/** WGSL: the clipped window of output (oy, ox), as in reference windowAt. */
const WINDOW = `
struct Win { y0: i32, y1: i32, x0: i32, x1: i32, div: f32 }
fn windowAt(oy: u32, ox: u32) -> Win {
  var y0 = i32(oy * P.SH) - i32(P.PH);
  var x0 = i32(ox * P.SW) - i32(P.PW);
  var y1 = min(y0 + i32(P.KH), i32(P.H + P.PH));
  var x1 = min(x0 + i32(P.KW), i32(P.W + P.PW));
  let padded = (y1 - y0) * (x1 - x0);
  y0 = max(y0, 0);
  x0 = max(x0, 0);
  y1 = min(y1, i32(P.H));
  x1 = min(x1, i32(P.W));
  let div = select((y1 - y0) * (x1 - x0), padded, P.includePad != 0u);
  return Win(y0, y1, x0, x1, f32(div));
}
/** The outputs whose windows cover input row iy: [lo, hi). */
fn coverRange(i: u32, k: u32, s: u32, p: u32, o: u32) -> vec2<u32> {
  let t = i32(i + p);
  let lo = max((t - i32(k) + i32(s)) / i32(s), 0);
  let hi = min(t / i32(s) + 1, i32(o));
  return vec2<u32>(u32(lo), u32(max(hi, lo)));
}`;

/** WGSL opening both backward kernels: input element i's plane and position, and the outputs whose windows cover it. */
const COVERING = `  let hw = P.H * P.W;
  let plane = i / hw;
  let p = i % hw;
  let ry = coverRange(p / P.W, P.KH, P.SH, P.PH, P.OH);
  let rx = coverRange(p % P.W, P.KW, P.SW, P.PW, P.OW);
`;

export function poolKernels(c: WebGpuCtx): Pick<Kernels<GpuStorage>, 'pool2d' | 'pool2dBackward'> {
  const forward = (x: GpuStorage, d: Pool2dDesc): { y: GpuStorage; indices: GpuStorage | null } => {
    const count = d.n * d.c * d.oh * d.ow;
    const y = alloc(c, count);
    if (d.kind === 'max') {
      const indices = alloc(c, count);
      const spec = kernel('pool.max', () => ({
        bindings: 'X:r Y:w I:w', params: GEOMETRY,
        body: `${NAN_HELPERS}${WINDOW}\n${perElement('P.n', `  let ohw = P.OH * P.OW;
  let plane = i / ohw;
  let o = i % ohw;
  let w = windowAt(o / P.OW, o % P.OW);
  let base = plane * P.H * P.W;
  var m = -inff();
  var best = -inff();
  var at = -1;
  for (var yy = w.y0; yy < w.y1; yy++) {
    for (var xx = w.x0; xx < w.x1; xx++) {
      let idx = yy * i32(P.W) + xx;
      let v = X[base + u32(idx)];
      if (v > m || isNan(v)) { m = v; }
      if (v > best || (at < 0 && isNan(v))) { best = v; at = idx; }
    }
  }
  Y[i] = m;
  I[i] = f32(at);`)}`,
      }));
      run(c, spec, [x, y, indices], geometry(count, d), groupsFor(c, count));
      return { y, indices };
    }
    const spec = kernel('pool.avg', () => ({
      bindings: 'X:r Y:w', params: GEOMETRY,
      body: `${WINDOW}\n${perElement('P.n', `  let ohw = P.OH * P.OW;
  let plane = i / ohw;
  let o = i % ohw;
  let w = windowAt(o / P.OW, o % P.OW);
  let base = plane * P.H * P.W;
  var s = 0.0;
  for (var yy = w.y0; yy < w.y1; yy++) {
    for (var xx = w.x0; xx < w.x1; xx++) { s += X[base + u32(yy * i32(P.W) + xx)]; }
  }
  Y[i] = s / w.div;`)}`,
    }));
    run(c, spec, [x, y], geometry(count, d), groupsFor(c, count));
    return { y, indices: null };
  };

  return {
    pool2d(x, d) {
      const { y, indices } = forward(x, d);
      if (indices) {
        y.aux = { inputId: x.id, indices } satisfies SavedIndices;
        y.addDependent(indices);
      }
      return y;
    },
    pool2dBackward(x, y, dy, d) {
      const count = d.n * d.c * d.h * d.w;
      const dx = alloc(c, count);
      if (d.kind === 'max') {
        const saved = y.aux as SavedIndices | null;
        let indices: GpuStorage;
        let fresh: GpuStorage | null = null;
        if (saved && saved.inputId === x.id) indices = saved.indices;
        else {
          // y did not come from this backend's forward on x (a loaded tensor, say): recompute the argmax.
          const again = forward(x, d);
          again.y.discard();
          indices = again.indices as GpuStorage;
          fresh = indices;
        }
        const spec = kernel('pool.max.bwd', () => ({
          bindings: 'DY:r I:r DX:w', params: GEOMETRY,
          body: `${WINDOW}\n${perElement('P.n', `${COVERING}  let me = f32(p);
  var g = 0.0;
  for (var oy = ry.x; oy < ry.y; oy++) {
    for (var ox = rx.x; ox < rx.y; ox++) {
      let o = (plane * P.OH + oy) * P.OW + ox;
      if (I[o] == me) { g += DY[o]; }
    }
  }
  DX[i] = g;`)}`,
        }));
        run(c, spec, [dy, indices, dx], geometry(count, d), groupsFor(c, count));
        fresh?.discard();
        return dx;
      }
      const spec = kernel('pool.avg.bwd', () => ({
        bindings: 'DY:r DX:w', params: GEOMETRY,
        body: `${WINDOW}\n${perElement('P.n', `${COVERING}  var g = 0.0;
  for (var oy = ry.x; oy < ry.y; oy++) {
    for (var ox = rx.x; ox < rx.y; ox++) {
      let w = windowAt(oy, ox);
      g += DY[(plane * P.OH + oy) * P.OW + ox] / w.div;
    }
  }
  DX[i] = g;`)}`,
      }));
      run(c, spec, [dy, dx], geometry(count, d), groupsFor(c, count));
      return dx;
    },
  };
}
