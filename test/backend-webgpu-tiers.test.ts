/**
 * The webgpu backend's capability tiers (src/backend/webgpu/tiers.ts) against
 * the reference kernels: the subgroup reductions (on by default where the
 * adapter has them; lavapipe does, with subgroups of 8) and the opt-in f16
 * GEMM. Every kernel a tier changes is run in both tiers on one machine, and
 * the kernel keys dispatched and their WGSL show which tier actually ran.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { KernelName, ReduceOp } from '../src/backend/kernels.js';
import { referenceKernels as ref } from '../src/backend/reference/index.js';
import { Storage } from '../src/backend/storage.js';
import { webgpu } from '../src/backends.js';
import type { GpuContext } from '../src/backend/webgpu/context.js';
import { f16Tier, subgroupTier, tiersOf, webgpuSettings } from '../src/backend/webgpu/tiers.js';
import { openTestGpu, gpuContext } from './helpers/gpu.js';
import { assertClose, convDesc, seededRand } from './helpers/kernel-cases.js';

const rand = seededRand(2026);
const { backend, skip } = await openTestGpu();
const ctx = (): GpuContext => gpuContext()!;
// Adapters without a tier skip its tests, saying so (lavapipe in CI has both).
const sgSkip = skip || (ctx().features.has('subgroups') && ctx().wgslFeatures.has('subgroup_id') ? false : `adapter ${ctx().adapterName} has no subgroups with subgroup_id`);
const f16Skip = skip || (ctx().features.has('shader-f16') ? false : `adapter ${ctx().adapterName} has no shader-f16`);

const defaults = { ...webgpuSettings };
after(() => Object.assign(webgpuSettings, defaults));

type Out = Float32Array | Record<string, Float32Array | null>;

/** Run kernel `name` on the gpu (on uploads) and read back every output, with the kernel keys it dispatched. */
async function onGpu(name: KernelName, args: unknown[]): Promise<{ out: Out; keys: string[] }> {
  const b = backend!;
  const gpuArgs = args.map((a) => (a instanceof Float32Array ? b.upload(a) : a));
  const keys: string[] = [];
  ctx().dispatchLog = keys;
  let got: unknown;
  try {
    got = (b.kernels[name] as (...a: unknown[]) => unknown)(...gpuArgs);
  } finally {
    ctx().dispatchLog = null;
  }
  if (got instanceof Storage) return { out: await b.download(got as Storage<GPUBuffer>), keys };
  const out: Record<string, Float32Array | null> = {};
  for (const [k, v] of Object.entries(got as Record<string, unknown>)) out[k] = v === null ? null : await b.download(v as Storage<GPUBuffer>);
  return { out, keys };
}

function compare(got: Out, want: Out, what: string, rtol: number): void {
  if (got instanceof Float32Array) return assertClose(got, want as Float32Array, what, rtol);
  for (const [k, v] of Object.entries(got)) assertClose(v, (want as Record<string, Float32Array>)[k], `${what}.${k}`, rtol);
}

/** The kernel against the reference in the tier set now; returns the keys it dispatched. */
async function matches(name: KernelName, args: unknown[], what: string, rtol = 1e-4): Promise<string[]> {
  const want = (ref[name] as (...a: unknown[]) => Out)(...args.map((a) => (a instanceof Float32Array ? a.slice() : a)));
  const { out, keys } = await onGpu(name, args);
  compare(out, want, what, rtol);
  return keys;
}

/** Run fn once in each reduction tier: subgroups (where available), then plain. */
async function inBothTiers(fn: (sg: boolean) => Promise<void>): Promise<void> {
  const was = webgpuSettings.allowSubgroups;
  try {
    for (const sg of [true, false]) {
      webgpuSettings.allowSubgroups = sg;
      assert.equal(subgroupTier(ctx()), sg, `subgroup tier ${sg ? 'on' : 'off'}`);
      await fn(sg);
    }
  } finally {
    webgpuSettings.allowSubgroups = was;
  }
}

