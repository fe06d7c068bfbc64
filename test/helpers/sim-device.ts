/**
 * A simulated `gpu` device for testing device rules without a GPU: its buffers
 * are opaque boxes (so nothing can treat them as host arrays by accident), it
 * has its own memory pool, and it implements every kernel by running the
 * reference kernels on the boxed values. Unlike WebGPU it can also read
 * synchronously when `syncRead` is set, so gradients can cross to() in both
 * directions inside a synchronous backward.
 */
import { Device } from '../../src/device.js';
import { DeviceMemory } from '../../src/backend/memory.js';
import { Storage } from '../../src/backend/storage.js';
import { KERNEL_NAMES, type Backend, type Kernels, type KernelName } from '../../src/backend/kernels.js';
import { referenceKernels } from '../../src/backend/reference/index.js';
import { registerBackend, setBackend } from '../../src/backend/registry.js';

export interface SimBuffer {
  readonly values: Float32Array;
}

export type SimBackend = Backend<SimBuffer>;

export function createSimBackend(opts: { name?: string; syncRead?: boolean; leaveOut?: KernelName[] } = {}): SimBackend {
  const memory = new DeviceMemory<SimBuffer>({ create: (n) => ({ values: new Float32Array(n) }), destroy: () => {} }, 256 * 1024 ** 2);
  const wrap = (v: unknown): unknown => {
    if (v instanceof Float32Array) return new Storage(backend, { values: v }, v.length);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, f]) => [k, wrap(f)]));
    return v;
  };
  const unwrap = (a: unknown): unknown => {
    if (a instanceof Storage) {
      if (a.backend !== backend) throw new Error(`sim backend handed a storage of ${a.backend.name}`);
      return (a.buf as SimBuffer).values;
    }
    if (Array.isArray(a) && a[0] instanceof Storage) return a.map(unwrap);
    return a;
  };
  const kernels: Partial<Record<KernelName, unknown>> = {};
  for (const name of KERNEL_NAMES) {
    if (opts.leaveOut?.includes(name)) continue;
    const fn = referenceKernels[name] as (...a: unknown[]) => unknown;
    kernels[name] = (...args: unknown[]): unknown => wrap(fn(...args.map(unwrap)));
  }
  const backend: SimBackend = {
    name: opts.name ?? 'sim',
    device: Device.of('gpu'),
    describe: () => 'gpu (simulated, for tests)',
    hostMemory: false,
    memory,
    kernels: kernels as Partial<Kernels<Storage<SimBuffer>>>,
    upload: (values) => {
      const buf = memory.alloc(values.length);
      buf.values.set(values);
      return new Storage(backend, buf, values.length);
    },
    download: async (s) => s.buf.values.slice(),
    ...(opts.syncRead ? { readSync: (s: Storage<SimBuffer>) => s.buf.values } : {}),
  };
  return backend;
}

/** Register a simulated gpu and make it serve the gpu device. */
export function useSimGpu(opts: { syncRead?: boolean } = {}): SimBackend {
  const b = createSimBackend({ name: opts.syncRead ? 'sim-sync' : 'sim', ...opts });
  registerBackend(b);
  setBackend(b.name);
  return b;
}
