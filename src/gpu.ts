/**
 * Bringing up the `gpu` device. Opening a GPU is asynchronous in WebGPU, so
 * it happens once, in `await torch.initGpu()`; after that `tryGpu()`,
 * `device('gpu')` and `.to('gpu')` work synchronously. Where the GPU comes
 * from is the entry's business: the Node entry supplies Dawn (the optional
 * `webgpu` package), the browser entry `navigator.gpu`.
 */
/// <reference types="@webgpu/types" preserve="true" />
import { registerBackend, unregisterBackend } from './backend/registry.js';
import { Device } from './device.js';
import { openGpu } from './backend/webgpu/open.js';
import { createWebGpuBackend, type GpuBackend, type GpuContext } from './backend/webgpu/index.js';

export interface GpuSource {
  /** The WebGPU entry point (navigator.gpu, or Dawn's create()). */
  gpu(): Promise<GPU>;
  /** Added to the device label, e.g. 'Vulkan'. */
  readonly api?: string;
  /** Called after the device is destroyed (Node lets go of Dawn so the process can exit). */
  release?(): void;
}

let source: GpuSource | null = null;
let opened: { ctx: GpuContext; backend: GpuBackend } | null = null;
let opening: Promise<Device> | null = null;

/** The entry's way to a GPU (node/webgpu.ts, browser.ts). */
export function setGpuSource(s: GpuSource | null): void {
  source = s;
}

/**
 * Open the GPU and register the `webgpu` backend for the `gpu` device; returns
 * that device. Throws, saying why, when there is no GPU or no WebGPU here.
 */
export function initGpu(): Promise<Device> {
  if (opened?.ctx.alive) return Promise.resolve(Device.of('gpu'));
  if (!source) return Promise.reject(new Error('gpu: WebGPU is not available in this environment (no navigator.gpu, and no Node entry)'));
  // One opening at a time; once it settles (either way) a later call may try again.
  opening ??= open(source).finally(() => {
    opening = null;
  });
  return opening;
}

async function open(from: GpuSource): Promise<Device> {
  const ctx = await openGpu(await from.gpu());
  const backend = createWebGpuBackend(ctx, from.api ? `${ctx.adapterName}, ${from.api}` : ctx.adapterName);
  registerBackend(backend);
  opened = { ctx, backend };
  return Device.of('gpu');
}

/** d2l's try_gpu() for async code: the gpu device when one opens, else cpu. */
export async function tryGpuAsync(): Promise<Device> {
  try {
    return await initGpu();
  } catch {
    return Device.of('cpu');
  }
}

/**
 * Destroy the GPU device (its buffers go with it). A live WebGPU device keeps
 * Node's event loop running, so CLIs and tests call this when done.
 */
export function releaseGpu(): void {
  if (!opened) return;
  unregisterBackend(opened.backend.name);
  opened.ctx.destroy();
  opened = null;
  source?.release?.();
}

/** The open GPU's context (tests read its counters), or null. */
export function gpuContext(): GpuContext | null {
  return opened?.ctx ?? null;
}
