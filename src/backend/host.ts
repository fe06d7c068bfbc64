/**
 * Host memory: what the `cpu` device's backends (reference, the oneDNN addon)
 * share. Their buffers are Float32Arrays from one pool, so a storage made by
 * one can be read by the other; a buffer in a backend's own layout carries
 * the way back to row-major on its record.
 */
import { DeviceMemory, type RawAllocator } from './memory.js';
import { Storage, type Layout } from './storage.js';
import type { Backend, Kernels, KernelName, RowMajorKernels } from './kernels.js';

export type HostStorage = Storage<Float32Array>;
export type HostBackend = Backend<Float32Array>;

/** 2 GiB of freed buffers kept for reuse: a step of the seed's largest networks fits. */
const HOST_POOL_LIMIT = 2 * 1024 ** 3;
/**
 * Buffers from here up are pooled (smaller ones are left to V8): every buffer made anew is external
 * memory that V8 answers with a scavenge, and a LeNet step made about one (490 scavenges in
 * 2 epochs, against 7 with these pooled, in --trace-gc of torchlet train lenet).
 */
const HOST_POOL_MIN = 64 * 1024;

const plainAllocator: RawAllocator<Float32Array> = {
  create: (n) => new Float32Array(n),
  destroy: () => {},
};

const firstValues = (base: Float32Array, n: number): Float32Array => base.subarray(0, n);

/** Delegates to the allocator installed by setHostAllocator (the Node entry's skips zero-filling). */
const hostAllocator: RawAllocator<Float32Array> & { impl: RawAllocator<Float32Array> } = {
  impl: plainAllocator,
  create(n) {
    return this.impl.create(n);
  },
  destroy(b) {
    this.impl.destroy(b);
  },
  view: firstValues,
};

export const hostMemory = new DeviceMemory<Float32Array>(hostAllocator, HOST_POOL_LIMIT, false, HOST_POOL_MIN);
// A step's buffers of many sizes are live at different moments, so the pool needs more than the
// peak to serve a whole step (LeNet at batch 256: 32 MiB pooled for a 15 MiB peak). The big
// networks, whose activations are what costs memory, stay within their peak (slack 1) plus a fixed
// headroom, the buffers they evict being freed at once (the cpu backend's allocator). Every buffer
// evicted is one made again, page faults and all: 64 MiB of headroom left AlexNet at batch 128
// making 643 MB of buffers a step, 256 MiB (with views of bigger buffers, see DeviceMemory.fit)
// none, for about 190 MB more peak RSS, still below PyTorch's for every seed network.
hostMemory.slack = 1;
hostMemory.headroomBytes = 256 * 1024 ** 2;

/** Replace how new host buffers are made (contents may be left uninitialised). */
export function setHostAllocator(raw: RawAllocator<Float32Array>): void {
  hostAllocator.impl = raw;
}

/** The row-major values of a host storage, converting it in place once if a backend left it in its own layout. */
export function rowMajor(s: HostStorage): Float32Array {
  const l = s.layout;
  if (l) {
    const blocked = s.buf;
    s.replaceBuffer(l.toRowMajor(blocked) as Float32Array, null);
    retire(s.backend.memory, blocked);
  }
  return s.buf;
}

/**
 * Buffers replaced by a row-major copy go back to the pool once the current synchronous run is
 * over (a microtask), not at once: the kernel that asked for the copy may still read the blocked
 * buffer, and host kernels all return before a microtask runs. Left to the garbage collector
 * instead, each one made the pool allocate afresh next step (LeNet's flattened 400 KB activation:
 * a new mmap and 100 page faults a step).
 */
const retired: Array<[DeviceMemory<Float32Array>, Float32Array]> = [];
/** A loop that never yields would otherwise hold every replaced buffer; past this many the oldest go to the GC. */
const MAX_RETIRED = 32;
function retire(memory: DeviceMemory<Float32Array>, buf: Float32Array): void {
  if (retired.length >= MAX_RETIRED) retired.shift();
  if (retired.push([memory, buf]) > 1) return;
  queueMicrotask(() => {
    for (const [m, b] of retired.splice(0)) m.recycle(b, b.length);
  });
}

/** A storage for a buffer a host kernel just made (the pool takes it back when it dies). */
export function hostStorage(backend: HostBackend, buf: Float32Array, layout: Layout | null = null): HostStorage {
  return new Storage(backend, buf, buf.length, layout);
}

/** Upload, download and synchronous reads for a host backend. */
export function hostTransfers(backend: () => HostBackend): Pick<HostBackend, 'upload' | 'download' | 'readSync'> {
  return {
    upload: (values) => {
      const buf = hostMemory.alloc(values.length);
      buf.set(values);
      return hostStorage(backend(), buf);
    },
    download: async (s) => rowMajor(s).slice(),
    readSync: (s) => rowMajor(s),
  };
}

function isStorage(x: unknown): x is HostStorage {
  return x instanceof Storage;
}

/**
 * Turn row-major kernels into a host backend's table: storages in (converted to
 * row-major where a backend left them blocked), storages out. This is how the
 * reference kernels stay plain loops over Float32Arrays.
 */
export function adaptRowMajor(raw: Partial<RowMajorKernels>, backend: () => HostBackend): Partial<Kernels<HostStorage>> {
  // A kernel that handed back one of its inputs would give one buffer two owners; copy it instead.
  const own = (f: Float32Array, inputs: unknown[]): HostStorage => hostStorage(backend(), inputs.includes(f) ? f.slice() : f);
  const wrapOut = (v: unknown, inputs: unknown[]): unknown => {
    if (v instanceof Float32Array) return own(v, inputs);
    if (v && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v).map(([k, f]) => [k, f instanceof Float32Array ? own(f, inputs) : f]));
    }
    return v;
  };
  const unwrap = (a: unknown): unknown => {
    if (isStorage(a)) return rowMajor(a);
    if (Array.isArray(a) && a.length > 0 && isStorage(a[0])) return a.map((s: HostStorage) => rowMajor(s));
    return a;
  };
  const out: Partial<Record<KernelName, unknown>> = {};
  for (const [name, fn] of Object.entries(raw) as Array<[KernelName, (...a: unknown[]) => unknown]>) {
    out[name] = (...args: unknown[]): unknown => {
      const plain = args.map(unwrap);
      return wrapOut(fn(...plain), plain);
    };
  }
  return out as Partial<Kernels<HostStorage>>;
}
