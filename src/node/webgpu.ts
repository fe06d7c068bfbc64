/**
 * The GPU for Node: Dawn, from the optional `webgpu` package, imported only
 * when torch.initGpu() asks for it. One Dawn instance per process.
 */
/// <reference types="@webgpu/types" preserve="true" />
import { setGpuSource } from '../gpu.js';
import { webgpuSettings } from '../backend/webgpu/tiers.js';

// The switch tests and benchmarks use to run the plain reductions on a device that has subgroups.
if (process.env.TORCHLET_GPU_SUBGROUPS === '0') webgpuSettings.allowSubgroups = false;

interface DawnModule {
  create(flags: string[]): GPU;
  globals: Record<string, unknown>;
}

let instance: GPU | null = null;

async function dawn(): Promise<GPU> {
  if (instance) return instance;
  let mod: DawnModule;
  try {
    mod = (await import('webgpu' as string)) as DawnModule;
  } catch (e) {
    throw new Error(`gpu: the optional 'webgpu' package (Dawn for Node) is not installed or failed to load (${(e as Error).message.split('\n')[0]}); install it with: npm install webgpu`);
  }
  // GPUBufferUsage, GPUMapMode and the other WebGPU constants the kernels use. navigator is left alone:
  // replacing it hangs Dawn (dawn-gpu/node-webgpu#18).
  for (const [k, v] of Object.entries(mod.globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  const flags = process.env.TORCHLET_DAWN_FLAGS ? process.env.TORCHLET_DAWN_FLAGS.split(/\s+/).filter(Boolean) : [];
  instance = mod.create(flags);
  return instance;
}

setGpuSource({
  gpu: dawn,
  api: process.platform === 'linux' ? 'Vulkan' : process.platform === 'darwin' ? 'Metal' : process.platform === 'win32' ? 'D3D12' : undefined,
  // Dropping the instance lets Node exit once the device is destroyed.
  release: () => {
    instance = null;
  },
});
