/**
 * Elementwise closeness with a relative tolerance and a per-tensor absolute
 * floor: |a - e| <= rtol * |e| + rtol * max|e|. The floor keeps elements that
 * are (nearly) zero in the reference from demanding impossible precision when
 * float32 summation order differs between implementations.
 */
export interface CloseStats {
  name: string;
  n: number;
  maxAbsErr: number;
  maxAbsExpected: number;
  /** maxAbsErr / max|expected|: the error relative to the tensor's scale. */
  relErr: number;
  /** max over elements of |a - e| / tolerance; <= 1 passes. */
  worstRatio: number;
  worstIndex: number;
  worstActual: number;
  worstExpected: number;
}

export function closeStats(name: string, actual: ArrayLike<number>, expected: ArrayLike<number>, rtol = 1e-4): CloseStats {
  if (actual.length !== expected.length) throw new Error(`${name}: ${actual.length} elements, expected ${expected.length}`);
  let maxAbsExpected = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = Math.abs(expected[i]);
    if (Number.isFinite(e) && e > maxAbsExpected) maxAbsExpected = e;
  }
  const atol = rtol * maxAbsExpected;
  const s: CloseStats = { name, n: actual.length, maxAbsErr: 0, maxAbsExpected, relErr: 0, worstRatio: 0, worstIndex: -1, worstActual: NaN, worstExpected: NaN };
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    let ratio: number;
    if (!Number.isFinite(e) || !Number.isFinite(a)) {
      ratio = Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e)) ? 0 : Infinity;
    } else {
      const err = Math.abs(a - e);
      if (err > s.maxAbsErr) s.maxAbsErr = err;
      const tol = atol + rtol * Math.abs(e);
      ratio = tol > 0 ? err / tol : err > 0 ? Infinity : 0;
    }
    if (ratio > s.worstRatio || s.worstIndex < 0) {
      s.worstRatio = ratio;
      s.worstIndex = i;
      s.worstActual = a;
      s.worstExpected = e;
    }
  }
  s.relErr = maxAbsExpected > 0 ? s.maxAbsErr / maxAbsExpected : s.maxAbsErr;
  return s;
}

export function describeStats(s: CloseStats): string {
  return `${s.name}: worst element ${s.worstIndex} is ${s.worstActual}, expected ${s.worstExpected} ` +
    `(${s.worstRatio.toFixed(3)}× the tolerance; max abs err ${s.maxAbsErr.toExponential(3)}, max|expected| ${s.maxAbsExpected.toExponential(3)})`;
}
