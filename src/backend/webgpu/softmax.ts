/**
 * Softmax, log-softmax and NLL over rows of [rows, cols]. Short rows (the
 * zoo's are 10 classes wide) run one thread per row; long ones one workgroup
 * per row, its max and sums combined by wgreduce.ts (subgroup operations
 * where the device has them). NLL gathers one value per row and reduces
 * nothing. The targets cannot be checked on the host without a readback, so
 * an invalid class index yields a NaN loss, which fit reports as a non-finite
 * loss.
 */
import type { Kernels } from '../kernels.js';
import { alloc, groupsFor, groupsPerItem, NAN_HELPERS, run, type GpuStorage, type WebGpuCtx } from './common.js';
import { kernel, perElement, WG } from './wgsl.js';
import { subgroupTier } from './tiers.js';
import { tierKey, wgReduce, type WgFn } from './wgreduce.js';
import type { KernelSpec } from './context.js';

/** Rows at most this long run one thread per row (as reduce.ts's short reductions). */
const SHORT_ROW = 64;

const ROWS = 'rows:u32 cols:u32';

const LOG_SOFTMAX = kernel('logSoftmax', () => ({
  bindings: 'X:r Y:w', params: ROWS,
  body: `${NAN_HELPERS}\n${perElement('P.rows', `  let o = i * P.cols;
  var m = -inff();
  for (var j = 0u; j < P.cols; j++) { m = max(m, X[o + j]); }
  var s = 0.0;
  for (var j = 0u; j < P.cols; j++) { s += exp(X[o + j] - m); }
  let lse = m + log(s);
  for (var j = 0u; j < P.cols; j++) { Y[o + j] = X[o + j] - lse; }`)}`,
}));

const SOFTMAX = kernel('softmax', () => ({
  bindings: 'X:r Y:w', params: ROWS,
  body: `${NAN_HELPERS}\n${perElement('P.rows', `  let o = i * P.cols;
  var m = -inff();
  for (var j = 0u; j < P.cols; j++) { m = max(m, X[o + j]); }
  var s = 0.0;
  for (var j = 0u; j < P.cols; j++) { let e = exp(X[o + j] - m); Y[o + j] = e; s += e; }
  for (var j = 0u; j < P.cols; j++) { Y[o + j] = Y[o + j] / s; }`)}`,
}));

const LOG_SOFTMAX_BWD = kernel('logSoftmax.bwd', () => ({
  bindings: 'Y:r DY:r DX:w', params: ROWS,
  body: perElement('P.rows', `  let o = i * P.cols;
  var s = 0.0;
  for (var j = 0u; j < P.cols; j++) { s += DY[o + j]; }
  for (var j = 0u; j < P.cols; j++) { DX[o + j] = DY[o + j] - exp(Y[o + j]) * s; }`),
}));

const SOFTMAX_BWD = kernel('softmax.bwd', () => ({
  bindings: 'Y:r DY:r DX:w', params: ROWS,
  body: perElement('P.rows', `  let o = i * P.cols;
  var s = 0.0;
  for (var j = 0u; j < P.cols; j++) { s += DY[o + j] * Y[o + j]; }
  for (var j = 0u; j < P.cols; j++) { DX[o + j] = Y[o + j] * (DY[o + j] - s); }`),
}));

const NLL = kernel('nll', () => ({
  bindings: 'L:r T:r O:w', params: ROWS,
  body: `${NAN_HELPERS}\n${perElement('P.rows', `  let t = T[i];
  if (t < 0.0 || t >= f32(P.cols) || t != trunc(t)) { O[i] = nanf(); return; }
  O[i] = -L[i * P.cols + u32(t)];`)}`,
}));

const NLL_BWD = kernel('nll.bwd', () => ({
  bindings: 'G:r T:r DX:w', params: 'n:u32 cols:u32',
  body: perElement('P.n', `  let r = i / P.cols;
  let j = i % P.cols;
  DX[i] = select(0.0, -G[r], f32(j) == T[r]);`),
}));

/**
 * A kernel with one workgroup per row: `body(args)` is WGSL run by every thread with `o` the
 * row's first index, calling the wgreduce functions `fns` with `args`.
 */
