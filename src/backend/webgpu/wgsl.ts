/**
 * Small helpers for writing kernels: the parameter struct, the one-thread-per-
 * element entry point (a 2-D grid of workgroups, so more than 65,535·256
 * elements fit), and a memo so each distinct shader text is built once.
 */
import type { KernelSpec } from './context.js';

export type ParamType = 'u32' | 'i32' | 'f32';
export interface ParamSpec { readonly name: string; readonly type: ParamType }
export type Binding = readonly [name: string, access: 'r' | 'w'];

/** Threads per workgroup of the elementwise kernels. */
export const WG = 256;

export function paramsLayout(params: readonly ParamSpec[]): string {
  const fields = params.length > 0 ? params.map((p) => `  ${p.name}: ${p.type},`) : ['  unused: u32,'];
  return `struct Params {\n${fields.join('\n')}\n}`;
}

function parseParams(s: string): ParamSpec[] {
  return s.split(/\s+/).filter(Boolean).map((t) => {
    const [name, type] = t.split(':');
    if (type !== 'u32' && type !== 'i32' && type !== 'f32') throw new Error(`webgpu: bad parameter '${t}'`);
    return { name, type };
  });
}

function parseBindings(s: string): Binding[] {
  return s.split(/\s+/).filter(Boolean).map((t) => {
    const [name, access] = t.split(':');
    if (access !== 'r' && access !== 'w') throw new Error(`webgpu: bad binding '${t}'`);
    return [name, access] as const;
  });
}

const specs = new Map<string, KernelSpec>();

/**
 * A kernel, built once per key. `bindings` is e.g. 'x:r y:w' and `params`
 * e.g. 'n:u32 scale:f32'; the body reads parameters as `P.name`. `enables`
 * names WGSL extensions ('subgroups', 'f16') the body needs; a kernel tier
 * that uses one must have its own key, since the key is the pipeline's.
 */
export function kernel(key: string, make: () => { bindings: string; params: string; body: string; enables?: readonly string[] }): KernelSpec {
  let s = specs.get(key);
  if (!s) {
    const m = make();
    s = { key, bindings: parseBindings(m.bindings), params: parseParams(m.params), body: m.body, enables: m.enables ?? [] };
    specs.set(key, s);
  }
  return s;
}

/** An entry point with one thread per index `i` below `count` (a WGSL expression). */
export function perElement(count: string, body: string): string {
  return `@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * ${WG}u + lid;
  if (i >= ${count}) { return; }
${body}
}`;
}

/** Workgroups for n threads of `perElement`, folded into 2-D past the per-dimension limit. */
export function elementGroups(n: number, maxPerDim = 65535): [number, number, number] {
  const groups = Math.ceil(n / WG);
  if (groups <= maxPerDim) return [groups, 1, 1];
  const y = Math.ceil(groups / maxPerDim);
  return [Math.ceil(groups / y), y, 1];
}
