/// <reference types="@webgpu/types" preserve="true" />
/** What every webgpu kernel file shares: the context, new output storages and dispatch. */
import { Storage } from '../storage.js';
import type { Backend } from '../kernels.js';
import type { GpuContext, KernelSpec, ParamValues } from './context.js';
import { elementGroups } from './wgsl.js';

export type GpuStorage = Storage<GPUBuffer>;
export type GpuBackend = Backend<GPUBuffer>;

export interface WebGpuCtx {
  readonly gpu: GpuContext;
  backend(): GpuBackend;
}

/** A new storage of n values (contents undefined) from the device pool. */
export function alloc(c: WebGpuCtx, n: number): GpuStorage {
  const b = c.backend();
  return new Storage(b, b.memory.alloc(n), n);
}

/** Record one dispatch; storages are bound in the kernel's binding order. */
export function run(c: WebGpuCtx, spec: KernelSpec, bound: readonly GpuStorage[], params: ParamValues, groups: readonly [number, number, number]): void {
  c.gpu.dispatch(spec, bound.map((s) => s.buf), params, groups);
}

/** Workgroups for one thread per element of n. */
export function groupsFor(c: WebGpuCtx, n: number): [number, number, number] {
  return elementGroups(n, c.gpu.limits.maxComputeWorkgroupsPerDimension);
}

/** Workgroups for one workgroup per item of n (a row, an output), folded into 2-D past the per-dimension limit. */
export function groupsPerItem(c: WebGpuCtx, n: number): [number, number, number] {
  const gy = Math.max(1, Math.ceil(n / c.gpu.limits.maxComputeWorkgroupsPerDimension));
  return [Math.ceil(n / gy), gy, 1];
}

/** WGSL helpers several kernels use: NaN tests that no fast-math rewrite can fold away. */
export const NAN_HELPERS = `
fn isNan(v: f32) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u; }
// Not consts: a WGSL const-expression may not be NaN or infinite, so these are built at run time.
var<private> NAN_BITS: u32 = 0x7fc00000u;
var<private> INF_BITS: u32 = 0x7f800000u;
fn nanf() -> f32 { return bitcast<f32>(NAN_BITS); }
fn inff() -> f32 { return bitcast<f32>(INF_BITS); }
`;
