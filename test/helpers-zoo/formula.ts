/**
 * The deterministic weight formula shared with scripts/torch_zoo.py
 * (hash_uniform / scale_offset / fill_formula): both sides compute the very
 * same float32 bits, so a zoo network can be given identical weights and
 * inputs in torchlet and PyTorch without shipping them.
 *
 * formulaValues(n, seed, scale, offset)[i] = float32((h - 2^31) * (scale / 2^31) + offset)
 * where h is a uint32 hash of (i, seed): Math.imul here and uint32 wraparound in
 * numpy give the same h, and the rest is three float64 operations and one
 * rounding to float32, so both sides produce identical bits.
 */
import { Tensor } from '../../src/tensor.js';
import type { Module } from '../../src/nn/module.js';
import { Dropout } from '../../src/nn/layers/misc.js';

export const SEED_INPUT = 1_000_003;
export const SEED_R = 1_000_033;

function seedMix(seed: number): number {
  // (seed * 0x85EBCA77) mod 2^32, exactly (seed < 2^21 keeps the product below 2^53).
  return Number((BigInt(seed) * 0x85ebca77n) % 4294967296n);
}

/** n formula values (into `out` when given). */
export function formulaValues(n: number, seed: number, scale: number, offset = 0, out: Float32Array = new Float32Array(n)): Float32Array {
  const s = seedMix(seed);
  const step = scale / 2147483648;
  for (let i = 0; i < n; i++) {
    let h = (Math.imul(i, 0x9e3779b1) + s) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
    h = Math.imul(h, 0x45d9f3b) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
    h = Math.imul(h, 0x45d9f3b) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
    out[i] = (h - 2147483648) * step + offset;
  }
  return out;
}

/** Per-tensor scale and offset from the state_dict key and shape (torch_zoo.scale_offset). */
export function scaleOffset(key: string, shape: readonly number[]): [number, number] {
  const leaf = key.slice(key.lastIndexOf('.') + 1);
  if (leaf === 'running_var' || leaf === 'moving_var') return [0.5, 1];
  if (leaf === 'running_mean' || leaf === 'moving_mean') return [0.1, 0];
  if (leaf === 'gamma' || (leaf === 'weight' && shape.length === 1)) return [0.25, 1];
  if (leaf === 'beta' || leaf === 'bias') return [0.1, 0];
  const fanIn = shape.length > 1 ? shape.slice(1).reduce((p, d) => p * d, 1) : shape[0];
  return [Math.sqrt(6 / fanIn), 0];
}

/** Overwrite every float parameter and buffer: the k-th state_dict entry from seed k + 1. */
export function fillFormula(model: Module): void {
  let k = 0;
  for (const [key, t] of model.stateDict()) {
    k++;
    if (t.dtype !== 'float32') continue;
    const [scale, offset] = scaleOffset(key, t.shape);
    formulaValues(t.numel(), k, scale, offset, t.hostView());
  }
}

export function formulaTensor(shape: readonly number[], seed: number): Tensor {
  const n = shape.reduce((p, d) => p * d, 1);
  return new Tensor(formulaValues(n, seed, 1), shape);
}

/** Put every Dropout in eval mode (identity), leaving everything else (BatchNorm included) as it is. */
export function disableDropout(model: Module): void {
  for (const m of model.modules()) if (m instanceof Dropout) m.training = false;
}

/** [float64 sum, then 16 values sampled at floor(j * n / 16)], as zoo_parity.py's fingerprint. */
export function fingerprint(t: Tensor): number[] {
  const v = t.hostView();
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i];
  const n = v.length;
  return [sum, ...Array.from({ length: 16 }, (_, j) => v[Math.floor((j * n) / 16)])];
}