function perRow(name: string, sg: boolean, bindings: string, fns: readonly WgFn[], body: (args: string) => string): KernelSpec {
  return kernel(`${name}.row${tierKey(sg)}`, () => {
    const wr = wgReduce(sg, fns);
    return {
      bindings, params: ROWS, enables: wr.enables,
      body: `${NAN_HELPERS}
${wr.decls}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, ${wr.params}) {
  let row = wid.y * nwg.x + wid.x;
  // Whole workgroups leave together, so the barriers inside the reductions stay uniform.
  if (row >= P.rows) { return; }
  let o = row * P.cols;
${body(wr.args)}
}`,
    };
  });
}

/** WGSL: the row's maximum (NaN if any is NaN) as `m`, and Σ exp(X − m) as `s`. */
const MAX_AND_SUM = (args: string) => `  var lm = -inff();
  for (var j = lid; j < P.cols; j += ${WG}u) { let v = X[o + j]; lm = select(lm, v, v > lm || isNan(v)); }
  let m = wgMax(lm, ${args});
  var ls = 0.0;
  for (var j = lid; j < P.cols; j += ${WG}u) { ls += exp(X[o + j] - m); }
  let s = wgSum(ls, ${args});`;

const LONG = {
  logSoftmax: (sg: boolean) => perRow('logSoftmax', sg, 'X:r Y:w', ['max', 'sum'], (a) => `${MAX_AND_SUM(a)}
  let lse = m + log(s);
  for (var j = lid; j < P.cols; j += ${WG}u) { Y[o + j] = X[o + j] - lse; }`),
  softmax: (sg: boolean) => perRow('softmax', sg, 'X:r Y:w', ['max', 'sum'], (a) => `${MAX_AND_SUM(a)}
  for (var j = lid; j < P.cols; j += ${WG}u) { Y[o + j] = exp(X[o + j] - m) / s; }`),
  logSoftmaxBwd: (sg: boolean) => perRow('logSoftmax.bwd', sg, 'Y:r DY:r DX:w', ['sum'], (a) => `  var ls = 0.0;
  for (var j = lid; j < P.cols; j += ${WG}u) { ls += DY[o + j]; }
  let s = wgSum(ls, ${a});
  for (var j = lid; j < P.cols; j += ${WG}u) { DX[o + j] = DY[o + j] - exp(Y[o + j]) * s; }`),
  softmaxBwd: (sg: boolean) => perRow('softmax.bwd', sg, 'Y:r DY:r DX:w', ['sum'], (a) => `  var ls = 0.0;
  for (var j = lid; j < P.cols; j += ${WG}u) { ls += DY[o + j] * Y[o + j]; }
  let s = wgSum(ls, ${a});
  for (var j = lid; j < P.cols; j += ${WG}u) { DX[o + j] = Y[o + j] * (DY[o + j] - s); }`),
};

export function softmaxKernels(c: WebGpuCtx): Pick<Kernels<GpuStorage>, 'logSoftmax' | 'logSoftmaxBackward' | 'softmax' | 'softmaxBackward' | 'nllLoss' | 'nllLossBackward'> {
  const rowwise = (short: KernelSpec, long: (sg: boolean) => KernelSpec, inputs: GpuStorage[], rows: number, cols: number): GpuStorage => {
    const out = alloc(c, rows * cols);
    if (cols <= SHORT_ROW) {
      run(c, short, [...inputs, out], [rows, cols], groupsFor(c, rows));
    } else {
      run(c, long(subgroupTier(c.gpu)), [...inputs, out], [rows, cols], groupsPerItem(c, rows));
    }
    return out;
  };
  return {
    logSoftmax: (x, rows, cols) => rowwise(LOG_SOFTMAX, LONG.logSoftmax, [x], rows, cols),
    softmax: (x, rows, cols) => rowwise(SOFTMAX, LONG.softmax, [x], rows, cols),
    logSoftmaxBackward: (y, dy, rows, cols) => rowwise(LOG_SOFTMAX_BWD, LONG.logSoftmaxBwd, [y, dy], rows, cols),
    softmaxBackward: (y, dy, rows, cols) => rowwise(SOFTMAX_BWD, LONG.softmaxBwd, [y, dy], rows, cols),
    nllLoss(logp, target, rows, cols) {
      const out = alloc(c, rows);
      run(c, NLL, [logp, target, out], [rows, cols], groupsFor(c, rows));
      return out;
    },
    nllLossBackward(dloss, target, rows, cols) {
      const dx = alloc(c, rows * cols);
      run(c, NLL_BWD, [dloss, target, dx], [rows * cols, cols], groupsFor(c, rows * cols));
      return dx;
    },
  };
}
