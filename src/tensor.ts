/**
 * Tensor: an n-d float32 array (contiguous, row-major) with reverse-mode
 * autograd. Every op returns a new tensor; reshape-like views share storage.
 *
 * The methods here are thin: the math of each op, forward and gradient, lives
 * in src/ops/<family>.ts and the kernels in src/backend/<backend>/.
 */
import { isGradEnabled, noGrad } from './autograd/grad-mode.js';
import { runBackward, type GradFn } from './autograd/engine.js';
import { formatTensor } from './format.js';
import { numel, shapeStr, type Shape } from './shape.js';
import { plainOf, rawOf } from './backend/layout.js';
import * as ew from './ops/elementwise.js';
import * as red from './ops/reduce.js';
import * as mv from './ops/movement.js';
import * as mm from './ops/matmul.js';

export type DType = 'float32' | 'int32';
export type Scalar = number;
export type TensorLike = Tensor | number;

export class Tensor {
  readonly shape: readonly number[];
  readonly dtype: DType;
  requiresGrad: boolean;
  grad: Tensor | null = null;
  /** The op that produced this tensor, when it was recorded for autograd. */
  gradFn: GradFn | null = null;
  /** Storage: float32 even for int32 tensors (class labels are exact below 2^24). */
  private buf: Float32Array;

  constructor(buf: Float32Array, shape: Shape, opts: { dtype?: DType; requiresGrad?: boolean } = {}) {
    const n = numel(shape);
    if (buf.length !== n) throw new Error(`Tensor: data has ${buf.length} elements but shape ${shapeStr(shape)} needs ${n}`);
    this.buf = buf;
    this.shape = Object.freeze([...shape]);
    this.dtype = opts.dtype ?? 'float32';
    this.requiresGrad = opts.requiresGrad ?? false;
    if (this.requiresGrad && this.dtype !== 'float32') throw new Error('Tensor: only float32 tensors can require gradients');
  }

  /** A leaf is a tensor the user created (not produced by a recorded op). */
  get isLeaf(): boolean {
    return this.gradFn === null;
  }

  get ndim(): number {
    return this.shape.length;
  }

  dim(): number {
    return this.shape.length;
  }

  numel(): number {
    return this.buf.length;
  }

  size(dim?: number): number | readonly number[] {
    if (dim === undefined) return this.shape;
    return this.shape[dim < 0 ? dim + this.shape.length : dim];
  }

  // ---------- storage access (for kernels and trusted library code) ----------

  /**
   * The backing buffer, row-major, without copying. Library-internal: mutate only through
   * in-place ops. A buffer a backend left in its own layout (see backend/layout.ts) is
   * converted here, once, and the tensor keeps the row-major copy.
   */
  get storage(): Float32Array {
    const plain = plainOf(this.buf);
    if (plain !== this.buf) this.buf = plain;
    return this.buf;
  }

  /**
   * The backing buffer as it is, possibly in a backend's own layout: only for ops whose
   * kernels check `layoutOf` (convolution, pooling, activations, channel concat).
   */
  get rawStorage(): Float32Array {
    const raw = rawOf(this.buf);
    if (raw !== this.buf) this.buf = raw;
    return this.buf;
  }

  /** Replace the backing buffer (used for module buffers like BatchNorm running stats and loadStateDict). */
  setStorage(buf: Float32Array): void {
    if (buf.length !== this.buf.length) throw new Error(`setStorage: expected ${this.buf.length} elements, got ${buf.length}`);
    this.buf = buf;
  }

  // ---------- reading values ----------

  /** A copy of the values. Async because GPU backends read back asynchronously. */
  async data(): Promise<Float32Array> {
    return this.dataSync();
  }

  /** Synchronous copy of the values; valid on CPU backends. */
  dataSync(): Float32Array {
    return this.storage.slice();
  }

  async item(): Promise<number> {
    return this.itemSync();
  }

