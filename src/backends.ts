/**
 * torch.backends: switches for how backends compute, in PyTorch's place for
 * them (torch.backends.cuda.matmul.allow_tf32 there). Reads and writes go
 * straight to the backend's settings and take effect for the next op.
 *
 *   torch.backends.webgpu.allowF16 = true;      // GEMM tiles in f16, f32 accumulation
 *   torch.backends.webgpu.allowSubgroups = false; // force the plain f32 reductions
 *   torch.backends.webgpu.tiers();              // what the open GPU offers and uses
 */
import { webgpuSettings, tiersOf, type TierReport } from './backend/webgpu/tiers.js';
import { gpuContext } from './gpu.js';

export type { TierReport } from './backend/webgpu/tiers.js';

function flag(name: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw new TypeError(`torch.backends.webgpu.${name} must be true or false, got ${String(v)}`);
  return v;
}

export const webgpu = {
  /**
   * Let matmul and the convolutions' implicit GEMMs stage their tiles as f16 (accumulating in
   * f32): each operand keeps 11 significant bits (errors of about 3e-4 of the output's scale on
   * random inputs), and inputs beyond ±65504 overflow. Default false. Where the
   * adapter has no 'shader-f16' it is a no-op, as allow_tf32 is on GPUs without TF32: check tiers().
   */
  get allowF16(): boolean {
    return webgpuSettings.allowF16;
  },
  set allowF16(v: boolean) {
    webgpuSettings.allowF16 = flag('allowF16', v);
  },
  /**
   * Reduce with subgroup operations where the adapter has 'subgroups' (default true; in Node,
   * TORCHLET_GPU_SUBGROUPS=0 starts it false). Results match the plain tier to rounding.
   */
  get allowSubgroups(): boolean {
    return webgpuSettings.allowSubgroups;
  },
  set allowSubgroups(v: boolean) {
    webgpuSettings.allowSubgroups = flag('allowSubgroups', v);
  },
  /**
   * allowF16 = true, demanded: throws, naming the adapter, where it would be a quiet no-op (no
   * shader-f16, or no GPU open). For benchmarks, which must not time f32 while reporting f16.
   */
  requireF16(): void {
    const t = this.tiers();
    if (!t?.available.shaderF16) {
      throw new Error(`--allow-f16: the gpu adapter '${t?.adapter ?? 'none (no GPU open)'}' has no shader-f16, so its GEMMs cannot stage tiles in f16; run without --allow-f16`);
    }
    webgpuSettings.allowF16 = true;
  },
  /** The open GPU's adapter, the tiers it offers and those in effect now; null before initGpu(). */
  tiers(): TierReport | null {
    const ctx = gpuContext();
    return ctx?.alive ? tiersOf(ctx) : null;
  },
};
