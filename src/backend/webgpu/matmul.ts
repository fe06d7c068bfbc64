/** Batched matmul with either operand transposed, on the tiled GEMM. */
import type { Kernels, MatmulDesc } from '../kernels.js';
import { alloc, run, type GpuStorage, type WebGpuCtx } from './common.js';
import type { GpuRange } from './context.js';
import { GEMM_PARAMS, gemmGroups, gemmKernel } from './gemm.js';
import { kernel } from './wgsl.js';

export function matmulKernels(c: WebGpuCtx): Pick<Kernels<GpuStorage>, 'matmul'> {
  return {
    matmul(a: GpuStorage, b: GpuStorage, d: MatmulDesc): GpuStorage {
      const out = alloc(c, d.batch * d.m * d.n);
      const key = `matmul.${d.transA ? 't' : 'n'}${d.transB ? 't' : 'n'}`;
      const spec = gemmKernel(c, key, () => ({
        bindings: 'A:r B:r O:w',
        params: GEMM_PARAMS,
        gemm: {
          aAlongM: d.transA,
          bAlongN: !d.transB,
          helpers: `
fn loadA(b: u32, m: u32, k: u32) -> f32 { return A[b * P.M * P.K + ${d.transA ? 'k * P.M + m' : 'm * P.K + k'}]; }
fn loadB(b: u32, k: u32, n: u32) -> f32 { return B[b * P.K * P.N + ${d.transB ? 'n * P.K + k' : 'k * P.N + n'}]; }
fn store(b: u32, split: u32, m: u32, n: u32, v: f32) { O[b * P.M * P.N + m * P.N + n] = v; }`,
        },
      }));
      const limit = c.gpu.limits.maxStorageBufferBindingSize;
      if (Math.max(a.numel, b.numel, out.numel) * 4 > limit) {
        splitMatmul(c, a, b, out, d, limit);
        return out;
      }
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

/** The GEMM with leading dimensions and offsets, for operands bound in parts. */
const GENERAL = (c: WebGpuCtx, transA: boolean, transB: boolean) => gemmKernel(c, `matmul.general.${transA ? 't' : 'n'}${transB ? 't' : 'n'}`, () => ({
  bindings: 'A:r B:r O:w',
  params: `${GEMM_PARAMS} lda:u32 ldb:u32 ldo:u32 aOff:u32 bOff:u32 oOff:u32 accumulate:u32`,
  gemm: {
    aAlongM: transA,
    bAlongN: !transB,
    helpers: `
fn loadA(b: u32, m: u32, k: u32) -> f32 { return A[P.aOff + ${transA ? 'k * P.lda + m' : 'm * P.lda + k'}]; }
fn loadB(b: u32, k: u32, n: u32) -> f32 { return B[P.bOff + ${transB ? 'n * P.ldb + k' : 'k * P.ldb + n'}]; }
fn store(b: u32, split: u32, m: u32, n: u32, v: f32) {
  let o = P.oOff + m * P.ldo + n;
  if (P.accumulate != 0u) { O[o] = O[o] + v; } else { O[o] = v; }
}`,
  },
}));

/** A part of s starting at value `first`, bound from the 256-byte boundary at or below it; `skew` values precede `first`. */
function part(s: GpuStorage, first: number, count: number): { range: GpuRange; skew: number } {
  const start = Math.floor(first / 64) * 64;
  const skew = first - start;
  return { range: { buffer: s.buf, offset: start * 4, size: Math.max(4, (count + skew) * 4) }, skew };
}

/**
 * A matmul whose operands exceed the adapter's storage binding limit (VGG-11's 25088×4096
 * classifier weight is 392 MiB; lavapipe binds 128 MiB): chunk rows of the output, columns of
 * B and the depth so that every bound part fits, and accumulate over depth chunks.
 */
function splitMatmul(c: WebGpuCtx, a: GpuStorage, b: GpuStorage, out: GpuStorage, d: MatmulDesc, limitBytes: number): void {
  if (d.batch !== 1) throw new Error(`webgpu matmul: a batched product (${d.batch}×) over the ${(limitBytes / 2 ** 20).toFixed(0)} MiB storage binding limit is not supported; use a smaller batch`);
  const { m: M, n: N, k: K, transA, transB } = d;
  // Values per bound part, less the up to 63 values a part may start early for alignment.
  const cap = Math.floor(limitBytes / 4) - 64;
  // Bound parts: A rows m (or, transposed, rows k); B rows n (transposed) or rows k; O rows m.
  const mRow = Math.max(N, transA ? 1 : K);
  const kRow = Math.max(transA ? M : 1, transB ? 1 : N);
  const mc = Math.min(M, Math.floor(cap / mRow));
  const nc = transB ? Math.min(N, Math.floor(cap / K)) : N;
  const kc = Math.min(K, Math.floor(cap / kRow));
  if (mc < 1 || nc < 1 || kc < 1) {
    throw new Error(`webgpu matmul ${M}×${K}×${N}: no split fits the ${(limitBytes / 2 ** 20).toFixed(2)} MiB storage binding limit`);
  }
  const spec = GENERAL(c, transA, transB);
  for (let m0 = 0; m0 < M; m0 += mc) {
    const mn = Math.min(mc, M - m0);
    for (let n0 = 0; n0 < N; n0 += nc) {
      const nn = Math.min(nc, N - n0);
      for (let k0 = 0; k0 < K; k0 += kc) {
        const kn = Math.min(kc, K - k0);
        const ap = transA ? part(a, k0 * M, kn * M) : part(a, m0 * K, mn * K);
        const bp = transB ? part(b, n0 * K, nn * K) : part(b, k0 * N, kn * N);
        const op = part(out, m0 * N, mn * N);
        c.gpu.dispatch(spec, [ap.range, bp.range, op.range], [
          mn, nn, kn, 1, kn, transA ? M : K, transB ? K : N, N,
          ap.skew + (transA ? m0 : k0), bp.skew + (transB ? k0 : n0), op.skew + n0, k0 > 0 ? 1 : 0,
        ], gemmGroups(mn, nn, 1));
      }
    }
  }
}
