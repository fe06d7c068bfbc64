/**
 * Softmax, log-softmax and NLL over rows of [rows, cols], one thread per row
 * (the zoo's rows are 10 classes wide). The targets cannot be checked on the
 * host without a readback, so an invalid class index yields a NaN loss, which
 * fit reports as a non-finite loss.
 */
import type { Kernels } from '../kernels.js';
import { alloc, groupsFor, NAN_HELPERS, run, type GpuStorage, type WebGpuCtx } from './common.js';
import { kernel, perElement } from './wgsl.js';

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

export function softmaxKernels(c: WebGpuCtx): Pick<Kernels<GpuStorage>, 'logSoftmax' | 'logSoftmaxBackward' | 'softmax' | 'softmaxBackward' | 'nllLoss' | 'nllLossBackward'> {
  const rowwise = (spec: typeof SOFTMAX, inputs: GpuStorage[], rows: number, cols: number): GpuStorage => {
    const out = alloc(c, rows * cols);
    run(c, spec, [...inputs, out], [rows, cols], groupsFor(c, rows));
    return out;
  };
  return {
    logSoftmax: (x, rows, cols) => rowwise(LOG_SOFTMAX, [x], rows, cols),
    softmax: (x, rows, cols) => rowwise(SOFTMAX, [x], rows, cols),
    logSoftmaxBackward: (y, dy, rows, cols) => rowwise(LOG_SOFTMAX_BWD, [y, dy], rows, cols),
    softmaxBackward: (y, dy, rows, cols) => rowwise(SOFTMAX_BWD, [y, dy], rows, cols),
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