  itemSync(): number {
    if (this.buf.length !== 1) throw new Error(`item(): tensor has ${this.buf.length} elements (shape ${shapeStr(this.shape)}); only one-element tensors can be converted to a number`);
    return this.storage[0];
  }

  /** Nested arrays, like torch's tolist(). */
  async tolist(): Promise<unknown> {
    const data = await this.data();
    const build = (dim: number, offset: number): unknown => {
      if (dim === this.shape.length) return data[offset];
      const stride = numel(this.shape.slice(dim + 1));
      return Array.from({ length: this.shape[dim] }, (_, i) => build(dim + 1, offset + i * stride));
    };
    return build(0, 0);
  }

  toString(): string {
    return formatTensor(this);
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }

  // ---------- autograd ----------

  /**
   * Accumulate d(this)/d(leaf) into every leaf's .grad. The graph's saved
   * buffers are released afterwards, as PyTorch does without retain_graph.
   */
  backward(gradient?: Tensor): void {
    if (!this.requiresGrad) throw new Error('backward(): this tensor does not require grad and has no grad_fn');
    let seed = gradient;
    if (!seed) {
      if (this.numel() !== 1) throw new Error(`backward(): grad can be implicitly created only for scalar outputs; got shape ${shapeStr(this.shape)}`);
      seed = new Tensor(new Float32Array([1]), this.shape);
    }
    runBackward(this, seed);
  }

  /** A tensor sharing storage but cut from the graph. */
  detach(): Tensor {
    return new Tensor(this.buf, this.shape, { dtype: this.dtype });
  }

  requiresGrad_(on = true): this {
    if (!this.isLeaf) throw new Error('requiresGrad_(): only leaf tensors can change requires_grad');
    this.requiresGrad = on;
    return this;
  }

  clone(): Tensor {
    return ew.unaryOp('clone', this);
  }

  // ---------- in-place (no autograd) ----------

  zero_(): this {
    this.storage.fill(0);
    return this;
  }

  fill_(value: number): this {
    this.storage.fill(value);
    return this;
  }

  copy_(src: Tensor): this {
    if (src.numel() !== this.numel()) throw new Error(`copy_(): source has shape ${shapeStr(src.shape)}, destination ${shapeStr(this.shape)}`);
    this.storage.set(src.storage);
    return this;
  }

  // ---------- elementwise ----------
  add(other: TensorLike): Tensor { return ew.binaryOp('add', this, other); }
  sub(other: TensorLike): Tensor { return ew.binaryOp('sub', this, other); }
  mul(other: TensorLike): Tensor { return ew.binaryOp('mul', this, other); }
  div(other: TensorLike): Tensor { return ew.binaryOp('div', this, other); }
  pow(exponent: TensorLike): Tensor { return ew.binaryOp('pow', this, exponent); }
  maximum(other: TensorLike): Tensor { return ew.binaryOp('maximum', this, other); }
  minimum(other: TensorLike): Tensor { return ew.binaryOp('minimum', this, other); }
  eq(other: TensorLike): Tensor { return ew.binaryOp('eq', this, other); }
  ne(other: TensorLike): Tensor { return ew.binaryOp('ne', this, other); }
  lt(other: TensorLike): Tensor { return ew.binaryOp('lt', this, other); }
  le(other: TensorLike): Tensor { return ew.binaryOp('le', this, other); }
  gt(other: TensorLike): Tensor { return ew.binaryOp('gt', this, other); }
  ge(other: TensorLike): Tensor { return ew.binaryOp('ge', this, other); }
  neg(): Tensor { return ew.unaryOp('neg', this); }
  exp(): Tensor { return ew.unaryOp('exp', this); }
  log(): Tensor { return ew.unaryOp('log', this); }
  sqrt(): Tensor { return ew.unaryOp('sqrt', this); }
  abs(): Tensor { return ew.unaryOp('abs', this); }
  sigmoid(): Tensor { return ew.unaryOp('sigmoid', this); }
  relu(): Tensor { return ew.unaryOp('relu', this); }
  tanh(): Tensor { return ew.unaryOp('tanh', this); }
  square(): Tensor { return ew.unaryOp('square', this); }
  reciprocal(): Tensor { return ew.unaryOp('reciprocal', this); }
  sign(): Tensor { return ew.unaryOp('sign', this); }
  clamp(min: number | null, max: number | null = null): Tensor { return ew.clamp(this, min ?? -Infinity, max ?? Infinity); }

