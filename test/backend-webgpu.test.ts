/**
 * The `webgpu` backend against the reference kernels, on whatever adapter
 * Dawn finds (lavapipe in CI). Every kernel runs on seeded random inputs of
 * several shapes and must match the reference within 1e-4 relative (plus a
 * small absolute floor scaled to the output's magnitude, for sums that cancel).
 * Inputs are uploaded, outputs read back with `download`, so these are the
 * kernels exactly as tensors use them.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ActivationOp, BinaryOp, Conv2dDesc, KernelName, Kernels, Pool2dDesc, ReduceOp, UnaryOp } from '../src/backend/kernels.js';
import { KERNEL_NAMES } from '../src/backend/kernels.js';
import { referenceKernels as ref } from '../src/backend/reference/index.js';
import { Storage } from '../src/backend/storage.js';
import { openTestGpu, gpuContext } from './helpers/gpu.js';
import { rng } from './helpers/seeded.js';
import { assertClose, convDesc, poolDesc, seededRand } from './helpers/kernel-cases.js';

const rand = seededRand(7);

const { backend, skip } = await openTestGpu();
const gk = (backend?.kernels ?? {}) as Kernels<Storage<GPUBuffer>>;



type Arg = unknown;
const isArr = (a: unknown): a is Float32Array => a instanceof Float32Array;

/**
 * Run kernel `name` on the reference (on copies) and on the gpu (on uploads), and compare every
 * output; for an in-place kernel, compare the mutated inputs.
 */
async function both(name: KernelName, args: Arg[], what = name as string, rtol = 1e-4): Promise<void> {
  const b = backend!;
  const refArgs = args.map((a) => (isArr(a) ? a.slice() : Array.isArray(a) && isArr(a[0]) ? a.map((x: Float32Array) => x.slice()) : a));
  const gpuArgs = args.map((a) => (isArr(a) ? b.upload(a) : Array.isArray(a) && isArr(a[0]) ? a.map((x: Float32Array) => b.upload(x)) : a));
  const want = (ref[name] as (...a: unknown[]) => unknown)(...refArgs);
  const got = (b.kernels[name] as (...a: unknown[]) => unknown)(...gpuArgs);
  if (name.endsWith('Inplace')) {
    for (let i = 0; i < args.length; i++) {
      if (gpuArgs[i] instanceof Storage) assertClose(await b.download(gpuArgs[i] as Storage<GPUBuffer>), refArgs[i] as Float32Array, `${what} arg ${i}`, rtol);
    }
    return;
  }
  if (got instanceof Storage) {
    assertClose(await b.download(got as Storage<GPUBuffer>), want as Float32Array, what, rtol);
    return;
  }
  for (const [k, v] of Object.entries(got as Record<string, unknown>)) {
    const w = (want as Record<string, Float32Array | null>)[k];
    if (v === null) {
      assert.equal(w, null, `${what}.${k}`);
      continue;
    }
    assertClose(await b.download(v as Storage<GPUBuffer>), w as Float32Array, `${what}.${k}`, rtol);
  }
}



