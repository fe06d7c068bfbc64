/** Data movement: permute, concat, slice and expand, one thread per output element. */
import type { Kernels } from '../kernels.js';
import { alloc, groupsFor, run, type GpuStorage, type WebGpuCtx } from './common.js';
import { kernel, perElement } from './wgsl.js';
import { stridesFor } from '../reference/strides.js';

const MAX_RANK = 8;

/** WGSL: the source offset `src` of output element i, walking dims o{d} with source strides s{d}. */
function gatherCode(rank: number): string {
  let code = '  var rem = i;\n  var src = 0u;\n';
  for (let d = rank - 1; d >= 0; d--) code += `  { let q = rem % P.o${d}; rem = rem / P.o${d}; src += q * P.s${d}; }\n`;
  return code;
}

/** Drop size-1 output dims and merge runs whose source strides line up, so the gather indexes few dims. */
function simplify(outShape: readonly number[], srcStrides: readonly number[]): { dims: number[]; strides: number[] } {
  const dims: number[] = [];
  const strides: number[] = [];
  for (let i = 0; i < outShape.length; i++) {
    if (outShape[i] === 1) continue;
    const k = dims.length - 1;
    if (k >= 0 && strides[k] === srcStrides[i] * outShape[i]) {
      dims[k] *= outShape[i];
      strides[k] = srcStrides[i];
    } else {
      dims.push(outShape[i]);
      strides.push(srcStrides[i]);
    }
  }
  return { dims, strides };
}

export function movementKernels(c: WebGpuCtx): Pick<Kernels<GpuStorage>, 'permute' | 'concat' | 'slice' | 'expand'> {
  /** out[i] = x[offset of i under (dims, strides)]. */
  const gather = (x: GpuStorage, outShape: readonly number[], srcStrides: readonly number[], what: string): GpuStorage => {
    const n = outShape.reduce((a, b) => a * b, 1);
    const y = alloc(c, n);
    const { dims, strides } = simplify(outShape, srcStrides);
    const r = dims.length;
    if (r > MAX_RANK) throw new Error(`webgpu ${what}: ${r} dims after merging (at most ${MAX_RANK})`);
    const spec = kernel(`gather${r}`, () => ({
      bindings: 'x:r y:w',
      params: `n:u32 ${Array.from({ length: r }, (_, d) => `o${d}:u32 s${d}:u32`).join(' ')}`,
      body: perElement('P.n', `${gatherCode(r)}  y[i] = x[src];`),
    }));
    const values: number[] = [n];
    for (let d = 0; d < r; d++) values.push(dims[d], strides[d]);
    run(c, spec, [x, y], values, groupsFor(c, n));
    return y;
  };

  return {
    permute(x, shape, perm) {
      const st = stridesFor(shape);
      return gather(x, perm.map((p) => shape[p]), perm.map((p) => st[p]), 'permute');
    },
    expand(x, shape, outShape) {
      const st = stridesFor(shape).map((s, i) => (shape[i] === 1 ? 0 : s));
      return gather(x, outShape, st, 'expand');
    },
    slice(x, outer, dim, inner, start, len) {
      const y = alloc(c, outer * len * inner);
      const spec = kernel('slice', () => ({
        bindings: 'x:r y:w', params: 'n:u32 dim:u32 inner:u32 start:u32 len:u32',
        body: perElement('P.n', '  let block = P.len * P.inner;\n  let o = i / block;\n  let rem = i % block;\n  y[i] = x[(o * P.dim + P.start) * P.inner + rem];'),
      }));
      run(c, spec, [x, y], [outer * len * inner, dim, inner, start, len], groupsFor(c, outer * len * inner));
      return y;
    },
    concat(parts, dims, outer, inner) {
      const total = dims.reduce((a, b) => a + b, 0);
      const y = alloc(c, outer * total * inner);
      const spec = kernel('concat.part', () => ({
        bindings: 'x:r y:w', params: 'n:u32 dim:u32 inner:u32 total:u32 offset:u32',
        body: perElement('P.n', '  let block = P.dim * P.inner;\n  let o = i / block;\n  let rem = i % block;\n  y[(o * P.total + P.offset) * P.inner + rem] = x[i];'),
      }));
      let offset = 0;
      parts.forEach((p, k) => {
        const n = outer * dims[k] * inner;
        run(c, spec, [p, y], [n, dims[k], inner, total, offset], groupsFor(c, n));
        offset += dims[k];
      });
      return y;
    },
  };
}
