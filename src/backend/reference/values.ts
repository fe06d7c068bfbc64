/** Writing values: copies, fills and the dropout mask's counter-based random draws. */
import type { Buf, RowMajorKernels } from '../kernels.js';

function copyInplace(dst: Buf, src: Buf): void {
  dst.set(src);
}

function fillInplace(dst: Buf, value: number): void {
  dst.fill(value);
}

/**
 * A uniform draw in [0, 1) for counter i under seed: two rounds of a 32-bit
 * integer hash (the "lowbias32" mixer), so any backend, a GPU shader included,
 * draws the same value for the same (seed, i) with no generator state.
 */
export function counterUniform(seed: number, i: number): number {
  let x = (Math.imul(i, 0x9e3779b9) ^ seed) >>> 0;
  for (let round = 0; round < 2; round++) {
    x ^= x >>> 16;
    x = Math.imul(x, 0x7feb352d);
    x ^= x >>> 15;
    x = Math.imul(x, 0x846ca68b);
    x ^= x >>> 16;
    x = (x + seed) >>> 0;
  }
  return (x >>> 8) / 16777216;
}

function dropoutMask(n: number, p: number, seed: number): Buf {
  const keep = 1 / (1 - p);
  const mask = new Float32Array(n);
  for (let i = 0; i < n; i++) mask[i] = counterUniform(seed, i) >= p ? keep : 0;
  return mask;
}

export const valueKernels: Pick<RowMajorKernels, 'copyInplace' | 'fillInplace' | 'dropoutMask'> = { copyInplace, fillInplace, dropoutMask };