describe('webgpu backend against reference', { skip }, () => {
  test('brings every kernel, and names its adapter', () => {
    for (const k of KERNEL_NAMES) assert.equal(typeof backend!.kernels[k], 'function', k);
    assert.match(backend!.describe(), /^gpu \(.+\)$/);
  });

  test('unary ops, with IEEE edge cases', async () => {
    const ops: UnaryOp[] = ['neg', 'exp', 'log', 'sqrt', 'abs', 'sigmoid', 'relu', 'tanh', 'sign', 'reciprocal', 'square', 'trunc'];
    const x = rand(1000, -4, 4);
    x.set([0, -0, 1e-30, -50, 50, 20, -20, Infinity, -Infinity, NaN], 0);
    for (const op of ops) {
      const input = op === 'log' || op === 'sqrt' ? x.map(Math.abs) : x;
      await both('unary', [op, input], `unary ${op}`, op === 'exp' || op === 'tanh' || op === 'sigmoid' ? 2e-4 : 1e-4);
    }
    // more than 65,535 workgroups of 256: the grid folds into two dimensions
    await both('unary', ['neg', rand(65536 * 256 + 1000)], 'unary over a 2-D grid');
  });

  test('activation backward', async () => {
    for (const op of ['relu', 'sigmoid', 'tanh'] as ActivationOp[]) {
      const x = rand(777);
      const y = ref.unary(op, x);
      await both('activationBackward', [op, x, y, rand(777)], `activationBackward ${op}`);
    }
  });

  test('binary ops with broadcasting', async () => {
    const ops: BinaryOp[] = ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'eq', 'ne', 'lt', 'le', 'gt', 'ge'];
    const cases: Array<[number[], number[], number[]]> = [
      [[3, 4, 5], [3, 4, 5], [3, 4, 5]],
      [[2, 3, 4, 4], [1, 3, 1, 1], [2, 3, 4, 4]],
      [[5, 1, 3], [1, 4, 1], [5, 4, 3]],
      [[6, 7], [1, 1], [6, 7]],
      [[1, 1], [6, 7], [6, 7]],
      [[2, 1, 3, 1, 2], [1, 4, 1, 5, 2], [2, 4, 3, 5, 2]],
    ];
    for (const op of ops) {
      for (const [as, bs, os] of cases) {
        const na = as.reduce((p, d) => p * d, 1);
        const nb = bs.reduce((p, d) => p * d, 1);
        let a = rand(na, op === 'pow' ? 0.1 : -2, 2);
        let b = rand(nb, -2, 2);
        if (op.length === 2) {
          a = a.map((v) => Math.round(v));
          b = b.map((v) => Math.round(v));
        }
        await both('binary', [op, a, as, b, bs, os], `binary ${op} ${as}∘${bs}`, 2e-4);
      }
    }
    // pow of negative bases with integer exponents, zero bases, NaN in maximum/minimum
    const a = new Float32Array([-2, -2, -3, 0, 0, 0, 2, NaN, 1, NaN]);
    const b = new Float32Array([2, 3, 0.5, 2, -1, 0, NaN, 1, NaN, NaN]);
    for (const op of ['pow', 'maximum', 'minimum', 'eq'] as BinaryOp[]) await both('binary', [op, a, [10], b, [10], [10]], `binary ${op} edge cases`);
  });

  test('where, clamp, affine', async () => {
    const cond = rand(500).map((v) => (v > 0 ? 1 : 0));
    await both('where', [cond, rand(500), rand(500)]);
    await both('clamp', [rand(500, -3, 3), -1, 0.5]);
    await both('clamp', [rand(500, -3, 3), -Infinity, 0.5], 'clamp (no lower bound)');
    await both('affine', [rand(500), 0.3, -1.5]);
  });

  test('reductions over any axes, short and long', async () => {
    const cases: Array<[number[], number[]]> = [
      [[4, 5, 6], [1]], [[4, 5, 6], [0, 2]], [[4, 5, 6], [0, 1, 2]], [[2, 3, 4, 5], [0, 2, 3]],
      [[300, 7], [0]], [[7, 300], [1]], [[256, 10], [1]], [[3, 1, 4], [1]], [[100000], [0]],
    ];
    for (const op of ['sum', 'max', 'min'] as ReduceOp[]) {
      for (const [shape, axes] of cases) {
        const n = shape.reduce((p, d) => p * d, 1);
        await both('reduce', [op, rand(n), shape, axes], `reduce ${op} ${shape} over ${axes}`, op === 'sum' ? 3e-4 : 1e-4);
      }
    }
    const withNan = rand(60);
    withNan[17] = NaN;
    await both('reduce', ['max', withNan, [6, 10], [1]], 'reduce max with NaN');
  });

  test('argmax, first on ties and NaN as the maximum', async () => {
    await both('argmax', [rand(4 * 5 * 6), [4, 5, 6], 1]);
    await both('argmax', [rand(256 * 10), [256, 10], 1]);
    const t = new Float32Array([1, 3, 3, 0, NaN, 5, 2, 2, 2]);
    await both('argmax', [t, [3, 3], 1], 'argmax ties and NaN');
  });

  test('permute, expand, slice, concat', async () => {
    await both('permute', [rand(2 * 3 * 4 * 5), [2, 3, 4, 5], [0, 2, 3, 1]]);
    await both('permute', [rand(6 * 7), [6, 7], [1, 0]], 'transpose');
    await both('permute', [rand(2 * 3 * 4), [2, 3, 4], [0, 1, 2]], 'identity permute');
    await both('expand', [rand(3), [1, 3, 1], [2, 3, 4]]);
    await both('expand', [rand(6), [2, 1, 3], [2, 5, 3]]);
    await both('slice', [rand(4 * 9 * 5), 4, 9, 5, 2, 4]);
    await both('concat', [[rand(2 * 3 * 4), rand(2 * 5 * 4), rand(2 * 1 * 4)], [3, 5, 1], 2, 4]);
  });

  test('matmul, transposed and batched, with edge tiles', async () => {
    const cases: Array<[number, number, number, number, boolean, boolean]> = [
      [1, 3, 5, 4, false, false], [1, 70, 33, 65, false, false], [1, 64, 64, 64, true, false],
      [1, 17, 129, 9, false, true], [3, 20, 30, 40, true, true], [1, 256, 400, 120, false, true], [1, 1, 1, 1, false, false],
    ];
    for (const [batch, m, k, n, transA, transB] of cases) {
      await both('matmul', [rand(batch * m * k), rand(batch * k * n), { batch, m, k, n, transA, transB }], `matmul ${batch}×${m}×${k}×${n} ${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}`);
    }
  });

  test('matmul over the storage binding limit is split into parts that fit (VGG-11\'s classifier on lavapipe)', async () => {
    const limits = gpuContext()!.limits;
    const real = limits.maxStorageBufferBindingSize;
    // A 16 KiB limit stands in for the adapter's: every operand below is larger.
    limits.maxStorageBufferBindingSize = 16384;
    try {
      for (const [m, k, n, transA, transB] of [[3, 2000, 70, false, true], [70, 100, 90, false, false], [90, 64, 100, true, false], [65, 130, 70, true, true]] as Array<[number, number, number, boolean, boolean]>) {
        await both('matmul', [rand(m * k), rand(k * n), { batch: 1, m, k, n, transA, transB }], `split matmul ${m}×${k}×${n} ${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}`);
      }
    } finally {
      limits.maxStorageBufferBindingSize = real;
    }
  });

  test('convolution kernels are chosen per shape and pass by timing, when the host next waits for the GPU', async () => {
    const b = backend!;
    const d = convDesc(4, 3, 13, 13, 5, 3, 3, 1, 1, 1, 1);
    const x = b.upload(rand(d.n * d.c * d.h * d.w));
    const w = b.upload(rand(d.oc * d.c * d.kh * d.kw));
    const dy = b.upload(rand(d.n * d.oc * d.oh * d.ow));
    gk.conv2d(x, w, null, d);
    gk.conv2dBackwardData(dy, w, d);
    gk.conv2dBackwardWeight(x, dy, d, false);
    await b.finish?.();
    const tuned = [...gpuContext()!.convTuning].filter(([k]) => k.endsWith(':4,3,13,13,5,3,3,1,1,1,1,'));
    assert.equal(tuned.length, 3, 'forward, data and weight passes were timed');
    for (const [k, t] of tuned) {
      assert.ok(Number.isFinite(t.direct) && Number.isFinite(t.gemm), `${k}: both variants timed`);
      assert.equal(t.chosen, t.direct <= t.gemm ? 'direct' : 'gemm');
    }
  });

  const convCases: Array<[string, Conv2dDesc]> = [
    ['3x3 pad 1, odd sizes', convDesc(2, 3, 7, 9, 4, 3, 3, 1, 1, 1, 1)],
    ['LeNet conv1 5x5 pad 2 + relu', convDesc(3, 1, 28, 28, 6, 5, 5, 1, 1, 2, 2, 'relu')],
    ['LeNet conv2 5x5 + sigmoid', convDesc(2, 6, 14, 14, 16, 5, 5, 1, 1, 0, 0, 'sigmoid')],
    ['3x2 kernel, stride 2x1, pad 1x0 + tanh', convDesc(3, 5, 11, 10, 7, 3, 2, 2, 1, 1, 0, 'tanh')],
    ['1x1 pointwise', convDesc(2, 16, 5, 5, 8, 1, 1, 1, 1, 0, 0)],
    ['AlexNet-like 11x11 stride 4', convDesc(2, 3, 39, 39, 8, 11, 11, 4, 4, 2, 2, 'relu')],
    ['wide channels 3x3', convDesc(2, 64, 9, 9, 70, 3, 3, 1, 1, 1, 1)],
    ['long weight-gradient reduction (split-K)', convDesc(16, 4, 24, 24, 8, 3, 3, 1, 1, 1, 1)],
  ];
  for (const [name, d] of convCases) {
    test(`conv2d forward / backward: ${name}`, async () => {
      const x = rand(d.n * d.c * d.h * d.w);
      const w = rand(d.oc * d.c * d.kh * d.kw, -0.5, 0.5);
      const dy = rand(d.n * d.oc * d.oh * d.ow);
      await both('conv2d', [x, w, rand(d.oc), d], 'conv2d (bias)');
      await both('conv2d', [x, w, null, { ...d, activation: undefined }], 'conv2d (no bias)');
      await both('conv2dBackwardData', [dy, w, d]);
      await both('conv2dBackwardWeight', [x, dy, d, true], 'conv2dBackwardWeight (bias)', 3e-4);
      await both('conv2dBackwardWeight', [x, dy, d, false], 'conv2dBackwardWeight', 3e-4);
    });
  }

  const poolCases: Array<[string, Pool2dDesc]> = [
    ['max 2x2 stride 2', poolDesc('max', 2, 3, 8, 8, 2, 2, 2, 2, 0, 0)],
    ['max 3x3 stride 2 (AlexNet), overlapping', poolDesc('max', 2, 4, 13, 13, 3, 3, 2, 2, 0, 0)],
    ['max 3x3 stride 1 pad 1 (GoogLeNet)', poolDesc('max', 1, 3, 7, 7, 3, 3, 1, 1, 1, 1)],
    ['avg 2x2 stride 2', poolDesc('avg', 2, 3, 8, 8, 2, 2, 2, 2, 0, 0)],
    ['avg 3x3 pad 1, count_include_pad', poolDesc('avg', 2, 2, 7, 6, 3, 3, 2, 2, 1, 1, true)],
    ['avg 3x3 pad 1, excluding pad', poolDesc('avg', 2, 2, 7, 6, 3, 3, 2, 2, 1, 1, false)],
    ['global avg (NiN)', poolDesc('avg', 2, 10, 5, 5, 5, 5, 1, 1, 0, 0)],
  ];
  for (const [name, d] of poolCases) {
    test(`pool2d forward / backward: ${name}`, async () => {
      const x = rand(d.n * d.c * d.h * d.w);
      const dy = rand(d.n * d.c * d.oh * d.ow);
      await both('pool2d', [x, d]);
      // The backward with saved indices (y from the gpu forward on this x) and without (y uploaded).
      const b = backend!;
      const xs = b.upload(x);
      const ys = gk.pool2d(xs, d);
      const got = await b.download(gk.pool2dBackward(xs, ys, b.upload(dy), d));
      const want = ref.pool2dBackward(x, ref.pool2d(x, d), dy, d);
      assertClose(got, want, 'pool2dBackward (saved indices)');
      await both('pool2dBackward', [x, ref.pool2d(x, d), dy, d], 'pool2dBackward (recomputed indices)');
    });
  }

  test('max pooling sends the gradient to the first of tied maxima', async () => {
    const d = poolDesc('max', 1, 1, 4, 4, 2, 2, 2, 2, 0, 0);
    const x = new Float32Array(16).fill(1);
    await both('pool2dBackward', [x, ref.pool2d(x, d), rand(4), d]);
  });

  for (const act of [undefined, 'relu', 'sigmoid', 'tanh'] as Array<ActivationOp | undefined>) {
    test(`batch norm train / inference / backward${act ? ` + ${act}` : ''}`, async () => {
      for (const [n, c, spatial] of [[4, 3, 25], [256, 6, 1], [8, 16, 49]]) {
        const d = { n, c, spatial, eps: 1e-5, activation: act };
        const x = rand(n * c * spatial, -2, 3);
        const g = rand(c, 0.5, 1.5);
        const bt = rand(c);
        await both('batchNormTrain', [x, g, bt, d], `batchNormTrain ${n}×${c}×${spatial}`, 2e-4);
        const { mean, variance, y } = ref.batchNormTrain(x, g, bt, d);
        await both('batchNormInference', [x, g, bt, mean, variance, d]);
        await both('batchNormBackward', [x, rand(x.length), g, mean, variance, d, y], `batchNormBackward ${n}×${c}×${spatial}`, 5e-4);
      }
    });
  }

  test('softmax, log-softmax, NLL and their backward', async () => {
    for (const [rows, cols] of [[256, 10], [3, 1000], [1, 1]]) {
      const x = rand(rows * cols, -5, 5);
      await both('softmax', [x, rows, cols]);
      await both('logSoftmax', [x, rows, cols]);
      await both('softmaxBackward', [ref.softmax(x, rows, cols), rand(rows * cols), rows, cols]);
      await both('logSoftmaxBackward', [ref.logSoftmax(x, rows, cols), rand(rows * cols), rows, cols]);
      const target = rand(rows, 0, cols).map(Math.floor);
      await both('nllLoss', [ref.logSoftmax(x, rows, cols), target, rows, cols]);
      await both('nllLossBackward', [rand(rows), target, rows, cols]);
    }
  });

  test('an invalid class index gives a NaN loss (it cannot be checked without a readback)', async () => {
    const b = backend!;
    const out = await b.download(gk.nllLoss(b.upload(rand(20)), b.upload(new Float32Array([1, 12])), 2, 10));
    assert.ok(!Number.isNaN(out[0]));
    assert.ok(Number.isNaN(out[1]));
  });

  test('SGD and Adam in place', async () => {
    for (const d of [
      { lr: 0.1, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false },
      { lr: 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 1e-3, nesterov: false },
      { lr: 0.05, momentum: 0.9, dampening: 0, weightDecay: 0, nesterov: true, maximize: true },
    ]) {
      await both('sgdStepInplace', [rand(333), rand(333), d.momentum ? rand(333) : null, d], `sgd ${JSON.stringify(d)}`);
    }
    for (const decoupled of [false, true]) {
      const d = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-2, decoupled, step: 3 };
      await both('adamStepInplace', [rand(333), rand(333), rand(333), rand(333, 0, 1), d], `adam decoupled=${decoupled}`);
    }
  });

  test('copy, fill and the dropout mask match the reference bit for bit', async () => {
    await both('copyInplace', [rand(100), rand(100)]);
    await both('fillInplace', [rand(100), 2.5]);
    for (const [p, s] of [[0.5, 1], [0.1, 12345], [0.9, 0xfffffff0], [0.3, 2 ** 40 + 7]]) {
      const b = backend!;
      const got = await b.download(gk.dropoutMask(5000, p, s));
      assert.deepEqual(got, ref.dropoutMask(5000, p, s), `dropout p=${p} seed=${s}`);
    }
  });
});
