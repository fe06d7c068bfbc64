/**
 * Capability tiers. Every kernel has a plain f32 form that runs on any
 * WebGPU device; two optional tiers specialise it where the device allows:
 *
 *   subgroups  workgroup reductions combine with subgroupAdd/Max/Min instead
 *              of log2(256) workgroup-memory steps. Same results to rounding
 *              (and NaN propagation), so on by default; `allowSubgroups =
 *              false` (TORCHLET_GPU_SUBGROUPS=0 in Node) forces the plain tier.
 *   f16        the GEMM (matmul, the convolutions' implicit GEMMs) stages its
 *              A and B tiles as f16 and accumulates in f32. It changes results
 *              (a 10-bit mantissa, like CUDA's TF32, and f16's ±65504 range),
 *              so it is off until `allowF16 = true`, as PyTorch's
 *              torch.backends.cuda.matmul.allow_tf32 is.
 *
 * Room for a third tier, not built: Dawn's experimental subgroup matrix
 * (`chromium-experimental-subgroup-matrix`), which reaches NVIDIA's tensor
 * cores through VK_KHR_cooperative_matrix with f16×f16→f32 16×16×16 tiles
 * (../shared/design/webgpu.md). It would plug in where the f16 tier does:
 * every matrix-shaped kernel (matmul, the convolutions' implicit GEMMs and
 * split-K weight gradients) is one GemmSource (loadA/loadB/store) handed to
 * gemmKernel(), so a third body for that template, chosen there from a
 * `subgroupMatrixTier(gpu)` beside f16Tier, covers them all without touching
 * the ops. What it needs that is not here yet: requesting the feature (and
 * Dawn's allow_unsafe_apis toggle) in open.ts, reading
 * adapter.info.subgroupMatrixConfigs into the context to pick the tile shape,
 * and a setting (allowF16 already says "f16 operands, f32 accumulation", so it
 * would likely ride on it). Kernels stay f32 elsewhere, as with the f16 tier.
 *
 * The settings are read at each dispatch, so changing them takes effect for
 * the next op; each tier's kernels have their own keys and pipelines. Like
 * allow_tf32 on a GPU without TF32, a setting the device cannot honour is a
 * no-op: `tiersOf` (torch.backends.webgpu.tiers()) says what is in effect.
 */
import type { GpuContext } from './context.js';

export interface WebGpuSettings {
  /** Stage GEMM tiles as f16 where the device has 'shader-f16' (default false). */
  allowF16: boolean;
  /** Reduce with subgroup operations where the device has 'subgroups' (default true). */
  allowSubgroups: boolean;
}

/** The process-wide settings (torch.backends.webgpu sets them). */
export const webgpuSettings: WebGpuSettings = { allowF16: false, allowSubgroups: true };

/** Whether the device could run the subgroup tier: the feature, and WGSL's subgroup_id builtin. */
export function hasSubgroups(gpu: GpuContext): boolean {
  return gpu.features.has('subgroups') && gpu.wgslFeatures.has('subgroup_id');
}

export function hasShaderF16(gpu: GpuContext): boolean {
  return gpu.features.has('shader-f16');
}

/** Whether kernels dispatched now use subgroup reductions. */
export function subgroupTier(gpu: GpuContext): boolean {
  return webgpuSettings.allowSubgroups && hasSubgroups(gpu);
}

/** Whether GEMMs dispatched now stage their tiles as f16. */
export function f16Tier(gpu: GpuContext): boolean {
  return webgpuSettings.allowF16 && hasShaderF16(gpu);
}

export interface TierReport {
  readonly adapter: string;
  /** What the device offers. */
  readonly available: { readonly subgroups: boolean; readonly shaderF16: boolean };
  /** What kernels dispatched now use (available and allowed). */
  readonly active: { readonly subgroups: boolean; readonly f16: boolean };
}

export function tiersOf(gpu: GpuContext): TierReport {
  return {
    adapter: gpu.adapterName,
    available: { subgroups: hasSubgroups(gpu), shaderF16: hasShaderF16(gpu) },
    active: { subgroups: subgroupTier(gpu), f16: f16Tier(gpu) },
  };
}
