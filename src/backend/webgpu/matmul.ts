/** Batched matmul with either operand transposed, on the tiled GEMM. */
import type { Kernels, MatmulDesc } from '../kernels.js';
import { alloc, run, type GpuStorage, type WebGpuCtx } from './common.js';
import { GEMM_PARAMS, gemmBody, gemmGroups } from './gemm.js';
import { kernel } from './wgsl.js';

export function matmulKernels(c: WebGpuCtx): Pick<Kernels<GpuStorage>, 'matmul'> {
  return {
    matmul(a: GpuStorage, b: GpuStorage, d: MatmulDesc): GpuStorage {
      const out = alloc(c, d.batch * d.m * d.n);
      const key = `matmul.${d.transA ? 't' : 'n'}${d.transB ? 't' : 'n'}`;
      const spec = kernel(key, () => ({
        bindings: 'A:r B:r O:w',
        params: GEMM_PARAMS,
        workgroup: [16, 16],
        body: gemmBody({
          aAlongM: d.transA,
          bAlongN: !d.transB,
          helpers: `
fn loadA(b: u32, m: u32, k: u32) -> f32 { return A[b * P.M * P.K + ${d.transA ? 'k * P.M + m' : 'm * P.K + k'}]; }
fn loadB(b: u32, k: u32, n: u32) -> f32 { return B[b * P.K * P.N + ${d.transB ? 'n * P.K + k' : 'k * P.N + n'}]; }
fn store(b: u32, split: u32, m: u32, n: u32, v: f32) { O[b * P.M * P.N + m * P.N + n] = v; }`,
        }),
      }));
      if (d.k === 0) {
        c.gpu.dispatch(FILL_ZERO(), [out.buf], [out.numel], [Math.ceil(out.numel / 256), 1, 1]);
        return out;
      }
      run(c, spec, [a, b, out], [d.m, d.n, d.k, 1, d.k], gemmGroups(d.m, d.n, d.batch));
      return out;
    },
  };
}

const FILL_ZERO = () => kernel('fill.zero', () => ({
  bindings: 'y:w', params: 'n:u32',
  body: '@compute @workgroup_size(256)\nfn main(@builtin(global_invocation_id) g: vec3u) { if (g.x < P.n) { y[g.x] = 0.0; } }',
}));
