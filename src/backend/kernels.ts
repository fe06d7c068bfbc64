/**
 * The kernel contract every backend implements.
 *
 * Kernels are pure compute: they take plain descriptors and flat, contiguous,
 * row-major float32 buffers (NCHW for images) and return new buffers. They know
 * nothing about autograd, broadcasting rules or tensors — the op layer in
 * `src/ops/` owns those, so a gradient is written once for every backend.
 *
 * A backend may implement any subset; missing kernels fall back to
 * `reference` (see registry.ts), which is why CPU backends share one storage
 * type. Inputs are never mutated unless the kernel name ends in `Inplace`.
 *
 * One exception to "row-major": the kernels in RAW_INPUT_KERNELS may be handed a
 * buffer a backend left in its own layout (backend/layout.ts). A backend lists
 * the ones it handles in `layoutAware`; for every other implementation the
 * registry converts such inputs to row-major first.
 */
export type Buf = Float32Array;

export type UnaryOp =
  | 'neg' | 'exp' | 'log' | 'sqrt' | 'abs' | 'sigmoid' | 'relu' | 'tanh'
  | 'sign' | 'reciprocal' | 'square';

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

export interface Kernels {
  // ---- elementwise (ops/elementwise.ts) ----
  unary(op: UnaryOp, x: Buf): Buf;
  /** dx for an activation, given its input x, its output y and the incoming gradient dy. */
  activationBackward(op: ActivationOp, x: Buf, y: Buf, dy: Buf): Buf;
  /** out = a ∘ b with numpy broadcasting; shapes already padded to the same rank. */
  binary(op: BinaryOp, a: Buf, aShape: readonly number[], b: Buf, bShape: readonly number[], outShape: readonly number[]): Buf;
  /** out = cond != 0 ? a : b, all three already broadcast to outShape's size. */
  where(cond: Buf, a: Buf, b: Buf): Buf;
  clamp(x: Buf, min: number, max: number): Buf;
  /** y = x * scale + shift (scalar affine; used for lr-scaled updates and normalisation). */
  affine(x: Buf, scale: number, shift: number): Buf;

  // ---- reductions (ops/reduce.ts) ----
  /** Reduce x (shape `shape`) over `axes`; the output keeps reduced dims as size 1. */
  reduce(op: ReduceOp, x: Buf, shape: readonly number[], axes: readonly number[]): Buf;
  /** Index of the max along `axis` (first on ties); output keeps the axis as size 1. */
  argmax(x: Buf, shape: readonly number[], axis: number): Buf;

  // ---- data movement (ops/movement.ts) ----
  permute(x: Buf, shape: readonly number[], perm: readonly number[]): Buf;
  /** Concatenate along an axis; the tensors are viewed as [outer, dim_i, inner]. */
  concat(parts: readonly Buf[], dims: readonly number[], outer: number, inner: number): Buf;
  /** Take [start, start+len) along an axis of x viewed as [outer, dim, inner]. */
  slice(x: Buf, outer: number, dim: number, inner: number, start: number, len: number): Buf;
  /** Repeat x (viewed as [outer, 1 or dim, inner]) to the broadcast shape outShape. */
  expand(x: Buf, shape: readonly number[], outShape: readonly number[]): Buf;

  // ---- linear algebra (ops/matmul.ts) ----
  matmul(a: Buf, b: Buf, desc: MatmulDesc): Buf;

  // ---- convolution (ops/conv.ts) ----
  conv2d(x: Buf, w: Buf, bias: Buf | null, d: Conv2dDesc): Buf;
  conv2dBackwardData(dy: Buf, w: Buf, d: Conv2dDesc): Buf;
  /** Returns dW and, when withBias, db. */
  conv2dBackwardWeight(x: Buf, dy: Buf, d: Conv2dDesc, withBias: boolean): { dw: Buf; db: Buf | null };

  // ---- pooling (ops/pool.ts) ----
  pool2d(x: Buf, d: Pool2dDesc): Buf;
  pool2dBackward(x: Buf, y: Buf, dy: Buf, d: Pool2dDesc): Buf;

  // ---- normalisation (ops/batchnorm.ts) ----
  /** Training mode: normalise with batch statistics; returns y, batch mean and biased batch variance. */
  batchNormTrain(x: Buf, gamma: Buf, beta: Buf, d: BatchNormDesc): { y: Buf; mean: Buf; variance: Buf };
  batchNormInference(x: Buf, gamma: Buf, beta: Buf, mean: Buf, variance: Buf, d: BatchNormDesc): Buf;
  /**
   * Backward of batchNormTrain (batch statistics depend on x). With d.activation, dy is the
   * gradient of the activated output y, which must be given.
   */
  batchNormBackward(x: Buf, dy: Buf, gamma: Buf, mean: Buf, variance: Buf, d: BatchNormDesc, y?: Buf): { dx: Buf; dgamma: Buf; dbeta: Buf };

  // ---- softmax / losses (ops/softmax.ts) ----
  /** log-softmax over the last axis of x viewed as [rows, cols]. */
  logSoftmax(x: Buf, rows: number, cols: number): Buf;
  logSoftmaxBackward(y: Buf, dy: Buf, rows: number, cols: number): Buf;
  softmax(x: Buf, rows: number, cols: number): Buf;
  softmaxBackward(y: Buf, dy: Buf, rows: number, cols: number): Buf;
  /** Per-row -logp[row, target[row]]; targets are class indices stored as floats. */
  nllLoss(logp: Buf, target: Buf, rows: number, cols: number): Buf;
  nllLossBackward(dloss: Buf, target: Buf, rows: number, cols: number): Buf;

  // ---- optimisers (optim/) — update param (and state) in place ----
  sgdStepInplace(param: Buf, grad: Buf, momentumBuf: Buf | null, d: SgdDesc): void;
  adamStepInplace(param: Buf, grad: Buf, m: Buf, v: Buf, d: AdamDesc): void;
}

export type KernelName = keyof Kernels;

/** Kernels whose buffer inputs may arrive in a backend's own layout (ops pass Tensor.rawStorage). */
export const RAW_INPUT_KERNELS: ReadonlySet<KernelName> = new Set<KernelName>([
  'unary', 'activationBackward', 'binary', 'conv2d', 'conv2dBackwardData', 'conv2dBackwardWeight',
  'pool2d', 'pool2dBackward', 'concat', 'slice',
]);

export interface Backend {
  readonly name: string;
  /** Human-readable device description, e.g. "cpu (oneDNN 2.6, 2 threads)". */
  describe(): string;
  readonly kernels: Partial<Kernels>;
  /** Set the number of compute threads, where the backend is multi-threaded. */
  setNumThreads?(n: number): void;
  /** The RAW_INPUT_KERNELS this backend's own kernels accept in its own layouts. */
  readonly layoutAware?: ReadonlySet<KernelName>;
}
