/**
 * A device's memory: a pool of freed buffers by size, and the counts
 * torch.memoryStats reports. Training reuses the same shapes every step, so
 * buffers bucketed by exact element count are found again the next step
 * instead of being allocated (and, on the host, page-faulted) anew.
 */

export interface MemoryStats {
  /** Bytes held by live storages. */
  liveBytes: number;
  /** Bytes kept in the pool for reuse. */
  pooledBytes: number;
  /** The most liveBytes has been since the process started (or resetPeak). */
  peakBytes: number;
  /** Live storages. */
  liveCount: number;
}

/** How a device creates and destroys raw buffers; the pool sits in front of it. */
export interface RawAllocator<B> {
  /** A new buffer of n float32 values (contents undefined). */
  create(n: number): B;
  /** Give the buffer back for good (GPUBuffer.destroy(); nothing on the host). */
  destroy(buf: B): void;
  /**
   * A buffer of the first n values of a larger one, sharing its memory (a Float32Array view), so
   * the pool can serve a size it has no buffer of from a bigger one. Without it only exact sizes are reused.
   */
  view?(base: B, n: number): B;
}

/** Pool lookups give a view of a larger buffer only up to this many times the size asked for. */
const MAX_FIT = 2;

export class DeviceMemory<B> {
  private readonly pool = new Map<number, B[]>();
  /** Views handed out of larger pooled buffers, to the buffer and size they came from. */
  private readonly views = new WeakMap<object, { base: B; n: number }>();
  /** Sizes (in values) by when they were last asked for; a Map keeps insertion order. */
  private readonly lastAsked = new Map<number, number>();
  private clock = 0;
  /** How far above the peak of live bytes live plus pooled may go before misses evict: peak × slack + headroomBytes. */
  slack = 1.5;
  /** Bytes the pool may hold beyond peak × slack, so a small network's step never evicts. */
  headroomBytes = 0;
  private live = 0;
  private count = 0;
  private pooled = 0;
  private peak = 0;
  /** Bytes of the larger buffers behind live views beyond what the views count as live. */
  private viewExtra = 0;

  constructor(
    private readonly raw: RawAllocator<B>,
    /** Pooled bytes above this are destroyed rather than kept. */
    public poolLimitBytes: number,
    /**
     * True where a buffer must be destroyed explicitly (GPU memory): a storage the garbage
     * collector finds then still hands its buffer back. False for host memory, which the
     * collector frees itself.
     */
    readonly destroysExplicitly = false,
    /**
     * Smaller buffers are not pooled. On the host malloc already recycles those without
     * returning them to the system; only buffers above its mmap threshold come back as fresh,
     * page-faulting memory, so those are the ones worth keeping (pooling the rest only doubles
     * what is held: torchlet's pool and malloc's free lists).
     */
    readonly minPooledBytes = 0,
  ) {}

  /**
   * A buffer of n values, from the pool when one of that size is free. Its contents are undefined.
   * On a miss, pooled buffers of the sizes asked for least recently are destroyed first, so that
   * live plus pooled bytes stay within the most that has ever been live: the pool then holds
   * only what a repeat of the heaviest moment so far would use, never a second copy of it.
   */
  alloc(n: number): B {
    const bytes = n * 4;
    const bucket = this.pool.get(n);
    this.lastAsked.delete(n);
    this.lastAsked.set(n, ++this.clock);
    const reused = bucket?.pop();
    if (reused !== undefined) {
      this.pooled -= bytes;
      return reused;
    }
    const fitted = this.fit(n);
    if (fitted) return fitted;
    this.evictFor(bytes);
    return this.raw.create(n);
  }

  /**
   * A view of the smallest pooled buffer that holds n values, when one holds no more than
   * MAX_FIT times that. A step's buffers come in many sizes live at different moments; within
   * the pool's bound, exact sizes alone left AlexNet making 643 MB of fresh (page-faulting)
   * buffers every step, where taking bigger ones made none.
   */
  private fit(n: number): B | null {
    const view = this.raw.view;
    if (!view) return null;
    let best = 0;
    for (const [m, bucket] of this.pool) {
      if (bucket.length > 0 && m > n && m <= n * MAX_FIT && (best === 0 || m < best)) best = m;
    }
    if (best === 0) return null;
    const base = this.pool.get(best)?.pop() as B;
    this.pooled -= best * 4;
    // The base's size is in use again: eviction walks the sizes asked for least recently first.
    this.lastAsked.delete(best);
    this.lastAsked.set(best, ++this.clock);
    const v = view(base, n);
    this.views.set(v as object, { base, n: best });
    this.viewExtra += (best - n) * 4;
    return v;
  }

  private evictFor(bytes: number): void {
    const allowed = Math.max(this.peak * this.slack + this.headroomBytes - this.live - this.viewExtra - bytes, 0);
    // lastAsked iterates in order of last request, oldest first.
    for (const [size] of this.lastAsked) {
      if (this.pooled <= allowed) return;
      const bucket = this.pool.get(size);
      while (bucket && bucket.length > 0 && this.pooled > allowed) {
        this.raw.destroy(bucket.pop() as B);
        this.pooled -= size * 4;
      }
    }
  }

  /** Called by every new Storage. */
  track(bytes: number): void {
    this.live += bytes;
    this.count++;
    if (this.live > this.peak) this.peak = this.live;
  }

  /** Called once per Storage, when its last tensor is disposed or it is garbage-collected. */
  release(buf: B | null, bytes: number, poolable: boolean): void {
    this.live -= bytes;
    this.count--;
    if (buf === null || !poolable || bytes === 0) return;
    this.recycle(buf, bytes / 4);
  }

  /**
   * Pool (or destroy) a buffer of n values that no storage owns: one a storage let go, or one it
   * replaced with a copy in another layout (which leaves the live count as it was).
   */
  recycle(view: B, viewN: number): void {
    const fitted = this.raw.view ? this.views.get(view as object) : undefined;
    if (fitted) {
      this.views.delete(view as object);
      this.viewExtra -= (fitted.n - viewN) * 4;
    }
    const buf = fitted ? fitted.base : view;
    const n = fitted ? fitted.n : viewN;
    const bytes = n * 4;
    // A size nobody allocates through the pool (a buffer made elsewhere and adopted) would sit
    // there unasked, and, never being among the sizes eviction walks, crowd out the ones in use.
    if (bytes === 0 || bytes < this.minPooledBytes || !this.lastAsked.has(n) || this.pooled + bytes > this.poolLimitBytes) {
      this.raw.destroy(buf);
      return;
    }
    let bucket = this.pool.get(n);
    if (!bucket) {
      bucket = [];
      this.pool.set(n, bucket);
    }
    bucket.push(buf);
    this.pooled += bytes;
  }

  /** Destroy every pooled buffer (torch.cuda.empty_cache). */
  emptyCache(): void {
    for (const bucket of this.pool.values()) for (const b of bucket) this.raw.destroy(b);
    this.pool.clear();
    this.pooled = 0;
  }

  stats(): MemoryStats {
    return { liveBytes: this.live, pooledBytes: this.pooled, peakBytes: this.peak, liveCount: this.count };
  }

  resetPeak(): void {
    this.peak = this.live;
  }
}
