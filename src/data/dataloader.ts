/**
 * DataLoader over an in-memory uint8 image dataset, in the spirit of
 * torch.utils.data.DataLoader, plus d2l's `load_data_fashion_mnist`.
 *
 *   const [trainIter, testIter] = await loadDataFashionMNIST(256, { resize: 224 });
 *   for await (const [X, y] of trainIter) { ... }   // X: [B, 1, 224, 224] float32, y: [B] int32
 *
 * Batches are built (resize -> ToTensor -> normalize) in worker threads with
 * `prefetch` batches kept in flight, or in the main thread when `workers` is 0;
 * both paths produce bit-identical batches. Shuffling is deterministic in
 * (seed, epoch): each `for await` over the loader is a new epoch.
 */
import { Tensor } from '../tensor.js';
import { markTransient } from '../memory.js';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { makeBatchFiller, type BatchSource, type WorkerRequest, type WorkerResponse } from './batch.js';
import { validateImageDataset, type ImageDataset } from './dataset.js';
import { FashionMNIST, type FashionMNISTLoadOptions } from './fashion-mnist.js';
import { permutation } from './random.js';
import { pipelineOutputShape, type TransformSpec } from './transforms.js';
import { Compose, transformSpecOf } from './vision-transforms.js';
import type { AugmentStep } from './augment.js';

// ---------------------------------------------------------------------------
// What the loader yields. `toBatch` is the single place raw buffers become batch
// objects; switch it to produce torchlet Tensors when the tensor core is ready.
// ---------------------------------------------------------------------------

/** Images of a batch: float32 tensor [B, C, H, W]. */
export type BatchX = Tensor;

/** Labels of a batch: int32 class-index tensor [B]. */
export type BatchY = Tensor;

export type Batch = [BatchX, BatchY];

/** Convert raw batch buffers into the yielded `[X, y]` tensors (labels are exact in float32 storage). */
export function toBatch(x: Float32Array, xShape: number[], y: Int32Array): Batch {
  // Fresh tensors per batch, so fit() and evaluate() may release them when done.
  return [markTransient(new Tensor(x, xShape)), markTransient(new Tensor(Float32Array.from(y), [y.length], { dtype: 'int32' }))];
}

// ---------------------------------------------------------------------------

export interface DataLoaderOptions {
  /** Samples per batch (default 1). */
  batchSize?: number;
  /** Reshuffle every epoch (default false, like torch). */
  shuffle?: boolean;
  /** Seed of the shuffle; the epoch index is mixed in (default 0). */
  seed?: number;
  /** Drop the last incomplete batch (default false). */
  dropLast?: boolean;
  /** Worker threads building batches; 0 builds them in the main thread (default 0). */
  workers?: number;
  /** Batches kept in flight when using workers (default max(2, 2 * workers)). */
  prefetch?: number;
  /** Per-image pipeline: Resize? -> ToTensor -> Normalize?. */
  /** The per-image pipeline: a spec, or torchvision-style transforms (new Compose([...])). */
  transform?: TransformSpec | Compose;
}

const sharedImages = new WeakMap<ImageDataset, Uint8Array>();

/** The dataset's pixels in a SharedArrayBuffer (copied once per dataset), so workers need no copy. */
function sharedImagesOf(ds: ImageDataset): Uint8Array {
  if (typeof SharedArrayBuffer !== 'undefined' && ds.images.buffer instanceof SharedArrayBuffer) return ds.images;
  let shared = sharedImages.get(ds);
  if (!shared) {
    shared = new Uint8Array(new SharedArrayBuffer(ds.images.byteLength));
    shared.set(ds.images);
    sharedImages.set(ds, shared);
  }
  return shared;
}

interface Task {
  resolve: (x: Float32Array) => void;
  reject: (err: Error) => void;
  worker: number;
}

/** A fixed set of loader workers sharing one dataset. */
class WorkerPool {
  private readonly workers: Worker[] = [];
  private readonly load: number[] = [];
  private readonly tasks = new Map<number, Task>();
  private nextId = 1;
  private failure: Error | null = null;
  private refs = 0;
  private closed = false;

  constructor(count: number, source: BatchSource) {
    const url = new URL('./loader-worker.js', import.meta.url);
    for (let w = 0; w < count; w++) {
      const worker = new Worker(url, { workerData: source, name: `torchlet-dataloader-${w}` });
      worker.on('message', (msg: WorkerResponse) => this.onMessage(msg));
      worker.on('error', (err) => this.fail(new Error(`DataLoader worker ${w} crashed: ${err instanceof Error ? err.message : String(err)}`)));
      worker.on('exit', (code) => {
        if (!this.closed) this.fail(new Error(`DataLoader worker ${w} exited unexpectedly (code ${code})`));
      });
      worker.unref();
      this.workers.push(worker);
      this.load.push(0);
    }
  }

