/**
 * assertClose: elementwise |actual - expected| <= atol + rtol * |expected|,
 * failing with the worst offending index (unravelled when a shape is given)
 * and both values.
 *
 * atol defaults to rtol * max|expected|: a relative tolerance scaled to the
 * tensor's magnitude, so elements that are exactly (or nearly) zero in the
 * reference do not demand impossible relative precision.
 */
import { AssertionError } from 'node:assert';
import type { Tensor } from '../../src/tensor.js';

export interface CloseOptions {
  rtol?: number;
  atol?: number;
  /** Shape, for printing the worst index as [i,j,...]. */
  shape?: readonly number[];
  /** What is being compared, for the message. */
  name?: string;
}

export type Numeric = ArrayLike<number | string>;

/** Fixture values may be the strings "nan", "inf", "-inf" (JSON has no NaN). */
export function num(v: number | string): number {
  if (typeof v === 'number') return v;
  if (v === 'nan') return NaN;
  if (v === 'inf') return Infinity;
  if (v === '-inf') return -Infinity;
  return Number(v);
}

function unravel(i: number, shape: readonly number[] | undefined): string {
  if (!shape || shape.length === 0) return `${i}`;
  const idx: number[] = [];
  let r = i;
  for (let d = shape.length - 1; d >= 0; d--) {
    idx.unshift(r % shape[d]);
    r = Math.floor(r / shape[d]);
  }
  return `${i} [${idx.join(',')}]`;
}

export interface CloseReport {
  ok: boolean;
  worst: number;
  worstRatio: number;
  maxAbsErr: number;
  atol: number;
  message: string;
}

export function compareClose(actualIn: Numeric | Tensor, expectedIn: Numeric, opts: CloseOptions = {}): CloseReport {
  const actual: Numeric = isTensorLike(actualIn) ? actualIn.dataSync() : actualIn;
  const expected = Array.from(expectedIn, num);
  const rtol = opts.rtol ?? 1e-4;
  const label = opts.name ? `${opts.name}: ` : '';
  if (actual.length !== expected.length) {
    return { ok: false, worst: -1, worstRatio: Infinity, maxAbsErr: Infinity, atol: 0, message: `${label}length ${actual.length} != expected ${expected.length}` };
  }
  let maxAbs = 0;
  for (const e of expected) if (Number.isFinite(e)) maxAbs = Math.max(maxAbs, Math.abs(e));
  const atol = opts.atol ?? rtol * maxAbs;
  let worst = -1;
  let worstRatio = 0;
  let maxAbsErr = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = num(actual[i]);
    const e = expected[i];
    let ratio: number;
    if (Number.isNaN(e) || !Number.isFinite(e)) ratio = Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e)) ? 0 : Infinity;
    else if (!Number.isFinite(a)) ratio = Infinity;
    else {
      const err = Math.abs(a - e);
      maxAbsErr = Math.max(maxAbsErr, err);
      const tol = atol + rtol * Math.abs(e);
      ratio = tol > 0 ? err / tol : err > 0 ? Infinity : 0;
    }
    if (ratio > worstRatio || (worst < 0 && ratio > 1)) {
      worstRatio = ratio;
      worst = i;
    }
  }
  const ok = worstRatio <= 1;
  const message = ok
    ? `${label}ok (worst ${worstRatio.toFixed(3)} of tolerance)`
    : `${label}not close at index ${unravel(worst, opts.shape)}: actual ${num(actual[worst])}, expected ${expected[worst]} ` +
      `(|diff| ${Math.abs(num(actual[worst]) - expected[worst]).toExponential(3)} > atol ${atol.toExponential(3)} + rtol ${rtol} * |expected|; ` +
      `${countBad(actual, expected, atol, rtol)} of ${expected.length} elements out of tolerance)`;
  return { ok, worst, worstRatio, maxAbsErr, atol, message };
}

function countBad(actual: Numeric, expected: number[], atol: number, rtol: number): number {
  let n = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = num(actual[i]);
    const e = expected[i];
    if (!Number.isFinite(e)) {
      if (!(Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e)))) n++;
    } else if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) n++;
  }
  return n;
}

function isTensorLike(x: unknown): x is Tensor {
  return typeof x === 'object' && x !== null && typeof (x as Tensor).dataSync === 'function';
}

export function assertClose(actual: Numeric | Tensor, expected: Numeric, opts: CloseOptions = {}): void {
  const r = compareClose(actual, expected, opts);
  if (!r.ok) throw new AssertionError({ message: r.message, actual: r.worst >= 0 ? num((isTensorLike(actual) ? actual.dataSync() : actual)[r.worst]) : undefined, expected: r.worst >= 0 ? num(expected[r.worst]) : undefined, operator: 'assertClose' });
}

export function assertShape(t: Tensor, shape: readonly number[], name = 'tensor'): void {
  const ok = t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i]);
  if (!ok) throw new AssertionError({ message: `${name}: shape [${t.shape.join(',')}] != expected [${shape.join(',')}]`, actual: [...t.shape], expected: [...shape], operator: 'assertShape' });
}
