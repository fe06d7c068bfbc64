/**
 * Tensor: an n-d float32 array (row-major, NCHW for images) on a device, with
 * reverse-mode autograd. Every op returns a new tensor; reshape-like views
 * share storage.
 *
 * A tensor holds a Storage record (backend/storage.ts) owned by the backend of
 * its device. Values are read asynchronously (`await t.data()`), because a GPU
 * reads back asynchronously; host tensors also offer `dataSync()`.
 *
 * The op methods (add, conv, reshape, …) are installed by tensor-methods.ts,
 * so this file imports no op: the math of each op, forward and gradient,
 * lives in src/ops/<family>.ts and the kernels in src/backend/<backend>/.
 */
import { isGradEnabled, noGrad } from './autograd/grad-mode.js';
import { runBackward, type GradFn } from './autograd/engine.js';
import { formatTensor } from './format.js';
import { numel, shapeStr, type Shape } from './shape.js';
import { Storage } from './backend/storage.js';
import { backendFor, kernelsFor } from './backend/registry.js';
import { CPU, device as toDevice, type Device, type DeviceLike } from './device.js';
import { trackTensor } from './memory.js';
import { recordOp, tracingOn } from './ops/trace.js';

export type DType = 'float32' | 'int32';
export type Scalar = number;
export type TensorLike = Tensor | number;

export interface TensorOptions {
  dtype?: DType;
  requiresGrad?: boolean;
  /** Where the values go; a Float32Array given for another device is uploaded there. */
  device?: DeviceLike;
}

export class Tensor {
  readonly shape: readonly number[];
  readonly dtype: DType;
  requiresGrad: boolean;
  grad: Tensor | null = null;
  /** The op that produced this tensor, when it was recorded for autograd. */
  gradFn: GradFn | null = null;
  /** Values: float32 even for int32 tensors (class labels are exact below 2^24). */
  /** @internal */
  store: Storage;
  private disposedFlag = false;

  /**
   * From a Storage (what ops do) or from host values. A Float32Array for the cpu
   * device is used as it is, not copied; the tensor then shares it with the caller.
   */
  constructor(data: Float32Array | Storage, shape: Shape, opts: TensorOptions = {}) {
    const n = numel(shape);
    const store = data instanceof Storage ? data : hostValues(data, opts.device);
    if (store.numel !== n) throw new Error(`Tensor: data has ${store.numel} elements but shape ${shapeStr(shape)} needs ${n}`);
    this.store = store;
    store.retain();
    this.shape = Object.freeze([...shape]);
    this.dtype = opts.dtype ?? 'float32';
    this.requiresGrad = opts.requiresGrad ?? false;
    if (this.requiresGrad && this.dtype !== 'float32') throw new Error('Tensor: only float32 tensors can require gradients');
    trackTensor(this);
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
    return this.store.numel;
  }

  /** torch's size(): the whole shape, or one dim's extent (negative dims count from the end). */
  size(): readonly number[];
  size(dim: number): number;
  size(dim?: number): number | readonly number[] {
    if (dim === undefined) return this.shape;
    return this.shape[dim < 0 ? dim + this.shape.length : dim];
  }

  /** The device the values live on (torch's tensor.device). */
  get device(): Device {
    return this.store.backend.device;
  }

  // ---------- storage (for ops, kernels and trusted library code) ----------

  /** The storage record: buffer, layout, owner. Library-internal: kernels read it, ops pass it on. */
  get storage(): Storage {
    if (this.disposedFlag) throw new Error(`tensor ${shapeStr(this.shape)}: used after dispose() (or after the tidy() scope that made it ended); keep() it or return it from the scope`);
    return this.store;
  }

  /**
   * Point this tensor at other values of the same size, on its device (module buffers such
   * as BatchNorm's running statistics are updated this way). The storage is shared, not copied.
   */
  setStorage(s: Storage): void {
    if (s.numel !== this.store.numel) throw new Error(`setStorage: expected ${this.store.numel} elements, got ${s.numel}`);
    if (s.backend.device !== this.device) throw new Error(`setStorage: values are on ${s.backend.device}, tensor is on ${this.device}`);
    if (s === this.store) return;
    s.retain();
    this.store.release();
    this.store = s;
  }

  // ---------- lifetime ----------