  private onMessage(msg: WorkerResponse): void {
    const task = this.tasks.get(msg.id);
    if (!task) return;
    this.tasks.delete(msg.id);
    this.load[task.worker]--;
    if (msg.type === 'batch') task.resolve(msg.x);
    else {
      const err = new Error(`DataLoader worker: ${msg.message}`);
      if (msg.stack) err.stack = msg.stack;
      task.reject(err);
    }
  }

  private fail(err: Error): void {
    if (!this.failure) this.failure = err;
    for (const task of this.tasks.values()) task.reject(err);
    this.tasks.clear();
  }

  /** Build the batch of `indices` of `epoch` on the least-loaded worker. */
  run(indices: Int32Array, epoch: number): Promise<Float32Array> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new Error('DataLoader: worker pool is closed'));
    let w = 0;
    for (let i = 1; i < this.workers.length; i++) if (this.load[i] < this.load[w]) w = i;
    const id = this.nextId++;
    return new Promise<Float32Array>((resolve, reject) => {
      this.tasks.set(id, { resolve, reject, worker: w });
      this.load[w]++;
      const req: WorkerRequest = { type: 'batch', id, indices, epoch };
      this.workers[w].postMessage(req, [indices.buffer as ArrayBuffer]);
    });
  }

  /** Keep the process alive while an epoch is being iterated; idle pools do not. */
  ref(): void {
    if (this.refs++ === 0) for (const w of this.workers) w.ref();
  }

  unref(): void {
    if (--this.refs === 0) for (const w of this.workers) w.unref();
  }

  get broken(): boolean {
    return this.failure !== null;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.fail(new Error('DataLoader: closed'));
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** Iterates an ImageDataset in batches: `for await (const [X, y] of loader)`. */
export class DataLoader implements AsyncIterable<Batch> {
  readonly dataset: ImageDataset;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropLast: boolean;
  readonly workers: number;
  readonly prefetch: number;
  readonly transform: TransformSpec;
  /** Index of the epoch the next iteration will produce (incremented when one starts). */
  epoch = 0;
  private pool: WorkerPool | null = null;
  private mainFiller: ReturnType<typeof makeBatchFiller> | null = null;

  constructor(dataset: ImageDataset, options: DataLoaderOptions = {}) {
    validateImageDataset(dataset);
    const batchSize = options.batchSize ?? 1;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`DataLoader: batchSize must be a positive integer, got ${batchSize}`);
    const workers = options.workers ?? 0;
    if (!Number.isInteger(workers) || workers < 0) throw new Error(`DataLoader: workers must be a non-negative integer, got ${workers}`);
    const prefetch = options.prefetch ?? Math.max(2, 2 * workers);
    if (!Number.isInteger(prefetch) || prefetch < 1) throw new Error(`DataLoader: prefetch must be a positive integer, got ${prefetch}`);
    this.dataset = dataset;
    this.batchSize = batchSize;
    this.shuffle = options.shuffle ?? false;
    this.seed = options.seed ?? 0;
    this.dropLast = options.dropLast ?? false;
    this.workers = workers;
    this.prefetch = prefetch;
    this.transform = transformSpecOf(options.transform);
    // Fail early on a bad transform spec (e.g. mismatched normalize lengths).
    makeBatchFiller({ ...this.sourceMeta(), images: new Uint8Array(0) });
  }

  /** Number of batches per epoch (Python's `len(loader)`). */
  get length(): number {
    const n = this.dataset.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** Shape of one sample as yielded: [C, H, W]. */
  get sampleShape(): [number, number, number] {
    const { height, width, channels } = this.dataset;
    return pipelineOutputShape(this.transform, height, width, channels);
  }

  private sourceMeta(): Omit<BatchSource, 'images'> {
    const { height, width, channels } = this.dataset;
    return { height, width, channels, transform: this.transform, seed: this.seed };
  }

  /** Sample indices of each batch of `epoch`, in order. */
  batchIndices(epoch: number): Int32Array[] {
    const n = this.dataset.length;
    let order: Int32Array;
    if (this.shuffle) order = permutation(n, this.seed, epoch);
    else {
      order = new Int32Array(n);
      for (let i = 0; i < n; i++) order[i] = i;
    }
    const out: Int32Array[] = [];
    for (let b = 0; b < this.length; b++) out.push(order.slice(b * this.batchSize, Math.min(n, (b + 1) * this.batchSize)));
    return out;
  }

  /** Each `for await` runs the next epoch (reshuffled when `shuffle`). */
  [Symbol.asyncIterator](): AsyncIterator<Batch> {
    return this.iterEpoch(this.epoch++);
  }

  /** Iterate a specific epoch (does not advance `epoch`). */
  async *iterEpoch(epoch: number): AsyncGenerator<Batch, void, undefined> {
    const batches = this.batchIndices(epoch);
    const [c, h, w] = this.sampleShape;
    const labels = this.dataset.labels;
    const labelsOf = (idx: Int32Array): Int32Array => {
      const y = new Int32Array(idx.length);
      for (let i = 0; i < idx.length; i++) y[i] = labels[idx[i]];
      return y;
    };

    if (this.workers === 0) {
      if (!this.mainFiller) this.mainFiller = makeBatchFiller({ ...this.sourceMeta(), images: this.dataset.images });
      for (const idx of batches) {
        const x = this.mainFiller.fill(idx, epoch);
        yield toBatch(x, [idx.length, c, h, w], labelsOf(idx));
      }
      return;
    }

    if (!this.pool || this.pool.broken) {
      if (this.pool) await this.pool.close();
      this.pool = new WorkerPool(this.workers, { ...this.sourceMeta(), images: sharedImagesOf(this.dataset) });
    }
    const pool = this.pool;
    pool.ref();
    const inflight: Array<{ x: Promise<Float32Array>; y: Int32Array; n: number }> = [];
    let next = 0;
    const submit = (): void => {
      const idx = batches[next++];
      const y = labelsOf(idx); // before the indices are transferred away
      const x = pool.run(idx, epoch);
      x.catch(() => undefined); // abandoned batches (early break) must not be unhandled rejections
      inflight.push({ x, y, n: y.length });
    };
    try {
      while (next < batches.length && inflight.length < this.prefetch) submit();
      while (inflight.length > 0) {
        const head = inflight.shift()!;
        const x = await head.x;
        // Top up before handing the batch out, so workers keep going while the consumer trains.
        while (next < batches.length && inflight.length < this.prefetch) submit();
        yield toBatch(x, [head.n, c, h, w], head.y);
      }
    } finally {
      pool.unref();
    }
  }

  /** Terminate the worker threads (they are also unref'd while idle, so this is optional). */
  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = null;
    if (pool) await pool.close();
  }
}

