/**
 * Kernel profiler: with TORCHLET_PROFILE_KERNELS=1 (or =shapes, to split convolutions, batch
 * norms and matrix products by shape) every kernel call is timed
 * (kernels run synchronously, so wall time around the call is its cost) and a
 * table of total time per kernel is printed to stderr when the process exits.
 * This is how the per-network "biggest remaining cost" figures are measured.
 */
import type { KernelName } from '../backend/kernels.js';
import type { AnyKernels } from '../backend/registry.js';

interface Row { calls: number; ms: number }

const rows = new Map<string, Row>();
let hooked = false;

/** A shape, for TORCHLET_PROFILE_KERNELS=shapes: a convolution's or batch norm's descriptor among the arguments. */
function shapeOf(args: unknown[]): string | null {
  for (const a of args) {
    if (typeof a !== 'object' || a === null) continue;
    const d = a as Record<string, unknown>;
    if (typeof d.oc === 'number' && typeof d.kh === 'number') return `${d.c}->${d.oc} ${d.kh}x${d.kw} on ${d.h}x${d.w}`;
    if (typeof d.spatial === 'number' && typeof d.eps === 'number') return `${d.c}x${d.spatial}`;
    if (typeof d.m === 'number' && typeof d.k === 'number' && typeof d.n === 'number') {
      return `${d.batch !== 1 ? `${d.batch}x` : ''}${d.m}x${d.k}${d.transA ? 'ᵀ' : ''} · ${d.k}x${d.n}${d.transB ? 'ᵀ' : ''}`;
    }
  }
  return null;
}

/** A label that separates calls worth telling apart (unary/binary op names, conv passes; shapes when asked). */
function label(name: string, args: unknown[]): string {
  const first = args[0];
  let l = typeof first === 'string' ? `${name}:${first}` : name;
  if (byShape) {
    const s = shapeOf(args);
    if (s) l += ` [${s}]`;
  }
  return l;
}

const byShape = process.env.TORCHLET_PROFILE_KERNELS === 'shapes';

function report(): void {
  const total = [...rows.values()].reduce((s, r) => s + r.ms, 0);
  const sorted = [...rows.entries()].sort((a, b) => b[1].ms - a[1].ms);
  const lines = [`kernel profile (total ${total.toFixed(1)} ms in kernels)`];
  for (const [name, r] of sorted) {
    lines.push(`${name.padEnd(byShape ? 60 : 34)} ${r.calls.toString().padStart(7)} calls ${r.ms.toFixed(1).padStart(10)} ms ${(100 * r.ms / total).toFixed(1).padStart(5)}%`);
  }
  process.stderr.write(lines.join('\n') + '\n');
}

export function profilingEnabled(): boolean {
  const v = process.env.TORCHLET_PROFILE_KERNELS;
  return v !== undefined && v !== '' && v !== '0';
}

/** Wrap every kernel so its calls and time are counted. */
export function profileKernels(kernels: AnyKernels): AnyKernels {
  if (!hooked) {
    hooked = true;
    process.on('exit', report);
  }
  const out = {} as Record<KernelName, unknown>;
  for (const [name, fn] of Object.entries(kernels) as [KernelName, (...a: unknown[]) => unknown][]) {
    out[name] = (...args: unknown[]): unknown => {
      const t0 = performance.now();
      try {
        return fn(...args);
      } finally {
        const key = label(name, args);
        const r = rows.get(key) ?? { calls: 0, ms: 0 };
        r.calls++;
        r.ms += performance.now() - t0;
        rows.set(key, r);
      }
    };
  }
  return out as AnyKernels;
}

/** Forget what has been counted (to leave warm-up steps out). */
export function resetKernelProfile(): void {
  rows.clear();
}
