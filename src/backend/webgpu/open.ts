/// <reference types="@webgpu/types" preserve="true" />
/**
 * Opening a GPU: a high-performance adapter, and a device with the adapter's
 * own limits requested explicitly (WebGPU's defaults, 128 MiB per storage
 * binding and 8 storage buffers per stage among them, are far below what
 * GPUs offer), plus the optional features later kernel tiers use.
 */
import { GpuContext } from './context.js';

/** Features requested when the adapter has them (kernels may specialise on them). */
const OPTIONAL_FEATURES = ['shader-f16', 'subgroups'] as const;

export async function openGpu(gpu: GPU): Promise<GpuContext> {
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('webgpu: no GPU adapter found (on Linux without a GPU, install Mesa\'s lavapipe: apt-get install -t bookworm-backports mesa-vulkan-drivers)');
  const l = adapter.limits;
  const requiredLimits: Record<string, number> = {
    maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
    maxBufferSize: l.maxBufferSize,
    maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupSizeY: l.maxComputeWorkgroupSizeY,
    maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
  };
  const features = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures: features as GPUFeatureName[] });
  const info = adapter.info;
  const name = info.description || info.device || [info.vendor, info.architecture].filter(Boolean).join(' ') || 'unknown adapter';
  // Older WebGPU implementations have no wgslLanguageFeatures: then no language feature is assumed.
  const wgsl = new Set<string>(gpu.wgslLanguageFeatures ?? []);
  return new GpuContext(device, name, new Set(features), wgsl);
}
