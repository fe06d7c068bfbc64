/** Shared pieces of the backend-against-reference kernel tests: seeded inputs and layer geometries. */
import type { ActivationOp, Conv2dDesc, Pool2dDesc } from '../../src/backend/kernels.js';
import assert from 'node:assert/strict';
import { rng } from './seeded.js';
import { plainOf } from './host-arrays.js';

/** rand(n, lo, hi): n uniform values; each call draws from the next seed, so tests are repeatable. */
export function seededRand(firstSeed: number): (n: number, lo?: number, hi?: number) => Float32Array {
  let seed = firstSeed;
  return (n, lo = -1, hi = 1) => {
    const r = rng(seed++);
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * r();
    return a;
  };
}

export function convDesc(n: number, c: number, h: number, w: number, oc: number, kh: number, kw: number,
  sh: number, sw: number, ph: number, pw: number, activation?: ActivationOp): Conv2dDesc {
  const oh = Math.floor((h + 2 * ph - kh) / sh) + 1;
  const ow = Math.floor((w + 2 * pw - kw) / sw) + 1;
  return { n, c, h, w, oc, kh, kw, sh, sw, ph, pw, oh, ow, activation };
}

export function poolDesc(kind: 'max' | 'avg', n: number, c: number, h: number, w: number, kh: number, kw: number,
  sh: number, sw: number, ph: number, pw: number, countIncludePad = true): Pool2dDesc {
  const oh = Math.floor((h + 2 * ph - kh) / sh) + 1;
  const ow = Math.floor((w + 2 * pw - kw) / sw) + 1;
  return { kind, n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow, countIncludePad };
}

/**
 * |actual − expected| ≤ rtol·|expected| + atol, where atol = rtol·atolScale·max|expected|
 * covers entries that are sums cancelling to ~0 (their relative error is meaningless).
 */
export function assertClose(got: Float32Array | null, want: Float32Array | null, what: string, rtol = 1e-4, atolScale = 0.01, scale?: number): void {
  if (!got || !want) assert.fail(`${what}: missing output`);
  // Kernels may hand back activations in oneDNN's blocked layout: compare values, row-major.
  const actual: Float32Array = plainOf(got);
  const expected: Float32Array = plainOf(want);
  assert.equal(actual.length, expected.length, `${what}: length`);
  let maxAbs = 0;
  for (const v of expected) if (Number.isFinite(v)) maxAbs = Math.max(maxAbs, Math.abs(v));
  // `scale` overrides the magnitude the absolute floor is taken relative to.
  const atol = rtol * atolScale * (scale ?? Math.max(maxAbs, 1e-3));
  let worst = 0;
  let worstAt = -1;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Number.isNaN(e) || Number.isNaN(a)) {
      assert.ok(Number.isNaN(e) && Number.isNaN(a), `${what}[${i}]: got ${a}, expected ${e}`);
      continue;
    }
    if (!Number.isFinite(e) || !Number.isFinite(a)) {
      assert.equal(a, e, `${what}[${i}]`);
      continue;
    }
    const excess = Math.abs(a - e) / (rtol * Math.abs(e) + atol);
    if (excess > worst) {
      worst = excess;
      worstAt = i;
    }
  }
  if (process.env.TORCHLET_TEST_VERBOSE) console.log(`${what}: worst ${worst.toFixed(3)}× tolerance`);
  assert.ok(worst <= 1, `${what}: [${worstAt}] got ${actual[worstAt]}, expected ${expected[worstAt]} (${worst.toFixed(2)}× the tolerance)`);
}
