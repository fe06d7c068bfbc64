/**
 * Which convolution kernel runs for a shape and pass, decided by timing, as
 * the cpu backend decides its plans. A shape's first calls use a rule of thumb
 * (direct kernels for few channels, the implicit GEMM otherwise) and queue a
 * timing job; the job runs when the host next waits for the GPU anyway
 * (settle or finish), on scratch inputs of the same shape, each variant in its
 * own submits, and its winner serves the shape from then on.
 */
import type { Conv2dDesc } from '../kernels.js';
import { alloc, type GpuStorage, type WebGpuCtx } from './common.js';
import { preferDirect } from './conv-direct.js';
import { f16Tier } from './tiers.js';

export type Pass = 'forward' | 'data' | 'weight';
export type Variant = 'direct' | 'gemm';

export interface ConvVariants {
  forward: Record<Variant, (x: GpuStorage, w: GpuStorage, bias: GpuStorage | null, d: Conv2dDesc) => GpuStorage>;
  data: Record<Variant, (dy: GpuStorage, w: GpuStorage, d: Conv2dDesc) => GpuStorage>;
  weight: Record<Variant, (x: GpuStorage, dy: GpuStorage, d: Conv2dDesc) => GpuStorage>;
}

const ROUNDS = 3;

export class ConvTuner {
  private readonly chosen = new Map<string, Variant>();
  private readonly queued = new Set<string>();
  constructor(private readonly c: WebGpuCtx, private readonly variants: ConvVariants) {}

  /** Timings (ms, best of ROUNDS) and the choice per shape, kept on the context for tests and diagnostics. */
  private get timings(): Map<string, { direct: number; gemm: number; chosen: Variant }> {
    return this.c.gpu.convTuning;
  }

  private key(pass: Pass, d: Conv2dDesc): string {
    // The f16 tier's GEMM is another contender against the direct kernel, so it is timed afresh.
    const tier = f16Tier(this.c.gpu) ? ':f16' : '';
    return `${pass}:${d.n},${d.c},${d.h},${d.w},${d.oc},${d.kh},${d.kw},${d.sh},${d.sw},${d.ph},${d.pw},${d.activation ?? ''}${tier}`;
  }

  pick(pass: Pass, d: Conv2dDesc): Variant {
    const key = this.key(pass, d);
    const have = this.chosen.get(key);
    if (have) return have;
    if (!this.queued.has(key)) {
      this.queued.add(key);
      this.c.gpu.whenIdle(() => this.tune(key, pass, d));
    }
    return preferDirect(d, pass) ? 'direct' : 'gemm';
  }

  /** Run one variant once on scratch inputs, in its own submit, and time it to completion. */
  private async timeOnce(pass: Pass, d: Conv2dDesc, v: Variant, inputs: GpuStorage[]): Promise<number> {
    const gpu = this.c.gpu;
    gpu.flush();
    const t0 = performance.now();
    const out = pass === 'forward' ? this.variants.forward[v](inputs[0], inputs[1], null, d)
      : pass === 'data' ? this.variants.data[v](inputs[0], inputs[1], d)
        : this.variants.weight[v](inputs[0], inputs[1], d);
    gpu.flush();
    await gpu.device.queue.onSubmittedWorkDone();
    const ms = performance.now() - t0;
    out.discard();
    return ms;
  }

  private async tune(key: string, pass: Pass, d: Conv2dDesc): Promise<void> {
    const x = d.n * d.c * d.h * d.w;
    const w = d.oc * d.c * d.kh * d.kw;
    const y = d.n * d.oc * d.oh * d.ow;
    const sizes = pass === 'forward' ? [x, w] : pass === 'data' ? [y, w] : [x, y];
    const inputs = sizes.map((n) => {
      const s = alloc(this.c, n);
      this.c.backend().kernels.fillInplace?.(s, 0.5);
      return s;
    });
    const best: Record<Variant, number> = { direct: Infinity, gemm: Infinity };
    try {
      for (let r = 0; r < ROUNDS; r++) {
        for (const v of ['direct', 'gemm'] as const) best[v] = Math.min(best[v], await this.timeOnce(pass, d, v, inputs));
      }
      const chosen: Variant = best.direct <= best.gemm ? 'direct' : 'gemm';
      this.chosen.set(key, chosen);
      this.timings.set(key, { ...best, chosen });
    } finally {
      for (const s of inputs) s.discard();
    }
  }
}
