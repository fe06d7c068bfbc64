/**
 * The tiled GEMM every matrix-shaped kernel is built from: matmul, and the
 * convolutions as implicit GEMMs (forward, backward-data, backward-weight with
 * split-K). A kernel supplies only how to load an A element (row m, depth k),
 * a B element (depth k, column n) and how to store a result; the template does
 * the tiling.
 *
 * Tiling: a 16×16 workgroup computes a 64×64 output tile, 4×4 results per
 * thread held in registers, with 16-deep slices of A and B staged in
 * workgroup memory (8 KiB, within WebGPU's default 16 KiB). Thread (tx, ty)
 * owns rows ty + 16i and columns tx + 16j, so neighbouring threads store to
 * neighbouring columns. Workgroup z indexes batch × split: with split-K each
 * split reduces its own chunk of the depth and stores a partial sum.
 *
 * The f16 tier (tiers.ts, opt-in) stages the A and B slices as f16, halving
 * workgroup memory and its traffic, and still multiplies and accumulates in
 * f32: each operand is rounded to a 10-bit mantissa once, as CUDA's TF32 does,
 * and values beyond f16's ±65504 do not survive.
 */
import type { WebGpuCtx } from './common.js';
import type { KernelSpec } from './context.js';
import { f16Tier } from './tiers.js';
import { kernel } from './wgsl.js';

export const TILE_M = 64;
export const TILE_N = 64;
export const TILE_K = 16;

export interface GemmSource {
  /**
   * WGSL defining
   *   fn loadA(b: u32, m: u32, k: u32) -> f32
   *   fn loadB(b: u32, k: u32, n: u32) -> f32
   *   fn store(b: u32, split: u32, m: u32, n: u32, v: f32)
   * Loads are only called in bounds (m < P.M, n < P.N, k within the split's chunk).
   */
  readonly helpers: string;
  /** Neighbouring threads load neighbouring rows m of A (true) or neighbouring depths k (false): pick the one contiguous in memory. */
  readonly aAlongM: boolean;
  /** Neighbouring threads load neighbouring columns n of B (true) or depths k (false). */
  readonly bAlongN: boolean;
}

/** Parameters every GEMM kernel starts with; kernels append their own. */
export const GEMM_PARAMS = 'M:u32 N:u32 K:u32 splits:u32 kChunk:u32';

/** `f16`: stage tiles as f16 (the module must `enable f16;`). */
export function gemmBody(src: GemmSource, f16 = false): string {
  const tile = f16 ? 'f16' : 'f32';
  const aIdx = src.aAlongM ? 'let kk = e / 64u; let mm = e % 64u;' : 'let kk = e % 16u; let mm = e / 16u;';
  const bIdx = src.bAlongN ? 'let kk = e / 64u; let nn = e % 64u;' : 'let kk = e % 16u; let nn = e / 16u;';
  return `${src.helpers}
var<workgroup> As: array<${tile}, 1024>;
var<workgroup> Bs: array<${tile}, 1024>;
@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let tx = lid.x;
  let ty = lid.y;
  let tid = ty * 16u + tx;
  let n0 = wid.x * 64u;
  let m0 = wid.y * 64u;
  let b = wid.z / P.splits;
  let split = wid.z % P.splits;
  let kBegin = split * P.kChunk;
  let kEnd = min(P.K, kBegin + P.kChunk);
  var acc: array<vec4<f32>, 4>;
  for (var kt = kBegin; kt < kEnd; kt += 16u) {
    for (var q = 0u; q < 4u; q++) {
      let e = tid + q * 256u;
      {
        ${aIdx}
        let m = m0 + mm;
        let k = kt + kk;
        var v = 0.0;
        if (m < P.M && k < kEnd) { v = loadA(b, m, k); }
        As[kk * 64u + mm] = ${tile}(v);
      }
      {
        ${bIdx}
        let n = n0 + nn;
        let k = kt + kk;
        var v = 0.0;
        if (n < P.N && k < kEnd) { v = loadB(b, k, n); }
        Bs[kk * 64u + nn] = ${tile}(v);
      }
    }
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk++) {
      let a = vec4<f32>(vec4<${tile}>(As[kk * 64u + ty], As[kk * 64u + ty + 16u], As[kk * 64u + ty + 32u], As[kk * 64u + ty + 48u]));
      let bv = vec4<f32>(vec4<${tile}>(Bs[kk * 64u + tx], Bs[kk * 64u + tx + 16u], Bs[kk * 64u + tx + 32u], Bs[kk * 64u + tx + 48u]));
      acc[0] += a.x * bv;
      acc[1] += a.y * bv;
      acc[2] += a.z * bv;
      acc[3] += a.w * bv;
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let m = m0 + ty + 16u * i;
    if (m >= P.M) { continue; }
    let row = acc[i];
    for (var j = 0u; j < 4u; j++) {
      let n = n0 + tx + 16u * j;
      if (n < P.N) { store(b, split, m, n, row[j]); }
    }
  }
}`;
}

/**
 * A GEMM kernel in the tier in effect now: `key` names the plain f32 kernel, and the f16 tier's
 * gets '.f16' appended (its own pipeline).
 */
export function gemmKernel(c: WebGpuCtx, key: string, make: () => { bindings: string; params: string; gemm: GemmSource }): KernelSpec {
  const f16 = f16Tier(c.gpu);
  return kernel(f16 ? `${key}.f16` : key, () => {
    const m = make();
    return { bindings: m.bindings, params: m.params, enables: f16 ? ['f16'] : [], body: gemmBody(m.gemm, f16) };
  });
}

/** Workgroups for an M×N result over `batch` × `splits` slices. */
export function gemmGroups(m: number, n: number, batchTimesSplits: number): [number, number, number] {
  return [Math.ceil(n / TILE_N), Math.ceil(m / TILE_M), batchTimesSplits];
}
