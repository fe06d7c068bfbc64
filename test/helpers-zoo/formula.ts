/**
 * The deterministic weight formula shared with scripts/torch_zoo.py
 * (hash_uniform / scale_offset / fill_formula): both sides compute the very
 * same float32 bits, so a zoo network can be given identical weights and
 * inputs in torchlet and PyTorch without shipping them.
 *
 * hashUniform(n, seed)[i] is a float64 in [-1, 1) from a uint32 integer hash of
 * (i, seed); each value is u * scale + offset in float64, rounded once to float32.
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

/** out[i] = float32(hashUniform(i, seed) * scale + offset). */
export function formulaValues(n: number, seed: number, scale: number, offset = 0, out: Float32Array = new Float32Array(n)): Float32Array {
  const s = seedMix(seed);
  for (let i = 0; i < n; i++) {
    let h = (Math.imul(i, 0x9e3779b1) + s) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
    h = Math.imul(h, 0x45d9f3b) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
    h = Math.imul(h, 0x45d9f3b) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
    out[i] = ((h / 4294967296) * 2 - 1) * scale + offset;
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
    formulaValues(t.numel(), k, scale, offset, t.storage);
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

/** [sum v, sum v * (i % 997 + 1)] in float64, as zoo_parity.py's fingerprint. */
export function fingerprint(t: Tensor): [number, number] {
  const v = t.storage;
  let a = 0;
  let b = 0;
  for (let i = 0; i < v.length; i++) {
    a += v[i];
    b += v[i] * ((i % 997) + 1);
  }
  return [a, b];
}
