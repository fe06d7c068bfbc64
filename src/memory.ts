/**
 * Tensor lifetimes a program can see and bound: scopes (torch.tidy),
 * keep, and the per-device counters.
 *
 * A tensor holds one reference to its storage; dispose() drops it. tidy(fn)
 * disposes every tensor created while fn runs except what fn returns (and
 * what was passed to keep()). What nobody disposes is returned to the pool by
 * the storage's finalizer once the garbage collector finds it unreachable.
 */
import type { MemoryStats } from './backend/memory.js';
import { backendFor } from './backend/registry.js';
import { device as toDevice, type DeviceLike } from './device.js';

/** What a scope needs of a tensor; kept structural so this module does not import tensor.ts. */
export interface Disposable {
  dispose(): void;
  readonly isDisposed: boolean;
}

type Scope = Set<Disposable>;

const scopes: Scope[] = [];
/** Tensors that must outlive every scope they were made in (keep()). */
const kept = new WeakSet<Disposable>();

/** Called by the Tensor constructor: the innermost scope owns the new tensor. */
export function trackTensor(t: Disposable): void {
  const top = scopes[scopes.length - 1];
  if (top) top.add(t);
}

/** Exempt t from the scopes it was made in (optimiser state, module buffers, .grad). */
export function keep<T extends Disposable>(t: T): T {
  kept.add(t);
  for (const s of scopes) s.delete(t);
  return t;
}

/**
 * Tensors made for one use (a DataLoader's batches): the loop consuming them may release
 * them when done. Tensors a caller handed in are never released for it.
 */
const transient = new WeakSet<Disposable>();

export function markTransient<T extends Disposable>(t: T): T {
  transient.add(t);
  return t;
}

/** Dispose t if it was marked as made for this one use. */
export function releaseTransient(t: Disposable): void {
  if (transient.has(t)) t.dispose();
}

/** Tensors only the recorded graph needs: backward() disposes each once its node is done. */
const graphOwned = new WeakSet<Disposable>();

export function isGraphOwned(t: Disposable): boolean {
  return graphOwned.has(t);
}

/**
 * Run fn (a container's forward) and release the tensors it made but does not return:
 * with no graph being recorded they are disposed at once; tensors in the recorded graph
 * are handed to it, and backward() disposes each as soon as its node is done. Others
 * (graph inputs that need no gradient) are left to the garbage collector. A module that
 * keeps a tensor it made in forward beyond the call must keep() it.
 */
export function releaseIntermediates<T>(fn: () => T, recording: boolean): T {
  const { result, created } = collectCreated(fn);
  releaseAllBut(created, result, recording);
  return result;
}

/**
 * Release the tensors in `made` that `result` does not hold and nobody kept: dispose them, or,
 * while a graph is recorded, hand its nodes to it. Returns what `result` holds.
 */
function releaseAllBut(made: Iterable<Disposable>, result: unknown, recording: boolean): Set<Disposable> {
  const survivors = new Set<Disposable>();
  collect(result, survivors);
  for (const t of made) {
    if (survivors.has(t) || kept.has(t) || t.isDisposed) continue;
    if (!recording) t.dispose();
    // While recording, both graph nodes and the constants they read (no gradFn) go to the graph:
    // backward() frees a node when it is done, and a constant when the last node reading it is.
    // A constant no node reads is left to the garbage collector, as before.
    else graphOwned.add(t);
  }
  return survivors;
}

/** Values tidy can hand back: tensors, and arrays or plain objects of them. */
function collect(result: unknown, out: Set<Disposable>): void {
  if (result === null || typeof result !== 'object') return;
  if ('dispose' in result && 'isDisposed' in result) {
    out.add(result as Disposable);
    return;
  }
  if (Array.isArray(result)) for (const r of result) collect(r, out);
  else if (Object.getPrototypeOf(result) === Object.prototype) for (const r of Object.values(result)) collect(r, out);
}

function closeScope(scope: Scope, result: unknown): void {
  const survivors = releaseAllBut(scope, result, false);
  const parent = scopes[scopes.length - 1];
  if (parent) for (const t of survivors) if (scope.has(t)) parent.add(t);
}

/**
 * Run fn and report the tensors it created (the backward engine uses this to
 * free each node's temporaries at once). Nothing is disposed here.
 */
export function collectCreated<T>(fn: () => T): { result: T; created: Set<Disposable> } {
  const scope: Scope = new Set();
  scopes.push(scope);
  try {
    return { result: fn(), created: scope };
  } finally {
    popScope(scope);
    const parent = scopes[scopes.length - 1];
    if (parent) for (const t of scope) parent.add(t);
  }
}

/**
 * Run fn and dispose every tensor it created, except those it returns (torch.tidy in
 * tfjs). An async fn is awaited; its tensors are released when its promise settles.
 * Tensors that a returned graph still needs for backward() must be returned or kept,
 * so call backward() inside the scope (as fit() does per step).
 */
export function tidy<T>(fn: () => T): T {
  const scope: Scope = new Set();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (err) {
    popScope(scope);
    closeScope(scope, undefined);
    throw err;
  }
  if (result instanceof Promise) {
    // Other work may run while fn awaits, so stop collecting into this scope now.
    popScope(scope);
    return result.then(
      (v: unknown) => {
        closeScope(scope, v);
        return v;
      },
      (err: unknown) => {
        closeScope(scope, undefined);
        throw err;
      },
    ) as T;
  }
  popScope(scope);
  closeScope(scope, result);
  return result;
}

function popScope(scope: Scope): void {
  const i = scopes.lastIndexOf(scope);
  if (i >= 0) scopes.splice(i, 1);
}

/** Live, pooled and peak bytes of a device's tensors (torch.cuda.memory_stats, in short). */
export function memoryStats(device: DeviceLike = 'cpu'): MemoryStats {
  return backendFor(toDevice(device)).memory.stats();
}

/** Start peak counting afresh from the current live bytes. */
export function resetPeakMemoryStats(device: DeviceLike = 'cpu'): void {
  backendFor(toDevice(device)).memory.resetPeak();
}

/** Give pooled buffers back (torch.cuda.empty_cache). */
export function emptyCache(device: DeviceLike = 'cpu'): void {
  backendFor(toDevice(device)).memory.emptyCache();
}
