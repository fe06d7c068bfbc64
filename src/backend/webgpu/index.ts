/// <reference types="@webgpu/types" preserve="true" />
/**
 * The `webgpu` backend for the `gpu` device: WGSL kernels, one file per op
 * family as in reference/, over a GpuContext (context.ts) that batches
 * dispatches into one command encoder. It runs wherever a GPUDevice exists:
 * Dawn in Node (node/webgpu.ts supplies it) or navigator.gpu in a browser.
 * Every kernel runs on the GPU; nothing falls back to the host.
 */
import { Device } from '../../device.js';
import { DeviceMemory } from '../memory.js';
import { Storage } from '../storage.js';
import type { GpuContext } from './context.js';
import type { GpuBackend, WebGpuCtx } from './common.js';
import { elementwiseKernels } from './elementwise.js';
import { reduceKernels } from './reduce.js';
import { movementKernels } from './movement.js';
import { matmulKernels } from './matmul.js';
import { convKernels } from './conv.js';
import { poolKernels } from './pool.js';
import { batchNormKernels } from './batchnorm.js';
import { softmaxKernels } from './softmax.js';
import { optimKernels } from './optim.js';
import { valueKernels } from './values.js';

export type { GpuBackend, GpuStorage } from './common.js';
export { GpuContext, type GpuCounters } from './context.js';

/** Freed GPU buffers kept for reuse, at most. */
const GPU_POOL_LIMIT = 2 * 1024 ** 3;

export function createWebGpuBackend(gpu: GpuContext, label: string, device: Device = Device.of('gpu')): GpuBackend {
  const memory = new DeviceMemory<GPUBuffer>({ create: (n) => gpu.createBuffer(n), destroy: (b) => gpu.destroyBuffer(b) }, GPU_POOL_LIMIT, true);
  // No eviction below the pool limit. The peak-based slack thrashes here: a step's buffers of
  // different sizes are never all live at once, so what it reuses adds up to more than 1.5× its
  // peak, and LeNet at batch 256 destroyed and re-created 33 buffers every step (each one also
  // dropping its cached bind groups). The limit still bounds what is kept.
  memory.slack = Infinity;
  const ctx: WebGpuCtx = { gpu, backend: () => backend };
  const backend: GpuBackend = {
    name: 'webgpu',
    device,
    describe: () => `gpu (${label})`,
    hostMemory: false,
    memory,
    kernels: {
      ...elementwiseKernels(ctx),
      ...reduceKernels(ctx),
      ...movementKernels(ctx),
      ...matmulKernels(ctx),
      ...convKernels(ctx),
      ...poolKernels(ctx),
      ...batchNormKernels(ctx),
      ...softmaxKernels(ctx),
      ...optimKernels(ctx),
      ...valueKernels(ctx),
    },
    upload(values) {
      const buf = memory.alloc(values.length);
      gpu.upload(buf, values);
      return new Storage(backend, buf, values.length);
    },
    download: (s) => gpu.read(s.buf, s.numel),
    flush: () => gpu.flush(),
    settle: () => gpu.settle(),
    finish: () => gpu.sync(),
  };
  return backend;
}
