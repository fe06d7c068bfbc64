/**
 * The `cpu` backend: kernels in a native addon over oneDNN, the library
 * PyTorch's CPU convolutions use, one file per op family as in reference/.
 * oneDNN primitives are created once per shape and cached natively. Kernels
 * the addon lacks, and tensors too small for a native call to pay off, run on
 * the reference kernels over the same host memory. Node-only.
 */
import { CPU } from '../../device.js';
import { hostMemory, hostTransfers, setHostAllocator, type HostBackend } from '../host.js';
import { loadNative, type CpuNative } from './addon.js';
import { elementwiseKernels } from './elementwise.js';
import { reduceKernels } from './reduce.js';
import { matmulKernels } from './matmul.js';
import { convKernels } from './conv.js';
import { poolKernels } from './pool.js';
import { movementKernels } from './movement.js';
import { batchNormKernels } from './batchnorm.js';
import { softmaxKernels } from './softmax.js';
import { optimKernels } from './optim.js';
import type { CpuContext } from './common.js';
import { usePlanCache } from './plan-cache.js';

export { SMALL } from './common.js';
export { loadNative, nativeLoadError, nativeAddonPath, type CpuNative } from './addon.js';

/**
 * New host buffers skip zero-filling when large (kernels overwrite their outputs entirely):
 * Buffer.allocUnsafeSlow maps fresh memory without a memset.
 */
function uninitialisedHostBuffer(n: number): Float32Array {
  if (n < 16384) return new Float32Array(n);
  const b = Buffer.allocUnsafeSlow(n * 4);
  return new Float32Array(b.buffer, b.byteOffset, n);
}

/** Build the backend around a loaded addon; honours TORCHLET_NUM_THREADS and TORCHLET_BLOCKED_ACTIVATIONS. */
export function createCpuBackend(nat: CpuNative): HostBackend {
  const env = process.env.TORCHLET_NUM_THREADS;
  if (env) {
    const n = Number.parseInt(env, 10);
    if (Number.isInteger(n) && n > 0) nat.setNumThreads(n);
  }
  setHostAllocator({ create: uninitialisedHostBuffer, destroy: () => {} });
  usePlanCache(nat);
  const v = nat.version();
  const ctx: CpuContext = { nat, backend: () => backend, keepBlocked: process.env.TORCHLET_BLOCKED_ACTIVATIONS !== '0' };
  const backend: HostBackend = {
    name: 'cpu',
    device: CPU,
    describe: () => {
      const t = nat.getNumThreads();
      return `cpu (oneDNN ${v.major}.${v.minor}.${v.patch}, ${t} thread${t === 1 ? '' : 's'})`;
    },
    hostMemory: true,
    memory: hostMemory,
    kernels: {
      ...elementwiseKernels(ctx),
      ...reduceKernels(ctx),
      ...matmulKernels(ctx),
      ...convKernels(ctx),
      ...poolKernels(ctx),
      ...movementKernels(ctx),
      ...batchNormKernels(ctx),
      ...softmaxKernels(ctx),
      ...optimKernels(ctx),
    },
    ...hostTransfers(() => backend),
    setNumThreads: (n: number) => nat.setNumThreads(Math.max(1, Math.floor(n))),
  };
  return backend;
}

let cached: HostBackend | null | undefined;

/** Loader for the registry: the cpu backend, or null when the addon is unavailable. */
export function loadCpuBackend(): HostBackend | null {
  if (cached !== undefined) return cached;
  const nat = loadNative();
  cached = nat ? createCpuBackend(nat) : null;
  return cached;
}
