/**
 * The kernel contract every backend implements.
 *
 * Kernels are pure compute: they take plain descriptors and storages and return
 * new storages. They know nothing about autograd, broadcasting rules or
 * tensors — the op layer in `src/ops/` owns those, so a gradient is written
 * once for every backend. Inputs are never mutated unless the kernel name ends
 * in `Inplace`.
 *
 * `Kernels<S>` is generic over what a buffer is. The reference kernels are
 * written on plain row-major `Float32Array`s (`RowMajorKernels`); a backend's
 * table takes `Storage` records, which carry the buffer and its layout, so a
 * backend may keep values in its own layout between its kernels (the cpu
 * backend's channel-blocked activations) and convert only where it must.
 *
 * A backend whose memory is host memory may leave kernels out: the registry
 * fills them from `reference`. A device backend (GPU) must implement every one.
 */
import type { Device } from '../device.js';
import type { DeviceMemory } from './memory.js';
import type { Storage } from './storage.js';

/** A row-major host buffer, what the reference kernels work on. */
export type Buf = Float32Array;

export type UnaryOp =
  | 'neg' | 'exp' | 'log' | 'sqrt' | 'abs' | 'sigmoid' | 'relu' | 'tanh'
  | 'sign' | 'reciprocal' | 'square' | 'trunc';

/** Activations whose backward oneDNN (and we) compute from the forward output or input. */
export type ActivationOp = 'relu' | 'sigmoid' | 'tanh';

export type BinaryOp =
  | 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum'
  | 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge';

export type ReduceOp = 'sum' | 'max' | 'min';

/** Geometry of a 2-D convolution; all fields are plain integers. */
export interface Conv2dDesc {
  n: number; c: number; h: number; w: number;
  oc: number; kh: number; kw: number;
  sh: number; sw: number; ph: number; pw: number;
  oh: number; ow: number;
  /** Fused activation applied after bias (forward only); backends may ignore it only if they also apply it. */
  activation?: ActivationOp;
}

export interface Pool2dDesc {
  kind: 'max' | 'avg';
  n: number; c: number; h: number; w: number;
  kh: number; kw: number; sh: number; sw: number; ph: number; pw: number;
  oh: number; ow: number;
  /** avg only: divide by the full window (PyTorch's default) or by the in-bounds part. */
  countIncludePad: boolean;
}

/** x is viewed as [n, c, spatial]; statistics are per channel c. */
export interface BatchNormDesc {
  n: number; c: number; spatial: number; eps: number;
  /** Applied to the normalised output in the same kernel (Sequential fuses BatchNorm + ReLU/Sigmoid/Tanh). */
  activation?: ActivationOp;
}

export interface MatmulDesc {
  /** number of independent [m,k]x[k,n] products stored back to back */
  batch: number;
  m: number; k: number; n: number;
  /** a is stored [k,m] instead of [m,k] */
  transA: boolean;
  /** b is stored [n,k] instead of [k,n] */
  transB: boolean;
}

export interface SgdDesc { lr: number; momentum: number; dampening: number; weightDecay: number; nesterov: boolean; maximize?: boolean }
export interface AdamDesc { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; decoupled: boolean; step: number }

export interface Kernels<S> {
  // ---- elementwise (ops/elementwise.ts) ----
  unary(op: UnaryOp, x: S): S;
  /** dx for an activation, given its input x, its output y and the incoming gradient dy. */
  activationBackward(op: ActivationOp, x: S, y: S, dy: S): S;
  /**
   * The same, written over dy: for a gradient nobody else reads (autograd says when), so a
   * backward pass needs no second activation-sized buffer. Optional; ops fall back to the above.
   */
  activationBackwardInPlace?(op: ActivationOp, x: S, y: S, dy: S): void;
  /**
   * a += b, elementwise over same-shaped values: autograd sums a second gradient into one it made
   * and nobody else reads, so accumulating needs no new buffer. Optional; autograd falls back to binary add.
   */
  addInPlace?(a: S, b: S): void;
  /** out = a ∘ b with numpy broadcasting; shapes already padded to the same rank. */
  binary(op: BinaryOp, a: S, aShape: readonly number[], b: S, bShape: readonly number[], outShape: readonly number[]): S;
  /** out = cond != 0 ? a : b, all three already broadcast to outShape's size. */
  where(cond: S, a: S, b: S): S;
  clamp(x: S, min: number, max: number): S;
  /** y = x * scale + shift (scalar affine; used for lr-scaled updates and normalisation). */
  affine(x: S, scale: number, shift: number): S;

