/**
 * Reductions. Adjacent dims that are all reduced or all kept are merged first
 * (as in reference/reduce.ts), so the kernel indexes few dims. Short
 * reductions take one thread per output; long ones one workgroup per output,
 * combined by wgreduce.ts (a workgroup-memory tree, or subgroup operations
 * where the device has them).
 */
import type { Kernels, ReduceOp } from '../kernels.js';
import { alloc, groupsFor, groupsPerItem, NAN_HELPERS, run, type GpuStorage, type WebGpuCtx } from './common.js';
import { kernel, perElement, WG } from './wgsl.js';
import { mergeDims } from '../reference/reduce.js';
import { subgroupTier } from './tiers.js';
import { tierKey, WG_FN, wgReduce } from './wgreduce.js';

const MAX_BLOCKS = 8;
/** Reductions at most this long run one thread per output. */
const SHORT = 64;

/** The reference's merge of adjacent kept/reduced dims, after dropping size-1 dims (they index nothing). */
function merge(shape: readonly number[], axes: readonly number[]): { dims: number[]; reduced: boolean[] } {
  const kept = shape.map((d, i) => [d, i] as const).filter(([d]) => d !== 1);
  return mergeDims(kept.map(([d]) => d), kept.flatMap(([, i], k) => (axes.includes(i) ? [k] : [])));
}

const INIT: Record<ReduceOp, string> = { sum: '0.0', max: '-inff()', min: 'inff()' };
const COMBINE: Record<ReduceOp, string> = {
  sum: 'acc + v',
  max: 'select(acc, v, v > acc || isNan(v))',
  min: 'select(acc, v, v < acc || isNan(v))',
};

/** WGSL computing `off` (the input offset) from `o` (output index) and `r` (reduction index). */
function offsetCode(reduced: readonly boolean[]): string {
  let code = '  var off = 0u;\n  var ro = o;\n  var rr = r;\n';
  for (let d = reduced.length - 1; d >= 0; d--) {
    const v = reduced[d] ? 'rr' : 'ro';
    code += `  { let q = ${v} % P.d${d}; ${v} = ${v} / P.d${d}; off += q * P.s${d}; }\n`;
  }
  return code;
}

export function reduceKernels(c: WebGpuCtx): Pick<Kernels<GpuStorage>, 'reduce' | 'argmax'> {
  return {
    reduce(op: ReduceOp, x: GpuStorage, shape: readonly number[], axes: readonly number[]): GpuStorage {
      const { dims, reduced } = merge(shape, axes);
      let outN = 1;
      let R = 1;
      dims.forEach((d, i) => (reduced[i] ? (R *= d) : (outN *= d)));
      const y = alloc(c, outN);
      if (dims.length > MAX_BLOCKS) throw new Error(`webgpu reduce: ${dims.length} alternating kept/reduced dim blocks (at most ${MAX_BLOCKS})`);
      const strides = new Array<number>(dims.length);
      let acc = 1;
      for (let i = dims.length - 1; i >= 0; i--) {
        strides[i] = acc;
        acc *= dims[i];
      }
      const flags = reduced.map((r) => (r ? 'r' : 'k')).join('');
      const params = `nout:u32 nred:u32 ${dims.map((_, d) => `d${d}:u32 s${d}:u32`).join(' ')}`;
      const values: number[] = [outN, R];
      dims.forEach((d, i) => values.push(d, strides[i]));
      if (R <= SHORT) {
        const spec = kernel(`reduce.${op}.short.${flags}`, () => ({
          bindings: 'x:r y:w', params,
          body: `${NAN_HELPERS}\n${perElement('P.nout', `  let o = i;\n  var acc = ${INIT[op]};\n  for (var r = 0u; r < P.nred; r++) {\n${offsetCode(reduced)}    let v = x[off];\n    acc = ${COMBINE[op]};\n  }\n  y[o] = acc;`)}`,
        }));
        run(c, spec, [x, y], values, groupsFor(c, outN));
        return y;
      }
      const sg = subgroupTier(c.gpu);
      const spec = kernel(`reduce.${op}.tree.${flags}${tierKey(sg)}`, () => {
        const wr = wgReduce(sg, [op]);
        return {
          bindings: 'x:r y:w', params, enables: wr.enables,
          body: `${NAN_HELPERS}
${wr.decls}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, ${wr.params}) {
  let o = wid.y * nwg.x + wid.x;
  var acc = ${INIT[op]};
  if (o < P.nout) {
    for (var r = lid; r < P.nred; r += ${WG}u) {
${offsetCode(reduced)}      let v = x[off];
      acc = ${COMBINE[op]};
    }
  }
  let total = ${WG_FN[op]}(acc, ${wr.args});
  if (lid == 0u && o < P.nout) { y[o] = total; }
}`,
        };
      });
      run(c, spec, [x, y], values, groupsPerItem(c, outN));
      return y;
    },
    argmax(x: GpuStorage, shape: readonly number[], axis: number): GpuStorage {
      let outer = 1;
      for (let i = 0; i < axis; i++) outer *= shape[i];
      const dim = shape[axis];
      let inner = 1;
      for (let i = axis + 1; i < shape.length; i++) inner *= shape[i];
      const y = alloc(c, outer * inner);
      const spec = kernel('argmax', () => ({
        bindings: 'x:r y:w', params: 'n:u32 dim:u32 inner:u32',
        body: `${NAN_HELPERS}\n${perElement('P.n', `  let o = i / P.inner;
  let j = i % P.inner;
  var best = -inff();
  var at = 0u;
  for (var d = 0u; d < P.dim; d++) {
    let v = x[(o * P.dim + d) * P.inner + j];
    if (isNan(v)) { at = d; break; }
    if (v > best) { best = v; at = d; }
  }
  y[i] = f32(at);`)}`,
      }));
      run(c, spec, [x, y], [outer * inner, dim, inner], groupsFor(c, outer * inner));
      return y;
    },
  };
}
