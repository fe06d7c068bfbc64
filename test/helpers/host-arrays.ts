/**
 * Call a host backend's kernels on plain Float32Arrays, as the backend tests
 * are written: each array becomes a Storage (the same one again when the
 * array came out of an earlier kernel, so its layout and saved side data
 * survive), and outputs come back as their buffers as they are — possibly
 * still in the backend's blocked layout, which layoutOf/plainOf look up.
 */
import { Storage, type Layout } from '../../src/backend/storage.js';
import type { HostBackend, HostStorage } from '../../src/backend/host.js';
import type { Kernels, RowMajorKernels } from '../../src/backend/kernels.js';

const byBuffer = new WeakMap<Float32Array, HostStorage>();

function storageOf(backend: HostBackend, a: Float32Array): HostStorage {
  const known = byBuffer.get(a);
  if (known && known.buf === a) return known;
  const s = new Storage(backend, a, a.length, null, { pooled: false });
  byBuffer.set(a, s);
  return s;
}

function bufferOf(s: HostStorage): Float32Array {
  byBuffer.set(s.buf, s);
  return s.buf;
}

/** The layout an output buffer is in, or null when row-major. */
export function layoutOf(buf: Float32Array): Layout | null {
  const s = byBuffer.get(buf);
  return s && s.buf === buf ? s.layout : null;
}

/** buf's values row-major (a converted copy when a kernel left it blocked; the buffer itself stays as it was). */
export function plainOf(buf: Float32Array): Float32Array {
  const l = layoutOf(buf);
  return l ? (l.toRowMajor(buf) as Float32Array) : buf;
}

export function onArrays(backend: HostBackend, kernels: Partial<Kernels<HostStorage>>): RowMajorKernels {
  const wrapIn = (a: unknown): unknown => {
    if (a instanceof Float32Array) return storageOf(backend, a);
    if (Array.isArray(a) && a.length > 0 && a[0] instanceof Float32Array) return a.map((x: Float32Array) => storageOf(backend, x));
    return a;
  };
  const wrapOut = (v: unknown): unknown => {
    if (v instanceof Storage) return bufferOf(v as HostStorage);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, f]) => [k, f instanceof Storage ? bufferOf(f as HostStorage) : f]));
    return v;
  };
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(kernels)) {
    if (typeof fn !== 'function') continue;
    out[name] = (...args: unknown[]): unknown => wrapOut((fn as (...a: unknown[]) => unknown)(...args.map(wrapIn)));
  }
  return out as unknown as RowMajorKernels;
}