  // ---------- reductions ----------
  sum(dim?: number | readonly number[], keepdim = false): Tensor { return red.sum(this, dim, keepdim); }
  mean(dim?: number | readonly number[], keepdim = false): Tensor { return red.mean(this, dim, keepdim); }
  max(dim?: number, keepdim = false): Tensor { return red.amax(this, dim, keepdim); }
  min(dim?: number, keepdim = false): Tensor { return red.amin(this, dim, keepdim); }
  argmax(dim?: number, keepdim = false): Tensor { return red.argmax(this, dim, keepdim); }
  var(dim?: number | readonly number[], opts: { correction?: number; unbiased?: boolean; keepdim?: boolean } = {}): Tensor {
    return red.variance(this, dim, opts);
  }

  // ---------- linear algebra ----------
  matmul(other: Tensor): Tensor { return mm.matmul(this, other); }

  // ---------- shape ----------
  reshape(...shape: number[] | [readonly number[]]): Tensor { return mv.reshape(this, flatArgs(shape)); }
  view(...shape: number[] | [readonly number[]]): Tensor { return mv.reshape(this, flatArgs(shape)); }
  flatten(startDim = 0, endDim = -1): Tensor { return mv.flatten(this, startDim, endDim); }
  transpose(dim0: number, dim1: number): Tensor { return mv.transpose(this, dim0, dim1); }
  get T(): Tensor { return mv.permute(this, [...this.shape.keys()].reverse()); }
  permute(...dims: number[] | [readonly number[]]): Tensor { return mv.permute(this, flatArgs(dims)); }
  squeeze(dim?: number): Tensor { return mv.squeeze(this, dim); }
  unsqueeze(dim: number): Tensor { return mv.unsqueeze(this, dim); }
  expand(...shape: number[] | [readonly number[]]): Tensor { return mv.expand(this, flatArgs(shape)); }
  /** Elements [start, end) along dim (Python's x[:, start:end] for dim 1). */
  slice(dim: number, start: number, end?: number): Tensor { return mv.slice(this, dim, start, end); }
  narrow(dim: number, start: number, length: number): Tensor { return mv.slice(this, dim, start, start + length); }
  /** Element i along dim 0, dropping that dim (x[i]). */
  index(i: number): Tensor { return mv.select(this, 0, i); }
  select(dim: number, i: number): Tensor { return mv.select(this, dim, i); }

  // ---------- dtype ----------
  float(): Tensor { return this.dtype === 'float32' ? this : new Tensor(this.buf, this.shape); }
  int(): Tensor {
    return noGrad(() => new Tensor(Float32Array.from(this.storage, Math.trunc), this.shape, { dtype: 'int32' }));
  }
  /** Device moves are no-ops for CPU backends; kept so code reads like PyTorch. */
  to(_device: string): Tensor { return this; }
}

function flatArgs(args: number[] | [readonly number[]]): number[] {
  return args.length === 1 && Array.isArray(args[0]) ? [...(args[0] as readonly number[])] : (args as number[]);
}

/** Build the result tensor of an op and, when recording, attach its gradient function. */
export function fromOp(buf: Float32Array, shape: Shape, inputs: readonly Tensor[], name: string, backward: (grad: Tensor) => ReadonlyArray<Tensor | null>): Tensor {
  const needsGrad = isGradEnabled() && inputs.some((t) => t.requiresGrad);
  const out = new Tensor(buf, shape, { requiresGrad: needsGrad });
  if (needsGrad) out.gradFn = { name, inputs, backward };
  return out;
}

export function isTensor(x: unknown): x is Tensor {
  return x instanceof Tensor;
}