// ---------------------------------------------------------------------------
// d2l: load_data_fashion_mnist(batch_size, resize=None)
// ---------------------------------------------------------------------------

/** Mean / std of the Fashion-MNIST training pixels in [0, 1] (measured: 0.28604, 0.35302). */
export const FASHION_MNIST_MEAN = 0.2860;
export const FASHION_MNIST_STD = 0.3530;

export interface LoadDataFashionMNISTOptions extends Omit<FashionMNISTLoadOptions, 'train'> {
  /** Resize images to size x size (torchvision Resize(size) on the PIL image, as d2l does). */
  resize?: number;
  /** Shuffle seed of the training iterator (default 0). */
  seed?: number;
  /** Worker threads per iterator (default: with resize, min(4, cores - 1) but at least 1; without, 0). */
  workers?: number;
  /** Batches in flight per iterator (default max(2, 2 * workers)). */
  prefetch?: number;
  /** Normalize after ToTensor: true uses FASHION_MNIST_MEAN/STD (d2l itself does not normalize). */
  normalize?: boolean | { mean: readonly number[]; std: readonly number[] };
  /** Drop the last incomplete training batch (default false, like d2l). */
  dropLast?: boolean;
  /**
   * Random augmentation of the training images (never the test ones), after the resize:
   * new Compose([new RandomCrop(28, { padding: 4 }), new RandomHorizontalFlip()]) or its steps.
   */
  augment?: Compose | readonly AugmentStep[];
}

/** Default worker count for an image size: none for 28x28, some for upscaled images. */
export function defaultLoaderWorkers(resize?: number): number {
  if (!resize || resize === 28) return 0;
  return Math.max(1, Math.min(4, availableParallelism() - 1));
}

/**
 * d2l's `load_data_fashion_mnist(batch_size, resize)`: `[trainIter, testIter]`, the
 * training iterator shuffled (reproducibly, by `seed` and epoch), the test one in order.
 */
export async function loadDataFashionMNIST(batchSize: number, options: LoadDataFashionMNISTOptions = {}): Promise<[DataLoader, DataLoader]> {
  // Sequential: the first call downloads all four files when needed, the second then finds them.
  const train = await FashionMNIST.load({ ...options, train: true });
  const test = await FashionMNIST.load({ ...options, train: false });
  const transform: TransformSpec = {};
  if (options.resize !== undefined) transform.resize = [options.resize, options.resize];
  if (options.normalize === true) transform.normalize = { mean: [FASHION_MNIST_MEAN], std: [FASHION_MNIST_STD] };
  else if (options.normalize) transform.normalize = options.normalize;
  const workers = options.workers ?? defaultLoaderWorkers(options.resize);
  const common = { batchSize, workers, prefetch: options.prefetch, transform };
  const steps = options.augment instanceof Compose ? options.augment.spec.augment ?? [] : options.augment ?? [];
  if (options.augment instanceof Compose && (options.augment.spec.resize !== undefined || options.augment.spec.normalize)) {
    throw new Error('loadDataFashionMNIST: augment holds only the random transforms; give resize and normalize as their own options');
  }
  const trainTransform: TransformSpec = steps.length ? { ...transform, augment: [...steps] } : transform;
  const trainIter = new DataLoader(train, { ...common, transform: trainTransform, shuffle: true, seed: options.seed ?? 0, dropLast: options.dropLast ?? false });
  const testIter = new DataLoader(test, { ...common, shuffle: false });
  return [trainIter, testIter];
}