  // ---- reductions (ops/reduce.ts) ----
  /** Reduce x (shape `shape`) over `axes`; the output keeps reduced dims as size 1. */
  reduce(op: ReduceOp, x: S, shape: readonly number[], axes: readonly number[]): S;
  /** Index of the max along `axis` (first on ties); output keeps the axis as size 1. */
  argmax(x: S, shape: readonly number[], axis: number): S;

  // ---- data movement (ops/movement.ts) ----
  permute(x: S, shape: readonly number[], perm: readonly number[]): S;
  /** Concatenate along an axis; the tensors are viewed as [outer, dim_i, inner]. */
  concat(parts: readonly S[], dims: readonly number[], outer: number, inner: number): S;
  /** Take [start, start+len) along an axis of x viewed as [outer, dim, inner]. */
  slice(x: S, outer: number, dim: number, inner: number, start: number, len: number): S;
  /** Repeat x (viewed as [outer, 1 or dim, inner]) to the broadcast shape outShape. */
  expand(x: S, shape: readonly number[], outShape: readonly number[]): S;

  // ---- linear algebra (ops/matmul.ts) ----
  matmul(a: S, b: S, desc: MatmulDesc): S;

  // ---- convolution (ops/conv.ts) ----
  conv2d(x: S, w: S, bias: S | null, d: Conv2dDesc): S;
  conv2dBackwardData(dy: S, w: S, d: Conv2dDesc): S;
  /** Returns dW and, when withBias, db. */
  conv2dBackwardWeight(x: S, dy: S, d: Conv2dDesc, withBias: boolean): { dw: S; db: S | null };
  /**
   * Conv2d + activation (d.activation) + the 2x2 stride-2 average pool p in one pass over each image:
   * the activation's output y (kept for the backward) and the pooled output, where the layers one by
   * one wrote y and read it back to pool. Optional, and may decline a shape (null): Sequential's
   * fused node then runs conv2d and pool2d.
   */
  conv2dAvgPool?(x: S, w: S, bias: S | null, d: Conv2dDesc, p: Pool2dDesc): { y: S; pooled: S } | null;
  /**
   * The weight (and, when withBias, bias) gradient of conv2dAvgPool's pooled output from its gradient
   * dPooled, through the activation (from its output y), making the convolution's output gradient per
   * image instead of writing it out: for a first layer, whose x needs no gradient. Optional; null
   * declines (then avgPoolActivationBackward and conv2dBackwardWeight).
   */
  conv2dAvgPoolBackwardWeight?(x: S, y: S, dPooled: S, d: Conv2dDesc, p: Pool2dDesc, withBias: boolean): { dw: S; db: S | null } | null;

  // ---- pooling (ops/pool.ts) ----
  pool2d(x: S, d: Pool2dDesc): S;
  pool2dBackward(x: S, y: S, dy: S, d: Pool2dDesc): S;
  /**
   * The gradient of an average pool (d.kind 'avg') whose input y is an activation's output, taken
   * through the activation too: act'(y) ⊙ pool2dBackward(dy), in one pass over y instead of a pass
   * to write the pool's dx and another to read it back (Sequential fuses Conv2d + activation +
   * AvgPool2d). Optional; the op falls back to the two kernels.
   */
  avgPoolActivationBackward?(op: ActivationOp, y: S, dy: S, d: Pool2dDesc): S;
  /**
   * The same for a max pool (d.kind 'max') of an activation's output y, from the pool's output
   * `pooled` (whose argmax it scatters to) and its gradient dy: act'(y) ⊙ pool2dBackward(dy) in one
   * pass (Sequential fuses Conv2d + activation + MaxPool2d, AlexNet's). Optional; null declines
   * (then the two kernels).
   */
  maxPoolActivationBackward?(op: ActivationOp, y: S, pooled: S, dy: S, d: Pool2dDesc): S | null;

  // ---- normalisation (ops/batchnorm.ts) ----
  /** Training mode: normalise with batch statistics; returns y, batch mean and biased batch variance. */
  batchNormTrain(x: S, gamma: S, beta: S, d: BatchNormDesc): { y: S; mean: S; variance: S };
  batchNormInference(x: S, gamma: S, beta: S, mean: S, variance: S, d: BatchNormDesc): S;
  /**
   * Backward of batchNormTrain (batch statistics depend on x). With d.activation, dy is the
   * gradient of the activated output y, which must be given.
   */
  batchNormBackward(x: S, dy: S, gamma: S, mean: S, variance: S, d: BatchNormDesc, y?: S): { dx: S; dgamma: S; dbeta: S };
  /**
   * batchNormTrain with its activation (d.activation), then the 2x2 stride-2 average pool p of its
   * output, in one pass over each plane: y (kept for the backward), the pooled output and the
   * batch statistics, where the layers one by one wrote y and read it back to pool. Optional, and
   * may decline (null): Sequential's fused node then runs batchNormTrain and pool2d.
   */
  batchNormAvgPoolTrain?(x: S, gamma: S, beta: S, d: BatchNormDesc, p: Pool2dDesc): { y: S; pooled: S; mean: S; variance: S } | null;
  /**
   * batchNormBackward of batchNormAvgPoolTrain's pooled output, from its gradient dPooled: the
   * pool's and activation's gradients made per plane inside the batch norm's passes, never
   * written out. Optional; null declines (then pool2dBackward and batchNormBackward).
   */
  batchNormAvgPoolBackward?(x: S, dPooled: S, gamma: S, mean: S, variance: S, d: BatchNormDesc, y: S, p: Pool2dDesc): { dx: S; dgamma: S; dbeta: S } | null;

