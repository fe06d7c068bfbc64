/**
 * Storage: the record a tensor holds for its values (tfjs's per-backend data
 * record, candle's Storage). It names the backend that owns the buffer, the
 * buffer itself (a Float32Array for host backends, a GPUBuffer for WebGPU),
 * the buffer's memory layout and its lifetime.
 *
 * Lifetime. Tensors that share a storage (views, detach) each hold one
 * reference. When the last is disposed the buffer goes back to its device's
 * pool at once; a storage nobody disposes is returned by a FinalizationRegistry
 * after the garbage collector finds it unreachable. Either way a buffer is
 * returned exactly once.
 */
import type { Backend } from './kernels.js';
import type { DeviceMemory } from './memory.js';

/**
 * A backend's own arrangement of a buffer's bytes (for example oneDNN's
 * channel-blocked nChw16c), with the way back to row-major.
 */
export interface Layout {
  /** For messages and debugging, e.g. 'nChw16c [256,16,10,10]'. */
  readonly name: string;
  /** Channel block size (16 for nChw16c). */
  readonly block: number;
  /** Logical NCHW dims. */
  readonly dims: readonly number[];
  /** A row-major copy of buf's values, in a buffer from the same memory. */
  toRowMajor(buf: unknown): unknown;
}

/**
 * What the finalizer needs, never the Storage itself (which must be collectable). A device whose
 * buffers must be destroyed explicitly (a GPU) keeps the buffer here, so a collected storage's
 * buffer still reaches the pool. Host buffers are not kept: the garbage collector frees them with
 * their storage at once — holding them until the finalizer runs (only when the event loop turns)
 * would keep every dropped activation of a synchronous training loop alive.
 */
interface Cell<B> {
  buf: B | null;
  readonly bytes: number;
  readonly memory: DeviceMemory<B>;
  /** Buffers handed in by the user (a Float32Array passed to tensor()) are not recycled into the pool. */
  readonly pooled: boolean;
  released: boolean;
}

const finalizer = new FinalizationRegistry<Cell<unknown>>((cell) => releaseCell(cell, cell.buf));

function releaseCell(cell: Cell<unknown>, buf: unknown): void {
  if (cell.released) return;
  cell.released = true;
  cell.memory.release(buf ?? null, cell.bytes, cell.pooled && buf !== null && buf !== undefined);
  cell.buf = null;
}

let nextId = 1;

export class Storage<B = unknown> {
  /** Unique per storage: kernels key saved side data (max-pool argmax) on it. */
  readonly id = nextId++;
  /** Tensors holding this storage. */
  private refs = 0;
  private readonly cell: Cell<B>;
  private buffer: B;
  /**
   * Backend-private data about these values, dying with them: the cpu backend keeps
   * a max-pool output's argmax indices here so the backward only scatters.
   */
  aux: unknown = null;
  /**
   * Storages that live and die with this one (a GPU max-pool's saved indices): released when
   * this storage is. A collected storage's dependents are collected with it.
   */
  private dependents: Storage<B>[] | null = null;

  /** Tie `s`'s lifetime to this storage's: released when this one is. */
  addDependent(s: Storage<B>): void {
    (this.dependents ??= []).push(s);
  }

  private releaseDependents(): void {
    const d = this.dependents;
    this.dependents = null;
    if (d) for (const s of d) s.discard();
  }

  constructor(
    readonly backend: Backend<B>,
    buf: B,
    readonly numel: number,
    /** null: row-major. */
    public layout: Layout | null = null,
    opts: { pooled?: boolean } = {},
  ) {
    const bytes = numel * 4;
    this.buffer = buf;
    const keep = backend.memory.destroysExplicitly;
    this.cell = { buf: keep ? buf : null, bytes, memory: backend.memory, pooled: opts.pooled ?? true, released: false };
    backend.memory.track(bytes);
    finalizer.register(this, this.cell as Cell<unknown>, this.cell);
  }

  get buf(): B {
    if (this.cell.released) throw new Error('tensor: this tensor was disposed; its values are gone (dispose() or a tidy() scope released it)');
    return this.buffer;
  }

  get device(): Backend<B>['device'] {
    return this.backend.device;
  }

  get disposed(): boolean {
    return this.cell.released;
  }

  /**
   * Swap in a new buffer holding the same values in another layout (a row-major copy
   * of a blocked buffer). The caller decides what becomes of the old one (host.ts's rowMajor
   * pools it once the kernel that asked has returned).
   */
  replaceBuffer(buf: B, layout: Layout | null): void {
    this.buffer = buf;
    if (this.cell.buf !== null) this.cell.buf = buf;
    this.layout = layout;
  }

  /** Whether more than one tensor holds these values (then none of them may overwrite them). */
  get shared(): boolean {
    return this.refs > 1;
  }

  retain(): void {
    this.refs++;
  }

  /** Return the buffer now if no tensor holds it (a kernel output the op used only as a temporary). */
  discard(): void {
    if (this.refs === 0 && !this.cell.released) {
      finalizer.unregister(this.cell);
      releaseCell(this.cell as Cell<unknown>, this.buffer);
      this.releaseDependents();
    }
  }

  /** Drop one tensor's hold; the last one returns the buffer now. */
  release(): void {
    if (this.refs > 0) this.refs--;
    if (this.refs === 0 && !this.cell.released) {
      finalizer.unregister(this.cell);
      releaseCell(this.cell as Cell<unknown>, this.buffer);
      this.releaseDependents();
    }
  }
}