/** The keys that reduce in a workgroup are those of the tier: '.sg' with subgroup operations in their WGSL, or neither. */
function assertTier(keys: string[], sg: boolean, reducing: RegExp, what: string): void {
  const hits = keys.filter((k) => reducing.test(k));
  assert.ok(hits.length > 0, `${what}: a workgroup-reducing kernel ran (${keys.join(', ')})`);
  for (const k of hits) {
    const code = ctx().shaderCode(k) ?? '';
    if (sg) {
      assert.ok(k.endsWith('.sg'), `${what}: ${k} is the subgroup tier's`);
      assert.match(code, /^enable subgroups;/, `${what}: ${k} enables subgroups`);
      assert.match(code, /subgroupAdd|subgroupMax|subgroupMin/, `${what}: ${k} reduces with subgroup operations`);
    } else {
      assert.ok(!k.endsWith('.sg'), `${what}: ${k} is the plain tier's`);
      assert.doesNotMatch(code, /subgroup/, `${what}: ${k} uses no subgroup operation`);
    }
  }
}

/** Values with NaN, ±Inf planted at lanes and subgroup boundaries that a wrong combine would lose. */
function planted(n: number, at: number[], v: number): Float32Array {
  const x = rand(n);
  for (const i of at) if (i < n) x[i] = v;
  return x;
}

