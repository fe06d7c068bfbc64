/**
 * Batch normalisation over x viewed as [n, c, spatial]. Per-channel sums run
 * one workgroup per channel, combined by wgreduce.ts (mean first, then the
 * variance about it, as the reference does, for accuracy); normalisation and
 * the fused activation run one thread per element.
 */
import type { BatchNormDesc, Kernels } from '../kernels.js';
import { alloc, groupsFor, run, type GpuStorage, type WebGpuCtx } from './common.js';
import { MATH_HELPERS, actCode } from './elementwise.js';
import { kernel, perElement, WG } from './wgsl.js';
import { subgroupTier } from './tiers.js';
import { tierKey, wgReduce } from './wgreduce.js';

const DESC = 'n:u32 c:u32 spatial:u32 eps:f32 act:u32';

function desc(d: BatchNormDesc): number[] {
  return [d.n, d.c, d.spatial, d.eps, actCode(d.activation)];
}

/** WGSL: the flat index of a channel's j-th value. */
const AT = `
fn at(ch: u32, j: u32) -> u32 { return ((j / P.spatial) * P.c + ch) * P.spatial + j % P.spatial; }`;

const NORMALISE = kernel('bn.normalise', () => ({
  bindings: 'X:r G:r B:r M:r V:r Y:w', params: `total:u32 ${DESC}`,
  body: `${MATH_HELPERS}\n${perElement('P.total', `  let ch = (i / P.spatial) % P.c;
  let scale = G[ch] / sqrt(V[ch] + P.eps);
  let shift = B[ch] - M[ch] * scale;
  Y[i] = act(P.act, X[i] * scale + shift);`)}`,
}));

export function batchNormKernels(c: WebGpuCtx): Pick<Kernels<GpuStorage>, 'batchNormTrain' | 'batchNormInference' | 'batchNormBackward'> {
  const normalise = (x: GpuStorage, g: GpuStorage, b: GpuStorage, m: GpuStorage, v: GpuStorage, d: BatchNormDesc): GpuStorage => {
    const y = alloc(c, x.numel);
    run(c, NORMALISE, [x, g, b, m, v, y], [x.numel, ...desc(d)], groupsFor(c, x.numel));
    return y;
  };
  return {
    batchNormTrain(x, gamma, beta, d) {
      const mean = alloc(c, d.c);
      const variance = alloc(c, d.c);
      const sg = subgroupTier(c.gpu);
      const wr = wgReduce(sg, ['sum']);
      const stats = kernel(`bn.stats${tierKey(sg)}`, () => ({
        bindings: 'X:r M:w V:w', params: DESC, enables: wr.enables,
        body: `${AT}
${wr.decls}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, ${wr.params}) {
  let ch = wid.x;
  let count = P.n * P.spatial;
  var s = 0.0;
  for (var j = lid; j < count; j += ${WG}u) { s += X[at(ch, j)]; }
  let mean = wgSum(s, ${wr.args}) / f32(count);
  var q = 0.0;
  for (var j = lid; j < count; j += ${WG}u) { let t = X[at(ch, j)] - mean; q += t * t; }
  let variance = wgSum(q, ${wr.args}) / f32(count);
  if (lid == 0u) { M[ch] = mean; V[ch] = variance; }
}`,
      }));
      run(c, stats, [x, mean, variance], desc(d), [d.c, 1, 1]);
      return { y: normalise(x, gamma, beta, mean, variance, d), mean, variance };
    },
    batchNormInference(x, gamma, beta, mean, variance, d) {
      return normalise(x, gamma, beta, mean, variance, d);
    },
    batchNormBackward(x, dy, gamma, mean, variance, d, y) {
      if (d.activation && !y) throw new Error('batchNormBackward: a fused activation needs the output y');
      const dgamma = alloc(c, d.c);
      const dbeta = alloc(c, d.c);
      // The gradient of the normalised values, through the fused activation (from its output y).
      const DYN = `
fn dyn(i: u32) -> f32 {
  let g = DY[i];
  switch (P.act) {
    case 1u: { return select(0.0, g, Yo[i] > 0.0); }
    case 2u: { let s = Yo[i]; return g * s * (1.0 - s); }
    case 3u: { let t = Yo[i]; return g * (1.0 - t * t); }
    default: { return g; }
  }
}`;
      const sg = subgroupTier(c.gpu);
      const wr = wgReduce(sg, ['sum2']);
      const sums = kernel(`bn.bwd.sums${tierKey(sg)}`, () => ({
        bindings: 'X:r DY:r Yo:r M:r V:r DG:w DB:w', params: DESC, enables: wr.enables,
        body: `${AT}${DYN}
${wr.decls}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, ${wr.params}) {
  let ch = wid.x;
  let count = P.n * P.spatial;
  let mu = M[ch];
  let invstd = 1.0 / sqrt(V[ch] + P.eps);
  var sdy = 0.0;
  var sdyx = 0.0;
  for (var j = lid; j < count; j += ${WG}u) {
    let k = at(ch, j);
    let g = dyn(k);
    sdy += g;
    sdyx += g * (X[k] - mu) * invstd;
  }
  let r = wgSum2(vec2<f32>(sdy, sdyx), ${wr.args});
  if (lid == 0u) { DB[ch] = r.x; DG[ch] = r.y; }
}`,
      }));
      const yy = y ?? dy;
      run(c, sums, [x, dy, yy, mean, variance, dgamma, dbeta], desc(d), [d.c, 1, 1]);
      // Per channel: dx = a·dyn − b − (x − μ)·k, with a = γ·invstd, b = a·Σdy/m, k = a·invstd·Σ(dy·x̂)/m
      // (the reference's closed form regrouped, so the elementwise kernel binds few buffers).
      const coef = alloc(c, 4 * d.c);
      const coefSpec = kernel('bn.bwd.coef', () => ({
        bindings: 'G:r M:r V:r DG:r DB:r K:w', params: DESC,
        body: perElement('P.c', `  let m = f32(P.n * P.spatial);
  let invstd = 1.0 / sqrt(V[i] + P.eps);
  let a = G[i] * invstd;
  K[4u * i] = a;
  K[4u * i + 1u] = a * DB[i] / m;
  K[4u * i + 2u] = a * invstd * DG[i] / m;
  K[4u * i + 3u] = M[i];`),
      }));
      run(c, coefSpec, [gamma, mean, variance, dgamma, dbeta, coef], desc(d), groupsFor(c, d.c));
      const dx = alloc(c, x.numel);
      const grad = kernel('bn.bwd.dx', () => ({
        bindings: 'X:r DY:r Yo:r K:r DX:w', params: `total:u32 ${DESC}`,
        body: `${DYN}\n${perElement('P.total', `  let ch = (i / P.spatial) % P.c;
  DX[i] = K[4u * ch] * dyn(i) - K[4u * ch + 1u] - (X[i] - K[4u * ch + 3u]) * K[4u * ch + 2u];`)}`,
      }));
      run(c, grad, [x, dy, yy, coef, dx], [x.numel, ...desc(d)], groupsFor(c, x.numel));
      coef.discard();
      return { dx, dgamma, dbeta };
    },
  };
}
