/**
 * The Node entry's DataLoader workers: worker threads that share the dataset's
 * pixels through a SharedArrayBuffer and turn index lists into float32 batches.
 * Importing this module installs it (node/setup.ts does).
 */
import { Worker } from 'node:worker_threads';
import type { BatchSource, WorkerRequest, WorkerResponse } from './batch.js';
import { setLoaderPoolFactory, type LoaderPool } from './dataloader.js';

const sharedImages = new WeakMap<Uint8Array, Uint8Array>();

/** A dataset's pixels in a SharedArrayBuffer (copied once per pixel array), so workers need no copy. */
function sharedImagesOf(images: Uint8Array): Uint8Array {
  if (typeof SharedArrayBuffer !== 'undefined' && images.buffer instanceof SharedArrayBuffer) return images;
  let shared = sharedImages.get(images);
  if (!shared) {
    shared = new Uint8Array(new SharedArrayBuffer(images.byteLength));
    shared.set(images);
    sharedImages.set(images, shared);
  }
  return shared;
}

interface Task {
  resolve: (x: Float32Array) => void;
  reject: (err: Error) => void;
  worker: number;
}

/** A fixed set of loader workers sharing one dataset. */
class WorkerPool implements LoaderPool {
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

setLoaderPoolFactory((workers, source) => new WorkerPool(workers, { ...source, images: sharedImagesOf(source.images) }));
