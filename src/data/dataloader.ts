/**
 * DataLoader over an in-memory uint8 image dataset, in the spirit of
 * torch.utils.data.DataLoader. It runs anywhere (pages and workers too);
 * d2l's `load_data_fashion_mnist`, which reads files, is in load-data.ts.
 *
 *   const loader = new DataLoader(dataset, { batchSize: 256, shuffle: true });
 *   for await (const [X, y] of loader) { ... }   // X: [B, C, H, W] float32, y: [B] int32
 *
 * Batches are built (resize -> ToTensor -> normalize) in the calling thread
 * when `workers` is 0, or in worker threads with `prefetch` batches kept in
 * flight where a platform provides them (Node's worker-pool.ts); both paths
 * produce bit-identical batches. Shuffling is deterministic in (seed, epoch):
 * each `for await` over the loader is a new epoch.
 */
import { Tensor } from '../tensor.js';
import { markTransient } from '../memory.js';
import { hostMemory } from '../backend/host.js';
import { Storage } from '../backend/storage.js';
import { backendFor } from '../backend/registry.js';
import { CPU } from '../device.js';
import { makeBatchFiller, type BatchSource } from './batch.js';
import { validateImageDataset, type ImageDataset } from './dataset.js';
import { permutation } from './random.js';
import { pipelineOutputShape, type TransformSpec } from './transforms.js';
import { Compose, transformSpecOf } from './vision-transforms.js';

// ---------------------------------------------------------------------------
// What the loader yields. `toBatch` is the single place raw buffers become batch
// objects; switch it to produce torchlet Tensors when the tensor core is ready.
// ---------------------------------------------------------------------------

/** Images of a batch: float32 tensor [B, C, H, W]. */
export type BatchX = Tensor;

/** Labels of a batch: int32 class-index tensor [B]. */
export type BatchY = Tensor;

export type Batch = [BatchX, BatchY];

const pooledHostBuffer = (n: number): Float32Array => hostMemory.alloc(n);

/** Convert raw batch buffers into the yielded `[X, y]` tensors (labels are exact in float32 storage). */
export function toBatch(x: Float32Array, xShape: number[], y: Int32Array, fromPool = false): Batch {
  // Fresh tensors per batch, so fit() and evaluate() may release them when done; a buffer
  // from the host pool goes back to it then (a borrowed one is left to its owner).
  const images = fromPool ? new Tensor(new Storage(backendFor(CPU), x, x.length), xShape) : new Tensor(x, xShape);
  return [markTransient(images), markTransient(new Tensor(Float32Array.from(y), [y.length], { dtype: 'int32' }))];
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

/** Builds batches off the calling thread: what a DataLoader with workers > 0 hands its index lists to. */
export interface LoaderPool {
  /** The float32 batch [indices.length, C, H, W] of `indices` in `epoch` (the indices may be transferred away). */
  run(indices: Int32Array, epoch: number): Promise<Float32Array>;
  /** Keep the host alive while an epoch is being iterated; idle pools do not. */
  ref(): void;
  unref(): void;
  readonly broken: boolean;
  close(): Promise<void>;
}

type LoaderPoolFactory = (workers: number, source: BatchSource) => LoaderPool;
let poolFactory: LoaderPoolFactory | null = null;

/** Installed by the Node entry (worker threads); a platform without one runs loaders with workers: 0. */
export function setLoaderPoolFactory(factory: LoaderPoolFactory): void {
  poolFactory = factory;
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
  private pool: LoaderPool | null = null;
  private mainFiller: ReturnType<typeof makeBatchFiller> | null = null;

  constructor(dataset: ImageDataset, options: DataLoaderOptions = {}) {
    validateImageDataset(dataset);
    const batchSize = options.batchSize ?? 1;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`DataLoader: batchSize must be a positive integer, got ${batchSize}`);
    const workers = options.workers ?? 0;
    if (!Number.isInteger(workers) || workers < 0) throw new Error(`DataLoader: workers must be a non-negative integer, got ${workers}`);
    if (workers > 0 && !poolFactory) throw new Error(`DataLoader: workers: ${workers} needs worker threads, which this platform's entry does not provide (Node's does); use workers: 0 to build batches in this thread`);
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
        // From the host pool: the batch tensor, once released, hands its buffer to the next batch.
        const x = this.mainFiller.fill(idx, epoch, pooledHostBuffer);
        yield toBatch(x, [idx.length, c, h, w], labelsOf(idx), true);
      }
      return;
    }

    if (!this.pool || this.pool.broken) {
      if (this.pool) await this.pool.close();
      this.pool = (poolFactory as LoaderPoolFactory)(this.workers, { ...this.sourceMeta(), images: this.dataset.images });
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

  /** Stop the worker threads (they are also unref'd while idle, so this is optional). */
  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = null;
    if (pool) await pool.close();
  }
}


/** Mean / std of the Fashion-MNIST training pixels in [0, 1] (measured: 0.28604, 0.35302). */
export const FASHION_MNIST_MEAN = 0.2860;
export const FASHION_MNIST_STD = 0.3530;
