/**
 * What the cpu backend's kernel families share: the addon, output buffers from
 * the host pool, and oneDNN's channel-blocked activation layouts.
 *
 * A convolution leaves its output in nChw16c/8c when the channels fill whole
 * blocks; the layout is recorded on the output's Storage with the way back to
 * row-major. Kernels that read blocked inputs as they are (convolution,
 * pooling, elementwise, channel concat and slice) look at `storage.layout`;
 * every other kernel asks for `rowMajor(storage)`, which converts once.
 */
import { hostMemory, hostStorage, rowMajor, type HostBackend, type HostStorage } from '../host.js';
import type { Layout } from '../storage.js';
import type { CpuNative } from './addon.js';

export interface CpuContext {
  readonly nat: CpuNative;
  /** The backend, for the storages kernels return. */
  readonly backend: () => HostBackend;
  /** Whether kernels may leave activations blocked (TORCHLET_BLOCKED_ACTIVATIONS=0 turns it off). */
  readonly keepBlocked: boolean;
}

/**
 * Below this many elements a call into native code (argument checks, a cached
 * primitive's execute, thread wake-up) costs more than the JS loop it replaces.
 */
export const SMALL = 1024;

/** An output buffer the kernel overwrites entirely, from the host pool (contents undefined). */
export function alloc(n: number): Float32Array {
  return hostMemory.alloc(n);
}

export function own(ctx: CpuContext, buf: Float32Array, layout: Layout | null = null): HostStorage {
  return hostStorage(ctx.backend(), buf, layout);
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Whether two storages are in the same blocked layout (same block and dims). */
export function sameLayout(a: Layout | null, b: Layout | null): boolean {
  if (!a || !b) return a === b;
  return a.block === b.block && sameDims(a.dims, b.dims);
}

/** Run an elementwise kernel on same-layout inputs as they are (the output takes their layout), or on row-major ones. */
export function elementwise(ctx: CpuContext, inputs: HostStorage[], run: (...xs: Float32Array[]) => Float32Array): HostStorage {
  const l = inputs[0].layout;
  if (l && inputs.every((s) => sameLayout(s.layout, l))) return own(ctx, run(...inputs.map((s) => s.buf)), l);
  return own(ctx, run(...inputs.map(rowMajor)));
}

/** An activation input as [buffer, channel block]: blocked as it is when its layout has these dims, else row-major. */
export function activationIn(s: HostStorage, dims: readonly number[]): [Float32Array, number] {
  const l = s.layout;
  if (l && sameDims(l.dims, dims)) return [s.buf, l.block];
  return [rowMajor(s), 0];
}

const layouts = new Map<string, Layout>();
/** The (shared, immutable) layout record for a blocked activation of these dims. */
export function blockedLayout(nat: CpuNative, dims: readonly number[], block: number): Layout {
  const key = `${block}:${dims.join(',')}`;
  let l = layouts.get(key);
  if (!l) {
    const [n, c, h, w] = dims;
    l = {
      name: `nChw${block}c [${dims.join(',')}]`,
      block,
      dims: [...dims],
      toRowMajor: (buf: unknown): Float32Array => {
        const src = buf as Float32Array;
        const out = alloc(src.length);
        nat.reorderActivation(src, block, out, 0, n, c, h, w);
        return out;
      },
    };
    if (layouts.size > 4096) layouts.clear();
    layouts.set(key, l);
  }
  return l;
}

/** Zero-sized problems (which oneDNN rejects) take the reference path. */
export function anyZero(...dims: number[]): boolean {
  return dims.some((v) => v <= 0);
}