  /** Release this tensor's hold on its values now (tfjs's dispose); views keep theirs. */
  dispose(): void {
    if (this.disposedFlag) return;
    this.disposedFlag = true;
    this.store.release();
  }

  get isDisposed(): boolean {
    return this.disposedFlag;
  }

  // ---------- reading values ----------

  /** A copy of the values, row-major. Async because GPU backends read back asynchronously. */
  async data(): Promise<Float32Array> {
    const b = this.storage.backend;
    b.flush?.();
    return b.download(this.store);
  }

  /** Synchronous copy of the values; only where the host can read the device's memory (cpu). */
  dataSync(): Float32Array {
    return this.hostView('dataSync()').slice();
  }

  async item(): Promise<number> {
    this.checkOne('item()');
    return (await this.data())[0];
  }

  itemSync(): number {
    this.checkOne('item()');
    return this.hostView('itemSync()')[0];
  }

  private checkOne(what: string): void {
    if (this.numel() !== 1) throw new Error(`${what}: tensor has ${this.numel()} elements (shape ${shapeStr(this.shape)}); only one-element tensors can be converted to a number`);
  }

  /**
   * The values without a copy, for library code that reads host tensors at once (formatting,
   * metrics, saving). Throws on a device the host cannot read synchronously.
   */
  hostView(what = 'reading values synchronously'): Float32Array {
    const s = this.storage;
    const read = s.backend.readSync;
    if (!read) throw new Error(`${what}: tensor is on ${this.device}, which is read asynchronously; use \`await t.data()\` or \`await t.item()\``);
    return read.call(s.backend, s);
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
    if (gradient) {
      runBackward(this, gradient);
      return;
    }
    if (this.numel() !== 1) throw new Error(`backward(): grad can be implicitly created only for scalar outputs; got shape ${shapeStr(this.shape)}`);
    runBackward(this, new Tensor(new Float32Array([1]), this.shape, { device: this.device }), true);
  }

  /** A tensor sharing storage but cut from the graph. */
  detach(): Tensor {
    const out = new Tensor(this.storage, this.shape, { dtype: this.dtype });
    // Traced graphs see through detach (it is the identity on values).
    if (tracingOn()) recordOp('detach', [this], out);
    return out;
  }

  requiresGrad_(on = true): this {
    if (!this.isLeaf) throw new Error('requiresGrad_(): only leaf tensors can change requires_grad');
    this.requiresGrad = on;
    return this;
  }

  // ---------- in-place (no autograd) ----------

  zero_(): this {
    return this.fill_(0);
  }

  fill_(value: number): this {
    kernelsFor(this.device).fillInplace(this.storage, value);
    return this;
  }

  /** Copy src's values in (from any device; same number of elements). */
  copy_(src: Tensor): this {
    if (src.numel() !== this.numel()) throw new Error(`copy_(): source has shape ${shapeStr(src.shape)}, destination ${shapeStr(this.shape)}`);
    const from = src.device === this.device ? src : noGrad(() => src.to(this.device));
    kernelsFor(this.device).copyInplace(this.storage, from.storage);
    if (from !== src) from.dispose();
    return this;
  }

}

/** The storage for host values given to the constructor: borrowed as is on cpu, uploaded elsewhere. */
function hostValues(values: Float32Array, where: DeviceLike | undefined): Storage {
  if (!(values instanceof Float32Array)) throw new TypeError('Tensor: data must be a Float32Array or a Storage');
  const b = backendFor(where === undefined ? CPU : toDevice(where));
  if (!b.hostMemory) return b.upload(values);
  return new Storage(b, values as never, values.length, null, { pooled: false });
}

/** Build the result tensor of an op and, when recording, attach its gradient function. */
export function fromOp(buf: Storage, shape: Shape, inputs: readonly Tensor[], name: string, backward: (grad: Tensor, gradIsSpare: boolean) => ReadonlyArray<Tensor | null>): Tensor {
  const needsGrad = isGradEnabled() && inputs.some((t) => t.requiresGrad);
  const out = new Tensor(buf, shape, { requiresGrad: needsGrad });
  if (needsGrad) out.gradFn = { name, inputs, backward };
  return out;
}

export function isTensor(x: unknown): x is Tensor {
  return x instanceof Tensor;
}