  // ---- softmax / losses (ops/softmax.ts) ----
  /** log-softmax over the last axis of x viewed as [rows, cols]. */
  logSoftmax(x: S, rows: number, cols: number): S;
  logSoftmaxBackward(y: S, dy: S, rows: number, cols: number): S;
  softmax(x: S, rows: number, cols: number): S;
  softmaxBackward(y: S, dy: S, rows: number, cols: number): S;
  /** Per-row -logp[row, target[row]]; targets are class indices stored as floats. */
  nllLoss(logp: S, target: S, rows: number, cols: number): S;
  nllLossBackward(dloss: S, target: S, rows: number, cols: number): S;

  // ---- optimisers (optim/) — update param (and state) in place ----
  sgdStepInplace(param: S, grad: S, momentumBuf: S | null, d: SgdDesc): void;
  adamStepInplace(param: S, grad: S, m: S, v: S, d: AdamDesc): void;

  // ---- values (tensor creation, init, loadStateDict, optimiser state) ----
  /** Copy src's values into dst (same numel), in place. */
  copyInplace(dst: S, src: S): void;
  /** Set every value of dst, in place. */
  fillInplace(dst: S, value: number): void;
  /**
   * A dropout mask of n values: 1/(1-p) where a counter-based uniform draw for (seed, i) is ≥ p,
   * else 0. Counter-based so every backend draws the same mask for the same seed.
   */
  dropoutMask(n: number, p: number, seed: number): S;
}

export type KernelName = keyof Kernels<unknown>;

export const KERNEL_NAMES: readonly KernelName[] = [
  'unary', 'activationBackward', 'binary', 'where', 'clamp', 'affine', 'reduce', 'argmax', 'permute', 'concat', 'slice',
  'expand', 'matmul', 'conv2d', 'conv2dBackwardData', 'conv2dBackwardWeight', 'pool2d', 'pool2dBackward', 'batchNormTrain',
  'batchNormInference', 'batchNormBackward', 'logSoftmax', 'logSoftmaxBackward', 'softmax', 'softmaxBackward', 'nllLoss',
  'nllLossBackward', 'sgdStepInplace', 'adamStepInplace', 'copyInplace', 'fillInplace', 'dropoutMask',
] satisfies readonly KernelName[];

/** The reference kernels' form: plain row-major Float32Arrays in and out. */
export type RowMajorKernels = Kernels<Float32Array>;

/**
 * A backend: kernels plus the memory they work in. `B` is its buffer type.
 */
export interface Backend<B = unknown> {
  readonly name: string;
  /** The device whose tensors this backend computes on. */
  readonly device: Device;
  /** Human-readable description, e.g. "cpu (oneDNN 2.6, 2 threads)". */
  describe(): string;
  /**
   * True when buffers are host Float32Arrays: such a backend may borrow reference
   * kernels for what it lacks. A device backend must implement every kernel.
   */
  readonly hostMemory: boolean;
  /** The device's pool and counters; backends on one device share it. */
  readonly memory: DeviceMemory<B>;
  readonly kernels: Partial<Kernels<Storage<B>>>;
  /** A new storage holding a copy of these row-major values. */
  upload(values: Float32Array): Storage<B>;
  /** The values, row-major, in a new array. Async: a GPU reads back asynchronously. */
  download(s: Storage<B>): Promise<Float32Array>;
  /** The values, row-major, without waiting; only where the host can read the memory synchronously. */
  readSync?(s: Storage<B>): Float32Array;
  /** Submit queued work (a GPU backend batches commands). */
  flush?(): void;
  /**
   * Resolve once few enough submits are still running on the device that the host is not
   * racing ahead of it (a GPU backend keeps about two steps in flight).
   */
  settle?(): Promise<void>;
  /** Resolve once everything submitted so far has run. */
  finish?(): Promise<void>;
  /** Set the number of compute threads, where the backend is multi-threaded. */
  setNumThreads?(n: number): void;
}