describe('webgpu capability tiers', { skip }, () => {
  test('settings: subgroups allowed and f16 not by default; the report names the adapter; bad values are refused', () => {
    assert.equal(defaults.allowSubgroups, process.env.TORCHLET_GPU_SUBGROUPS !== '0');
    assert.equal(defaults.allowF16, false);
    assert.equal(webgpu.allowF16, false);
    const report = webgpu.tiers()!;
    assert.equal(report.adapter, ctx().adapterName);
    assert.equal(report.active.f16, false);
    assert.equal(report.active.subgroups, report.available.subgroups && defaults.allowSubgroups);
    assert.throws(() => {
      (webgpu as { allowF16: unknown }).allowF16 = 'yes';
    }, /allowF16 must be true or false, got yes/);
  });

  test('a setting the device cannot honour is a no-op, and the report says so', () => {
    const bare = { adapterName: 'no-features adapter', features: new Set<string>(), wgslFeatures: new Set<string>() } as unknown as GpuContext;
    const was = { ...webgpuSettings };
    try {
      Object.assign(webgpuSettings, { allowF16: true, allowSubgroups: true });
      assert.deepEqual(tiersOf(bare), { adapter: 'no-features adapter', available: { subgroups: false, shaderF16: false }, active: { subgroups: false, f16: false } });
      // 'subgroups' without WGSL's subgroup_id builtin is not enough for these kernels.
      const noId = { ...bare, features: new Set(['subgroups']) } as unknown as GpuContext;
      assert.equal(subgroupTier(noId), false);
      assert.equal(f16Tier(bare), false);
    } finally {
      Object.assign(webgpuSettings, was);
    }
  });

  test('long reductions (sum, max, min) match the reference in both tiers, at lengths off the workgroup and subgroup sizes', { skip: sgSkip }, async () => {
    const cases: Array<[number[], number[]]> = [
      [[65], [0]], [[3, 255], [1]], [[2, 257], [1]], [[1000, 3], [0]], [[5, 77, 3], [1]], [[4, 9, 130], [0, 2]], [[100003], [0]], [[7, 4099], [1]],
    ];
    await inBothTiers(async (sg) => {
      for (const op of ['sum', 'max', 'min'] as ReduceOp[]) {
        for (const [shape, axes] of cases) {
          const n = shape.reduce((p, d) => p * d, 1);
          const what = `reduce ${op} ${shape} over ${axes} (${sg ? 'subgroups' : 'plain'})`;
          const keys = await matches('reduce', [op, rand(n, -3, 3), shape, axes], what, op === 'sum' ? 3e-4 : 1e-4);
          assertTier(keys, sg, /^reduce\..*\.tree\./, what);
        }
      }
    });
  });

  test('long reductions propagate NaN (max and min too) and handle ±Inf in both tiers', { skip: sgSkip }, async () => {
    // Lane 0, a middle lane and the last lane of a subgroup of 8, of the 4th stride of the final combine, the last value.
    const spots = [[0], [13], [7], [255], [256 + 31], [4098]];
    await inBothTiers(async (sg) => {
      for (const op of ['sum', 'max', 'min'] as ReduceOp[]) {
        for (const at of spots) {
          const x = planted(2 * 4099, at.flatMap((i) => [i, 4099 + ((i * 7) % 4099)]), NaN);
          const out = (await onGpu('reduce', [op, x, [2, 4099], [1]])).out as Float32Array;
          assert.ok(Number.isNaN(out[0]) && Number.isNaN(out[1]), `${op} with NaN at ${at} (${sg ? 'subgroups' : 'plain'}): got ${[...out]}`);
        }
        await matches('reduce', [op, planted(3000, [5, 2999], Infinity), [3000], [0]], `${op} with +Inf`);
        await matches('reduce', [op, planted(3000, [64, 700], -Infinity), [3000], [0]], `${op} with -Inf`);
        await matches('reduce', [op, planted(3000, [1], Infinity).map((v, i) => (i === 2000 ? -Infinity : v)), [3000], [0]], `${op} with +Inf and -Inf`);
        await matches('reduce', [op, new Float32Array(300).fill(-Infinity), [300], [0]], `${op} of all -Inf`);
      }
    });
  });

  test('batch-norm statistics and backward sums match the reference in both tiers', { skip: sgSkip }, async () => {
    await inBothTiers(async (sg) => {
      for (const [n, c, spatial] of [[3, 2, 7], [5, 3, 61], [256, 4, 1], [2, 5, 1031]]) {
        for (const activation of [undefined, 'relu'] as const) {
          const d = { n, c, spatial, eps: 1e-5, activation };
          const x = rand(n * c * spatial, -2, 3);
          const g = rand(c, 0.5, 1.5);
          const bt = rand(c);
          const what = `batch norm ${n}×${c}×${spatial} ${activation ?? ''} (${sg ? 'subgroups' : 'plain'})`;
          const k1 = await matches('batchNormTrain', [x, g, bt, d], `${what} train`, 2e-4);
          assertTier(k1, sg, /^bn\.stats/, what);
          const { mean, variance, y } = ref.batchNormTrain(x, g, bt, d);
          const k2 = await matches('batchNormBackward', [x, rand(x.length), g, mean, variance, d, y], `${what} backward`, 5e-4);
          assertTier(k2, sg, /^bn\.bwd\.sums/, what);
        }
      }
    });
  });

  test('softmax, log-softmax and their backward over long rows match the reference in both tiers; NLL reduces nothing', { skip: sgSkip }, async () => {
    await inBothTiers(async (sg) => {
      for (const [rows, cols] of [[3, 65], [2, 100], [5, 257], [3, 1000], [2, 3001], [300, 70]]) {
        const x = rand(rows * cols, -5, 5);
        const what = `${rows}×${cols} (${sg ? 'subgroups' : 'plain'})`;
        for (const [name, args] of [
          ['softmax', [x, rows, cols]],
          ['logSoftmax', [x, rows, cols]],
          ['softmaxBackward', [ref.softmax(x, rows, cols), rand(rows * cols), rows, cols]],
          ['logSoftmaxBackward', [ref.logSoftmax(x, rows, cols), rand(rows * cols), rows, cols]],
        ] as Array<[KernelName, unknown[]]>) {
          const keys = await matches(name, args, `${name} ${what}`);
          assertTier(keys, sg, /\.row/, `${name} ${what}`);
        }
        const target = rand(rows, 0, cols).map(Math.floor);
        await matches('nllLoss', [ref.logSoftmax(x, rows, cols), target, rows, cols], `nllLoss ${what}`);
        await matches('nllLossBackward', [rand(rows), target, rows, cols], `nllLossBackward ${what}`);
      }
      // A NaN anywhere in a row makes that row NaN, as in the reference; the other rows are unharmed.
      const x = rand(2 * 300, -5, 5);
      x[300 + 171] = NaN;
      await matches('softmax', [x, 2, 300], 'softmax of a row with NaN');
      await matches('logSoftmax', [x, 2, 300], 'log-softmax of a row with NaN');
      // Short rows stay one thread per row in every tier.
      const keys = await matches('softmax', [rand(256 * 10), 256, 10], 'softmax 256×10');
      assert.deepEqual(keys, ['softmax']);
    });
  });

  test('TORCHLET_GPU_SUBGROUPS=0 starts Node with the plain tier', { skip: sgSkip }, () => {
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const script = `
      import * as torch from './dist/src/index.js';
      await torch.initGpu();
      const t = torch.backends.webgpu.tiers();
      const s = torch.rand([4, 1000], { device: 'gpu' }).sum(1);
      await s.data();
      console.log(JSON.stringify({ allow: torch.backends.webgpu.allowSubgroups, active: t.active.subgroups }));
      torch.releaseGpu();
      process.exit(0);`;
    for (const [env, expected] of [['0', false], ['1', true]] as const) {
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, env: { ...process.env, TORCHLET_GPU_SUBGROUPS: env }, encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, 0, r.stderr);
      const line = r.stdout.trim().split('\n').at(-1)!;
      assert.deepEqual(JSON.parse(line), { allow: expected, active: expected }, `TORCHLET_GPU_SUBGROUPS=${env}`);
    }
  });

  test('the f16 GEMM tier is off by default, and when allowed stages tiles as f16 in matmul and the implicit-GEMM convolutions', { skip: f16Skip }, async () => {
    const m = 70;
    const k = 300;
    const n = 65;
    const a = rand(m * k);
    const b = rand(k * n);
    const desc = { batch: 1, m, k, n, transA: false, transB: false };
    const want = ref.matmul(a, b, desc);
    const f32 = await onGpu('matmul', [a, b, desc]);
    assert.deepEqual(f32.keys, ['matmul.nn'], 'f32 by default');
    assertClose(f32.out as Float32Array, want, 'matmul f32', 1e-4);
    assert.doesNotMatch(ctx().shaderCode('matmul.nn')!, /f16/);
    const scale = want.reduce((s, v) => Math.max(s, Math.abs(v)), 0);
    webgpu.allowF16 = true;
    try {
      assert.equal(webgpu.tiers()!.active.f16, true);
      const f16 = await onGpu('matmul', [a, b, desc]);
      assert.deepEqual(f16.keys, ['matmul.nn.f16']);
      const code = ctx().shaderCode('matmul.nn.f16')!;
      assert.match(code, /^enable f16;/);
      assert.match(code, /var<workgroup> As: array<f16, 1024>/);
      const got = f16.out as Float32Array;
      // Within 3e-3 of the output's scale (each operand rounded to 11 significant bits, f32 sums) ...
      let worst = 0;
      let diff = 0;
      for (let i = 0; i < want.length; i++) {
        worst = Math.max(worst, Math.abs(got[i] - want[i]));
        diff = Math.max(diff, Math.abs(got[i] - (f32.out as Float32Array)[i]));
      }
      assert.ok(worst <= 3e-3 * scale, `f16 matmul: worst error ${worst} over 3e-3 × scale ${scale}`);
      // ... and measurably not f32: rounding to f16 moves results far more than f32's 1e-4 tolerance allows.
      assert.ok(diff > 1e-4 * scale, `f16 matmul differs from f32 by only ${diff} (scale ${scale}): f16 is not in use`);

      // Each pass of a convolution whose shapes the implicit GEMM serves (wide channels).
      const d = convDesc(2, 20, 9, 9, 24, 3, 3, 1, 1, 1, 1);
      const x = rand(d.n * d.c * d.h * d.w);
      const w = rand(d.oc * d.c * d.kh * d.kw, -0.5, 0.5);
      const dy = rand(d.n * d.oc * d.oh * d.ow);
      for (const [name, args, key] of [
        ['conv2d', [x, w, rand(d.oc), d], 'conv2d.fwd.f16'],
        ['conv2dBackwardData', [dy, w, d], 'conv2d.bwdData.f16'],
        ['conv2dBackwardWeight', [x, dy, d, false], 'conv2d.bwdWeight.f16'],
      ] as Array<[KernelName, unknown[], string]>) {
        const ref32 = (ref[name] as (...a: unknown[]) => Out)(...args);
        const expected = ref32 instanceof Float32Array ? ref32 : (ref32 as Record<string, Float32Array>).dw;
        const { out, keys } = await onGpu(name, args);
        assert.ok(keys.includes(key), `${name} ran ${key} (got ${keys.join(', ')})`);
        const got16 = out instanceof Float32Array ? out : (out as Record<string, Float32Array>).dw;
        const s = expected.reduce((m2, v) => Math.max(m2, Math.abs(v)), 0);
        let err = 0;
        for (let i = 0; i < expected.length; i++) err = Math.max(err, Math.abs(got16[i] - expected[i]));
        assert.ok(err <= 3e-3 * s, `${name} f16: worst error ${err} over 3e-3 × scale ${s}`);
      }
    } finally {
      webgpu.allowF16 = false;
    }
    // Off again: the f32 pipeline, exactly the first result.
    const again = await onGpu('matmul', [a, b, desc]);
    assert.deepEqual(again.keys, ['matmul.nn']);
    assert.deepEqual(again.out, f32.out);
  });
});
