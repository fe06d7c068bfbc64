/**
 * The deterministic filler shared with scripts/gen_fixtures.py:
 *
 *   v[i] = shift + scale * sin(0.7 * i + offset)     (float64, flat row-major index i)
 *   if q: v[i] = floor(v[i] * q + 0.5) / q            (quantised, to create ties)
 *   cast to float32
 *
 * Fixtures store only the spec `[scale, offset, shift, q?]`, never the values.
 */
import { Tensor } from '../../src/tensor.js';

export type FillSpec = readonly number[];

export function numelOf(shape: readonly number[]): number {
  return shape.reduce((p, d) => p * d, 1);
}

export function fillValues(n: number, spec: FillSpec): Float32Array {
  const [scale, offset, shift] = spec;
  const q = spec[3] ?? 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let v = shift + scale * Math.sin(0.7 * i + offset);
    if (q) v = Math.floor(v * q + 0.5) / q;
    out[i] = v;
  }
  return out;
}

export function fill(shape: readonly number[], spec: FillSpec, opts: { requiresGrad?: boolean } = {}): Tensor {
  return new Tensor(fillValues(numelOf(shape), spec), shape, { requiresGrad: opts.requiresGrad ?? false });
}

/**
 * Values `base + spacing * perm(i)` where perm is a fixed permutation of 0..n-1:
 * every pair of elements differs by at least `spacing`, so max/min/argmax and
 * max-pool windows have no ties within a finite-difference step.
 */
export function distinct(shape: readonly number[], spacing = 0.1, base?: number, opts: { requiresGrad?: boolean } = {}): Tensor {
  const n = numelOf(shape);
  const buf = new Float32Array(n);
  // 7919 is prime, so i -> (i * 7919 + 3) mod n is a permutation unless n is a multiple of 7919.
  const b = base ?? -spacing * (n - 1) / 2;
  for (let i = 0; i < n; i++) buf[i] = b + spacing * ((i * 7919 + 3) % n);
  return new Tensor(buf, shape, { requiresGrad: opts.requiresGrad ?? false });
}

/** fill(), then push every value within `margin` of a kink (e.g. 0 for relu/abs) out to kink ± margin. */
export function awayFrom(shape: readonly number[], spec: FillSpec, kinks: readonly number[], margin: number, opts: { requiresGrad?: boolean } = {}): Tensor {
  const buf = fillValues(numelOf(shape), spec);
  for (let i = 0; i < buf.length; i++) {
    for (const k of kinks) {
      const d = buf[i] - k;
      if (Math.abs(d) < margin) buf[i] = k + (d >= 0 ? margin : -margin);
    }
  }
  return new Tensor(buf, shape, { requiresGrad: opts.requiresGrad ?? false });
}
