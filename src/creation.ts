/** Tensor factories (torch.tensor, zeros, ones, full, rand, randn, randint, arange). */
import { Tensor, type DType } from './tensor.js';
import type { DeviceLike } from './device.js';
import { defaultGenerator, type Generator } from './random.js';
import { numel, shapeStr } from './shape.js';

export interface CreateOptions {
  dtype?: DType;
  requiresGrad?: boolean;
  /** Where to create it (default cpu); values are made on the host and uploaded. */
  device?: DeviceLike;
}

type Nested = number | readonly Nested[];

function inferShape(data: Nested): number[] {
  const shape: number[] = [];
  let cur: Nested = data;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    cur = cur[0] as Nested;
  }
  return shape;
}

function flattenInto(data: Nested, shape: readonly number[], dim: number, out: number[], path: string): void {
  if (dim === shape.length) {
    if (typeof data !== 'number') throw new Error(`tensor(): expected a number at ${path || 'top level'}`);
    out.push(data);
    return;
  }
  if (!Array.isArray(data) || data.length !== shape[dim]) {
    throw new Error(`tensor(): ragged nested array at ${path || 'top level'}: expected ${shape[dim]} elements`);
  }
  data.forEach((d: Nested, i: number) => flattenInto(d, shape, dim + 1, out, `${path}[${i}]`));
}

/** torch.tensor: from a number, a nested array or a typed array (with a shape). */
export function tensor(data: Nested | Float32Array | Int32Array | Uint8Array, opts: CreateOptions & { shape?: readonly number[] } = {}): Tensor {
  if (ArrayBuffer.isView(data)) {
    const shape = opts.shape ?? [data.length];
    const buf = data instanceof Float32Array ? data : Float32Array.from(data);
    return new Tensor(buf, shape, opts);
  }
  const shape = inferShape(data);
  const flat: number[] = [];
  flattenInto(data, shape, 0, flat, '');
  return new Tensor(Float32Array.from(flat), shape, opts);
}

/** The most values one tensor may hold (8 GiB of float32): larger arrays are not addressable here. */
export const MAX_NUMEL = 2 ** 31 - 1;

function shapeArg(shape: readonly number[], op: string): readonly number[] {
  shape.forEach((d) => {
    if (!Number.isInteger(d) || d < 0) throw new Error(`${op}: invalid shape ${shapeStr(shape)}`);
  });
  const n = numel(shape);
  if (n > MAX_NUMEL) {
    throw new Error(`${op}: shape ${shapeStr(shape)} has ${n.toExponential(2)} elements, more than one tensor can hold (${MAX_NUMEL}, 8 GiB of float32); use a smaller shape`);
  }
  return shape;
}

export function full(shape: readonly number[], value: number, opts: CreateOptions = {}): Tensor {
  return new Tensor(new Float32Array(numel(shapeArg(shape, 'full'))).fill(value), shape, opts);
}

export function zeros(shape: readonly number[], opts: CreateOptions = {}): Tensor {
  return full(shape, 0, opts);
}

export function ones(shape: readonly number[], opts: CreateOptions = {}): Tensor {
  return full(shape, 1, opts);
}

export function zerosLike(t: Tensor, opts: CreateOptions = {}): Tensor {
  return zeros(t.shape, { dtype: t.dtype, device: t.device, ...opts });
}

export function onesLike(t: Tensor, opts: CreateOptions = {}): Tensor {
  return ones(t.shape, { dtype: t.dtype, device: t.device, ...opts });
}

export interface RandomOptions extends CreateOptions {
  generator?: Generator;
}

/** Uniform on [0, 1). */
export function rand(shape: readonly number[], opts: RandomOptions = {}): Tensor {
  const g = opts.generator ?? defaultGenerator;
  const buf = new Float32Array(numel(shapeArg(shape, 'rand')));
  for (let i = 0; i < buf.length; i++) buf[i] = g.uniform();
  return new Tensor(buf, shape, opts);
}

/** Standard normal. */
export function randn(shape: readonly number[], opts: RandomOptions = {}): Tensor {
  const g = opts.generator ?? defaultGenerator;
  const buf = new Float32Array(numel(shapeArg(shape, 'randn')));
  for (let i = 0; i < buf.length; i++) buf[i] = g.normal();
  return new Tensor(buf, shape, opts);
}

/** Integers in [low, high), as int32. */
export function randint(low: number, high: number, shape: readonly number[], opts: RandomOptions = {}): Tensor {
  if (!(high > low)) throw new Error(`randint: high (${high}) must be greater than low (${low})`);
  const g = opts.generator ?? defaultGenerator;
  const buf = new Float32Array(numel(shapeArg(shape, 'randint')));
  for (let i = 0; i < buf.length; i++) buf[i] = g.int(low, high);
  return new Tensor(buf, shape, { dtype: 'int32', device: opts.device });
}

/** arange(end) or arange(start, end, step). */
export function arange(startOrEnd: number, end?: number, step = 1, opts: CreateOptions = {}): Tensor {
  const start = end === undefined ? 0 : startOrEnd;
  const stop = end === undefined ? startOrEnd : end;
  if (step === 0) throw new Error('arange: step must be non-zero');
  const n = Math.max(0, Math.ceil((stop - start) / step));
  const buf = new Float32Array(n);
  for (let i = 0; i < n; i++) buf[i] = start + i * step;
  const allInt = [start, stop, step].every(Number.isInteger);
  return new Tensor(buf, [n], { dtype: opts.dtype ?? (allInt ? 'int32' : 'float32'), requiresGrad: opts.requiresGrad, device: opts.device });
}
