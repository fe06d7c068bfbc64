/**
 * Finite-difference gradient check.
 *
 * For a function f of tensors and the scalar loss L = Σ f(x)·R (R a fixed
 * fill of f's output shape), compare the autograd gradient dL/dx with central
 * differences
 *
 *     (L(x + ε e_i) − L(x − ε e_i)) / (x_i⁺ − x_i⁻)
 *
 * where the perturbed inputs are float32 (x_i± are the float32 values actually
 * used, so rounding of x ± ε does not bias the quotient) and L is summed in
 * float64 from f's float32 output.
 *
 * Tolerance: |analytic − numeric| ≤ atol + rtol·|numeric| per element, with
 * atol = atolScale · max|numeric| of that input (default 1e-3) plus a small
 * floor. With rtol = 1e-2 a gradient off by 2 % anywhere near the largest
 * entries, or one entry wrong, fails (test/gradcheck.test.ts checks this).
 */
import { AssertionError } from 'node:assert';
import { Tensor } from '../../src/tensor.js';
import { noGrad } from '../../src/autograd/grad-mode.js';
import { fillValues, type FillSpec } from './fill.js';

export interface GradcheckOptions {
  eps?: number;
  rtol?: number;
  /** atol = atolScale · max|numeric gradient| of each input (plus atolFloor). */
  atolScale?: number;
  atolFloor?: number;
  /** Fill spec of the loss weights R (defaults to [1, 0.3, 0.25]: no zero weights). */
  r?: FillSpec;
  /** Check at most this many elements per input (evenly strided); default all. */
  maxElements?: number;
  /** Label for messages. */
  name?: string;
}

export interface GradcheckReport {
  ok: boolean;
  message: string;
  /** Worst error as a multiple of the tolerance, over all checked elements. */
  worstRatio: number;
  checked: number;
}

function cloneLeaf(t: Tensor, buf?: Float32Array): Tensor {
  return new Tensor(buf ?? t.hostView().slice(), t.shape, { dtype: t.dtype, requiresGrad: t.requiresGrad });
}

function weightedSum(out: Float32Array, r: Float32Array): number {
  let s = 0;
  for (let i = 0; i < out.length; i++) s += out[i] * r[i];
  return s;
}

/**
 * Non-throwing check. Inputs with requiresGrad are checked; the others are
 * passed through unchanged (integer targets, masks).
 */
export function checkGradients(fn: (...xs: Tensor[]) => Tensor, inputs: readonly Tensor[], opts: GradcheckOptions = {}): GradcheckReport {
  const eps = opts.eps ?? 1e-2;
  const rtol = opts.rtol ?? 1e-2;
  const atolScale = opts.atolScale ?? 1e-3;
  const atolFloor = opts.atolFloor ?? 1e-5;
  const label = opts.name ? `${opts.name}: ` : '';

  // Analytic gradients.
  const leaves = inputs.map((t) => cloneLeaf(t));
  const out = fn(...leaves);
  if (!out.requiresGrad) return { ok: false, message: `${label}output does not require grad`, worstRatio: Infinity, checked: 0 };
  const r = new Tensor(fillValues(out.numel(), opts.r ?? [1, 0.3, 0.25]), out.shape);
  out.mul(r).sum().backward();
  const rBuf = r.hostView();

  let worstRatio = 0;
  let worstMsg = '';
  let checked = 0;
  for (let j = 0; j < inputs.length; j++) {
    if (!inputs[j].requiresGrad) continue;
    const n = inputs[j].numel();
    const analytic = leaves[j].grad ? leaves[j].grad!.dataSync() : new Float32Array(n);
    if (leaves[j].grad && leaves[j].grad!.numel() !== n) {
      return { ok: false, message: `${label}input ${j}: gradient has ${leaves[j].grad!.numel()} elements, input has ${n}`, worstRatio: Infinity, checked };
    }
    const stride = opts.maxElements && n > opts.maxElements ? Math.ceil(n / opts.maxElements) : 1;
    const idx: number[] = [];
    for (let i = 0; i < n; i += stride) idx.push(i);
    const numeric = new Float64Array(idx.length);
    noGrad(() => {
      idx.forEach((i, k) => {
        const base = inputs[j].hostView();
        const plus = base.slice();
        const minus = base.slice();
        plus[i] = base[i] + eps;
        minus[i] = base[i] - eps;
        const evalAt = (buf: Float32Array): number => {
          const xs = inputs.map((t, m) => (m === j ? new Tensor(buf, t.shape, { dtype: t.dtype }) : cloneLeaf(t)));
          return weightedSum(fn(...xs).hostView(), rBuf);
        };
        numeric[k] = (evalAt(plus) - evalAt(minus)) / (plus[i] - minus[i]);
      });
    });
    let maxN = 0;
    for (const v of numeric) maxN = Math.max(maxN, Math.abs(v));
    const atol = atolScale * maxN + atolFloor;
    idx.forEach((i, k) => {
      const a = analytic[i];
      const nv = numeric[k];
      const err = Math.abs(a - nv);
      const ratio = Number.isFinite(a) ? err / (atol + rtol * Math.abs(nv)) : Infinity;
      checked++;
      if (ratio > worstRatio || Number.isNaN(ratio)) {
        worstRatio = Number.isNaN(ratio) ? Infinity : ratio;
        worstMsg = `input ${j} [${inputs[j].shape.join(',')}] element ${i}: analytic ${a}, numeric ${nv} (|diff| ${err.toExponential(3)}, tol ${(atol + rtol * Math.abs(nv)).toExponential(3)})`;
      }
    });
  }
  const ok = worstRatio <= 1;
  return { ok, worstRatio, checked, message: `${label}${ok ? 'gradients match' : 'gradient mismatch'}; worst ${worstMsg}` };
}

/** Throwing form of checkGradients, for tests. */
export function gradcheck(fn: (...xs: Tensor[]) => Tensor, inputs: readonly Tensor[], opts: GradcheckOptions = {}): GradcheckReport {
  const r = checkGradients(fn, inputs, opts);
  if (!r.ok) throw new AssertionError({ message: r.message, operator: 'gradcheck' });
  if (r.checked === 0) throw new AssertionError({ message: `${opts.name ?? 'gradcheck'}: no input requires grad; nothing was checked`, operator: 'gradcheck' });
  return r;
}
