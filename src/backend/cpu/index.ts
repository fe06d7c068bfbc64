/**
 * The `cpu` backend: kernels in a native addon over oneDNN, the library
 * PyTorch's CPU convolutions use, one file per op family as in reference/.
 * oneDNN primitives are created once per shape and cached natively. Kernels
 * the addon lacks, and tensors too small for a native call to pay off, run on
 * the reference kernels over the same host memory. Node-only.
 */
import { CPU } from '../../device.js';
import { hostMemory, hostTransfers, setHostAllocator, type HostBackend } from '../host.js';
import type { RawAllocator } from '../memory.js';
import { loadNative, type CpuNative } from './addon.js';
import { elementwiseKernels } from './elementwise.js';
import { reduceKernels } from './reduce.js';
import { matmulKernels } from './matmul.js';
import { convKernels } from './conv.js';
import { poolKernels } from './pool.js';
import { convPoolKernels } from './conv-pool.js';
import { movementKernels } from './movement.js';
import { batchNormKernels } from './batchnorm.js';
import { softmaxKernels } from './softmax.js';
import { optimKernels } from './optim.js';
import { valueKernels } from './values.js';
import type { CpuContext } from './common.js';
import { usePlanCache } from './plan-cache.js';

export { SMALL } from './common.js';
export { loadNative, nativeLoadError, nativeAddonPath, type CpuNative } from './addon.js';

/** From the host pool's smallest size up, host buffers come from the addon. */
const NATIVE_MIN_VALUES = hostMemory.minPooledBytes / 4;

/**
 * Host buffers, uninitialised (kernels overwrite their outputs). Those the pool keeps are malloc'd
 * by the addon and freed the moment the pool lets one go, not when the garbage collector finds its
 * array: an evicted 400 MB activation is memory again within the same step, and V8 never sees
 * external memory grow. Smaller ones are V8's.
 */
function hostAllocator(nat: CpuNative): RawAllocator<Float32Array> {
  return {
    create: (n) => (n < NATIVE_MIN_VALUES ? new Float32Array(n) : nat.allocHost(n)),
    destroy: (b) => {
      // Only a whole buffer: freeing through a view would free memory its owner still uses.
      if (b.length >= NATIVE_MIN_VALUES && b.byteOffset === 0 && b.byteLength === b.buffer.byteLength) nat.freeHost(b);
    },
  };
}

/** Build the backend around a loaded addon; honours TORCHLET_NUM_THREADS and TORCHLET_BLOCKED_ACTIVATIONS. */
export function createCpuBackend(nat: CpuNative): HostBackend {
  const env = process.env.TORCHLET_NUM_THREADS;
  if (env) {
    const n = Number.parseInt(env, 10);
    if (Number.isInteger(n) && n > 0) nat.setNumThreads(n);
  }
  setHostAllocator(hostAllocator(nat));
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
      ...convPoolKernels(ctx),
      ...movementKernels(ctx),
      ...batchNormKernels(ctx),
      ...softmaxKernels(ctx),
      ...optimKernels(ctx),
      ...valueKernels(ctx),
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
