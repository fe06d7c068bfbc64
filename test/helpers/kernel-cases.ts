/** Shared pieces of the backend-against-reference kernel tests: seeded inputs and layer geometries. */
import type { ActivationOp, Conv2dDesc, Pool2dDesc } from '../../src/backend/kernels.js';
import { rng } from './seeded.js';

/** rand(n, lo, hi): n uniform values; each call draws from the next seed, so tests are repeatable. */
export function seededRand(firstSeed: number): (n: number, lo?: number, hi?: number) => Float32Array {
  let seed = firstSeed;
  return (n, lo = -1, hi = 1) => {
    const r = rng(seed++);
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * r();
    return a;
  };
}

export function convDesc(n: number, c: number, h: number, w: number, oc: number, kh: number, kw: number,
  sh: number, sw: number, ph: number, pw: number, activation?: ActivationOp): Conv2dDesc {
  const oh = Math.floor((h + 2 * ph - kh) / sh) + 1;
  const ow = Math.floor((w + 2 * pw - kw) / sw) + 1;
  return { n, c, h, w, oc, kh, kw, sh, sw, ph, pw, oh, ow, activation };
}

export function poolDesc(kind: 'max' | 'avg', n: number, c: number, h: number, w: number, kh: number, kw: number,
  sh: number, sw: number, ph: number, pw: number, countIncludePad = true): Pool2dDesc {
  const oh = Math.floor((h + 2 * ph - kh) / sh) + 1;
  const ow = Math.floor((w + 2 * pw - kw) / sw) + 1;
  return { kind, n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow, countIncludePad };
}
