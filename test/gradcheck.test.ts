/**
 * Finite-difference gradient checks for every differentiable op, grouped by
 * the op family (file) in src/ops/, on every backend that loads — plus
 * self-tests showing that the checker (and assertClose) fail on wrong
 * gradients, so the checks are not vacuous.
 *
 * Inputs are small and well-conditioned: positive where log/sqrt/pow/div need
 * it, at least 0.05 away from kinks (relu, abs, clamp bounds) and, for
 * max/min/max-pool, pairwise distinct by more than the step so no
 * perturbation changes which element wins.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, fromOp } from '../src/tensor.js';
import { withBackend } from '../src/backend/registry.js';
import { where } from '../src/ops/elementwise.js';
import { cat, stack } from '../src/ops/movement.js';
import { matmul, linear } from '../src/ops/matmul.js';
import { conv2d } from '../src/ops/conv.js';
import { maxPool2d, avgPool2d, adaptiveAvgPool2d } from '../src/ops/pool.js';
import { batchNorm } from '../src/ops/batchnorm.js';
import { batchNormActivationAvgPool } from '../src/ops/batchnorm-pool.js';
import { softmax, logSoftmax, nllLoss, crossEntropy, mseLoss } from '../src/ops/softmax.js';
import { dropout } from '../src/nn/functional.js';
import { manualSeed } from '../src/random.js';
import { add, div, pow, sub } from '../src/functions.js';
import { checkGradients, gradcheck, type GradcheckOptions } from './helpers/gradcheck.js';
import { assertClose, compareClose } from './helpers/assert-close.js';
import { awayFrom, distinct, fill } from './helpers/fill.js';
import { testBackends } from './helpers/backends.js';

type Family = 'elementwise' | 'reduce' | 'movement' | 'matmul' | 'conv' | 'pool' | 'batchnorm' | 'softmax' | 'nn.functional';

interface Case {
  family: Family;
  name: string;
  fn: (...xs: Tensor[]) => Tensor;
  inputs: () => Tensor[];
  opts?: GradcheckOptions;
}

const G = { requiresGrad: true };
const X = (shape: number[], spec: number[] = [1, 0.1, 0]): Tensor => fill(shape, spec, G);
const POS = [1, 0.2, 1.5];
const labels = (values: number[]): Tensor => new Tensor(Float32Array.from(values), [values.length], { dtype: 'int32' });

const cases: Case[] = [];
const add_ = (family: Family, name: string, fn: Case['fn'], inputs: Case['inputs'], opts?: GradcheckOptions): void => {
  cases.push({ family, name, fn, inputs, opts });
};

// ---- elementwise
for (const [op, f] of [['add', (a: Tensor, b: Tensor) => a.add(b)], ['sub', (a: Tensor, b: Tensor) => a.sub(b)],
  ['mul', (a: Tensor, b: Tensor) => a.mul(b)]] as const) {
  add_('elementwise', `${op} same shape`, f, () => [X([2, 3]), X([2, 3], [1, 0.9, 0.2])]);
  add_('elementwise', `${op} broadcast [2,3]x[3]`, f, () => [X([2, 3]), X([3], [1, 0.9, 0.2])]);
  add_('elementwise', `${op} broadcast [3,1]x[1,4]`, f, () => [X([3, 1]), X([1, 4], [1, 0.9, 0.2])]);
  add_('elementwise', `${op} scalar tensor`, f, () => [X([]), X([2, 3], [1, 0.9, 0.2])]);
}
add_('elementwise', 'add/sub/mul number operands', (a) => sub(2, a.add(1.5).mul(-0.5)), () => [X([2, 3])]);
add_('elementwise', 'div broadcast', (a, b) => a.div(b), () => [X([2, 3]), X([3], POS)]);
add_('elementwise', 'div number / tensor', (a) => div(2, a), () => [X([2, 3], POS)]);
add_('elementwise', 'pow tensor exponent (broadcast)', (a, b) => a.pow(b), () => [X([2, 3], POS), X([3], [1.5, 0.9, 0.5])]);
add_('elementwise', 'pow cube of negative base', (a) => a.pow(3), () => [X([2, 3])]);
add_('elementwise', 'pow 0.5 and -1.5', (a) => a.pow(0.5).add(a.pow(-1.5)), () => [X([2, 3], POS)]);
add_('elementwise', 'pow number base', (a) => pow(1.7, a), () => [X([2, 3])]);
add_('elementwise', 'maximum', (a, b) => a.maximum(b), () => [distinct([2, 3], 0.3, -0.75, G), distinct([3], 0.31, -0.4, G)]);
add_('elementwise', 'minimum', (a, b) => a.minimum(b), () => [distinct([2, 3], 0.3, -0.75, G), distinct([3], 0.31, -0.4, G)]);
add_('elementwise', 'neg', (a) => a.neg(), () => [X([2, 3])]);
add_('elementwise', 'exp', (a) => a.exp(), () => [X([2, 3])]);
add_('elementwise', 'log', (a) => a.log(), () => [X([2, 3], POS)]);
add_('elementwise', 'sqrt', (a) => a.sqrt(), () => [X([2, 3], POS)]);
add_('elementwise', 'abs', (a) => a.abs(), () => [awayFrom([3, 4], [1, 0.1, 0], [0], 0.05, G)]);
add_('elementwise', 'relu', (a) => a.relu(), () => [awayFrom([3, 4], [1, 0.1, 0], [0], 0.05, G)]);
add_('elementwise', 'sigmoid', (a) => a.sigmoid(), () => [X([3, 4], [3, 0.1, 0])]);
add_('elementwise', 'tanh', (a) => a.tanh(), () => [X([3, 4], [2, 0.1, 0])]);
add_('elementwise', 'square', (a) => a.square(), () => [X([2, 3])]);
add_('elementwise', 'reciprocal', (a) => a.reciprocal(), () => [X([2, 3], POS)]);
add_('elementwise', 'sign (zero gradient)', (a) => a.sign().add(a), () => [awayFrom([2, 3], [1, 0.1, 0], [0], 0.05, G)]);
add_('elementwise', 'clone', (a) => a.clone(), () => [X([2, 3])]);
add_('elementwise', 'where (broadcast a and b)', (c, a, b) => where(c.gt(0), a, b),
  () => [fill([3, 4], [1, 0.4, 0]), X([3, 1]), X([4], [1, 2, 0])]);
add_('elementwise', 'where scalar branch', (c, a) => where(c.gt(0), a, 0.5), () => [fill([3, 4], [1, 0.4, 0]), X([3, 4])]);
add_('elementwise', 'clamp both bounds', (a) => a.clamp(-0.5, 1), () => [awayFrom([3, 5], [2, 0.1, 0], [-0.5, 1], 0.05, G)]);
add_('elementwise', 'clamp min only / max only', (a) => a.clamp(0.2).add(a.clamp(null, -0.3)), () => [awayFrom([3, 5], [2, 0.1, 0], [0.2, -0.3], 0.05, G)]);
add_('elementwise', 'free functions', (a, b) => add(a, b).mul(2), () => [X([2, 3]), X([2, 3], [1, 0.5, 0])]);

// ---- reduce
add_('reduce', 'sum all', (a) => a.sum(), () => [X([2, 3, 4])]);
add_('reduce', 'sum dim', (a) => a.sum(1), () => [X([2, 3, 4])]);
add_('reduce', 'sum dims keepdim', (a) => a.sum([0, 2], true), () => [X([2, 3, 4])]);
add_('reduce', 'mean all', (a) => a.mean(), () => [X([2, 3, 4])]);
add_('reduce', 'mean dim -1 keepdim', (a) => a.mean(-1, true), () => [X([2, 3, 4])]);
add_('reduce', 'mean dims', (a) => a.mean([1, 2]), () => [X([2, 3, 4])]);
add_('reduce', 'max all', (a) => a.max(), () => [distinct([2, 3, 4], 0.1, undefined, G)]);
add_('reduce', 'max dim', (a) => a.max(1), () => [distinct([2, 3, 4], 0.1, undefined, G)]);
add_('reduce', 'max dim keepdim', (a) => a.max(-1, true), () => [distinct([2, 3, 4], 0.1, undefined, G)]);
add_('reduce', 'min all', (a) => a.min(), () => [distinct([2, 3, 4], 0.1, undefined, G)]);
add_('reduce', 'min dim', (a) => a.min(0), () => [distinct([2, 3, 4], 0.1, undefined, G)]);
add_('reduce', 'var all (unbiased)', (a) => a.var(), () => [X([2, 3, 4])]);
add_('reduce', 'var dim', (a) => a.var(1), () => [X([2, 3, 4])]);
add_('reduce', 'var dims keepdim biased', (a) => a.var([0, 2], { keepdim: true, unbiased: false }), () => [X([2, 3, 4])]);

// ---- movement
add_('movement', 'reshape', (a) => a.reshape(4, 6), () => [X([2, 3, 4])]);
add_('movement', 'view(-1)', (a) => a.view(-1), () => [X([2, 3, 4])]);
add_('movement', 'flatten(1)', (a) => a.flatten(1), () => [X([2, 3, 2, 2])]);
add_('movement', 'transpose', (a) => a.transpose(0, 2), () => [X([2, 3, 4])]);
add_('movement', 'T', (a) => a.T, () => [X([3, 4])]);
add_('movement', 'permute', (a) => a.permute(2, 0, 1), () => [X([2, 3, 4])]);
add_('movement', 'squeeze all / dim', (a) => a.squeeze().sum(0).add(a.squeeze(1).sum([0, 2])), () => [X([2, 1, 3, 1])]);
add_('movement', 'unsqueeze', (a) => a.unsqueeze(1).mul(a.unsqueeze(-1)), () => [X([2, 3])]);
add_('movement', 'expand', (a) => a.expand(2, 3, 4), () => [X([3, 1])]);
add_('movement', 'slice middle', (a) => a.slice(1, 1, 3), () => [X([3, 5])]);
add_('movement', 'slice start / end / negative', (a) => a.slice(0, 0, 2).add(a.slice(0, -2)), () => [X([3, 5])]);
add_('movement', 'select / index / narrow', (a) => a.select(1, -1).add(a.index(1).sum(0)).add(a.narrow(2, 1, 2).sum(2).sum(1, true)),
  () => [X([2, 3, 4])]);
add_('movement', 'cat dim 0 (three inputs)', (a, b, c) => cat([a, b, c], 0), () => [X([1, 3]), X([2, 3], [1, 0.5, 0]), X([3, 3], [1, 0.9, 0])]);
add_('movement', 'cat dim 1', (a, b) => cat([a, b], 1), () => [X([2, 1, 2]), X([2, 3, 2], [1, 0.5, 0])]);
add_('movement', 'stack dim 0 / last', (a, b) => stack([a, b], 0).sum(0).add(stack([a, b], 2).sum(2)), () => [X([2, 3]), X([2, 3], [1, 0.5, 0])]);

// ---- matmul
add_('matmul', 'matmul 2d', (a, b) => matmul(a, b), () => [X([3, 4]), X([4, 5], [1, 0.5, 0])]);
add_('matmul', 'matmul batched', (a, b) => matmul(a, b), () => [X([2, 3, 4]), X([2, 4, 5], [1, 0.5, 0])]);
add_('matmul', 'matmul broadcast batch', (a, b) => matmul(a, b), () => [X([2, 1, 3, 4]), X([3, 4, 2], [1, 0.5, 0])]);
add_('matmul', 'matmul batched x 2d', (a, b) => a.matmul(b), () => [X([2, 3, 4]), X([4, 5], [1, 0.5, 0])]);
add_('matmul', 'matmul vector cases', (a, b, v) => matmul(v, b).sum().add(matmul(a, v.slice(0, 0, 4)).sum()).add(matmul(v, v)),
  () => [X([3, 4]), X([4, 5], [1, 0.5, 0]), X([4], [1, 1.5, 0])]);
add_('matmul', 'linear with bias', (x, w, b) => linear(x, w, b), () => [X([2, 3, 4]), X([5, 4], [0.5, 0.5, 0]), X([5], [0.3, 1, 0])]);
add_('matmul', 'linear without bias', (x, w) => linear(x, w, null), () => [X([3, 4]), X([5, 4], [0.5, 0.5, 0])]);

// ---- conv
add_('conv', 'conv2d k3 s1 p0 bias', (x, w, b) => conv2d(x, w, b), () => [X([2, 2, 5, 5]), X([3, 2, 3, 3], [0.3, 0.5, 0]), X([3], [0.2, 1.1, 0])]);
add_('conv', 'conv2d k3 s2 p1 no bias', (x, w) => conv2d(x, w, null, 2, 1), () => [X([1, 2, 6, 6]), X([3, 2, 3, 3], [0.3, 0.5, 0])]);
add_('conv', 'conv2d 1x1 pointwise', (x, w, b) => conv2d(x, w, b), () => [X([2, 3, 3, 3]), X([2, 3, 1, 1], [0.3, 0.5, 0]), X([2], [0.2, 1.1, 0])]);
add_('conv', 'conv2d rectangular k3x2 s(2,1) p(1,0)', (x, w, b) => conv2d(x, w, b, [2, 1], [1, 0]),
  () => [X([1, 2, 5, 4]), X([2, 2, 3, 2], [0.3, 0.5, 0]), X([2], [0.2, 1.1, 0])]);
add_('conv', 'conv2d k5 s3 p2 (large stride)', (x, w) => conv2d(x, w, null, 3, 2), () => [X([1, 1, 7, 7]), X([2, 1, 5, 5], [0.3, 0.5, 0])]);

// ---- pool
add_('pool', 'max_pool2d k2', (x) => maxPool2d(x, 2), () => [distinct([1, 2, 4, 4], 0.05, undefined, G)]);
add_('pool', 'max_pool2d k3 s2 overlapping', (x) => maxPool2d(x, 3, 2), () => [distinct([1, 2, 5, 5], 0.05, undefined, G)]);
add_('pool', 'max_pool2d k3 s1 p1', (x) => maxPool2d(x, 3, 1, 1), () => [distinct([1, 2, 4, 4], 0.05, undefined, G)]);
add_('pool', 'avg_pool2d k2', (x) => avgPool2d(x, 2), () => [X([1, 2, 4, 4])]);
add_('pool', 'avg_pool2d k3 s2 p1 count_include_pad', (x) => avgPool2d(x, 3, 2, 1, true), () => [X([1, 2, 5, 5])]);
add_('pool', 'avg_pool2d k3 s2 p1 exclude pad', (x) => avgPool2d(x, 3, 2, 1, false), () => [X([1, 2, 5, 5])]);
add_('pool', 'adaptive_avg_pool2d 1x1', (x) => adaptiveAvgPool2d(x, 1), () => [X([2, 2, 3, 3])]);
add_('pool', 'adaptive_avg_pool2d 5x5 -> 3x3', (x) => adaptiveAvgPool2d(x, 3), () => [X([1, 2, 5, 5])]);
add_('pool', 'adaptive_avg_pool2d 7x5 -> (3,2)', (x) => adaptiveAvgPool2d(x, [3, 2]), () => [X([1, 1, 7, 5])]);

// ---- batchnorm
const bnOpts = (training: boolean) => ({ training, momentum: 0.1, eps: 1e-5 });
add_('batchnorm', 'batch_norm train 2d affine', (x, w, b) => batchNorm(x, null, null, w, b, bnOpts(true)),
  () => [X([2, 3, 2, 2], [1.5, 0.1, 0.3]), X([3], [0.3, 0.5, 1]), X([3], [0.2, 1.1, 0])]);
add_('batchnorm', 'batch_norm train 1d with running stats', (x, w, b) => batchNorm(x, fill([3], [0, 0, 0]), fill([3], [0, 0, 1]), w, b, bnOpts(true)),
  () => [X([5, 3], [1.5, 0.1, 0.3]), X([3], [0.3, 0.5, 1]), X([3], [0.2, 1.1, 0])]);
add_('batchnorm', 'batch_norm train no affine', (x) => batchNorm(x, null, null, null, null, bnOpts(true)), () => [X([4, 2, 3], [1.5, 0.1, 0.3])]);
add_('batchnorm', 'batch_norm eval (running stats)', (x, w, b) => batchNorm(x, fill([3], [0.4, 0.2, 0.1]), fill([3], [0.5, 0.7, 1.2]), w, b, bnOpts(false)),
  () => [X([2, 3, 2, 2], [1.5, 0.1, 0.3]), X([3], [0.3, 0.5, 1]), X([3], [0.2, 1.1, 0])]);
add_('batchnorm', 'batch_norm eval no affine', (x) => batchNorm(x, fill([3], [0.4, 0.2, 0.1]), fill([3], [0.5, 0.7, 1.2]), null, null, bnOpts(false)),
  () => [X([2, 3, 2], [1.5, 0.1, 0.3])]);
// BatchNorm2d + activation + AvgPool2d as one node (16x16 planes: the cpu backend's fused passes).
add_('batchnorm', 'batch_norm + sigmoid + avg_pool2d k2 (one node)', (x, w, b) => batchNormActivationAvgPool(x, fill([3], [0, 0, 0]), fill([3], [1, 1, 1]), w, b,
  { ...bnOpts(true), activation: 'sigmoid' }, { kernel: 2, stride: null, padding: 0 }),
() => [X([2, 3, 16, 16], [1.5, 0.1, 0.3]), X([3], [0.3, 0.5, 1]), X([3], [0.2, 1.1, 0])], { maxElements: 48 });
add_('batchnorm', 'batch_norm + avg_pool2d k2 odd plane (one node)', (x, w, b) => batchNormActivationAvgPool(x, null, null, w, b,
  bnOpts(true), { kernel: 2, stride: 2, padding: 0 }),
() => [X([2, 3, 17, 17], [1.5, 0.1, 0.3]), X([3], [0.3, 0.5, 1]), X([3], [0.2, 1.1, 0])], { maxElements: 48 });

// ---- softmax and losses
add_('softmax', 'softmax last dim', (x) => softmax(x, -1), () => [X([3, 4], [2, 0.1, 0])]);
add_('softmax', 'softmax middle dim', (x) => softmax(x, 1), () => [X([2, 3, 4], [2, 0.1, 0])]);
add_('softmax', 'log_softmax last dim', (x) => logSoftmax(x, 1), () => [X([3, 4], [2, 0.1, 0])]);
add_('softmax', 'log_softmax dim 0', (x) => logSoftmax(x, 0), () => [X([3, 4], [2, 0.1, 0])]);
for (const red of ['mean', 'sum', 'none'] as const) {
  add_('softmax', `cross_entropy ${red}`, (z, t) => crossEntropy(z, t, red), () => [X([4, 5], [2, 0.1, 0]), labels([2, 0, 4, 1])]);
  add_('softmax', `nll_loss ${red}`, (z, t) => nllLoss(z, t, red), () => [X([4, 5], [1, 0.1, -2]), labels([2, 0, 4, 1])]);
  add_('softmax', `mse_loss ${red}`, (a, b) => mseLoss(a, b, red), () => [X([3, 4]), X([3, 4], [1, 0.8, 0.2])]);
}

// ---- nn.functional extras
add_('nn.functional', 'dropout (fixed seed)', (x) => {
  manualSeed(7);
  return dropout(x, 0.4, true);
}, () => [X([4, 5])]);

const families: Family[] = ['elementwise', 'reduce', 'movement', 'matmul', 'conv', 'pool', 'batchnorm', 'softmax'];

test('gradcheck covers every op family in src/ops', () => {
  for (const f of families) assert.ok(cases.some((c) => c.family === f), `no gradcheck for ${f}`);
});

const backends = await testBackends();
for (const b of backends) {
  describe(`finite-difference gradients [${b.name}]`, { skip: b.skip }, () => {
    for (const c of cases) {
      test(`${c.family}: ${c.name}`, () => withBackend(b.name, () => {
        gradcheck(c.fn, c.inputs(), { name: c.name, ...c.opts });
      }));
    }
  });
}

// ---------- the checker itself ----------

/** y = x³ with a backward we control. */
function cube(x: Tensor, grad: (x: Tensor, g: Tensor) => Tensor): Tensor {
  const buf = x.hostView().map((v) => v * v * v);
  return fromOp(new Tensor(buf, x.shape).storage, x.shape, [x], 'Cube', (g) => [grad(x, g)]);
}

const trueCubeGrad = (x: Tensor, g: Tensor): Tensor => g.mul(x.square().mul(3));

describe('gradcheck helper', () => {
  test('passes a correct custom gradient', () => {
    const r = checkGradients((x) => cube(x, trueCubeGrad), [X([3, 4])]);
    assert.ok(r.ok, r.message);
    assert.equal(r.checked, 12);
    assert.ok(r.worstRatio < 0.2, `a correct gradient should sit well inside the tolerance (got ${r.worstRatio})`);
  });

  test('fails a gradient that is 2% off', () => {
    const r = checkGradients((x) => cube(x, (x2, g) => trueCubeGrad(x2, g).mul(1.02)), [X([3, 4])]);
    assert.equal(r.ok, false);
    assert.match(r.message, /gradient mismatch; worst input 0 \[3,4\] element \d+: analytic/);
    assert.throws(() => gradcheck((x) => cube(x, (x2, g) => trueCubeGrad(x2, g).mul(1.02)), [X([3, 4])]), /gradient mismatch/);
  });

  test('fails when a single element is wrong', () => {
    const oneWrong = (x: Tensor, g: Tensor): Tensor => {
      const right = trueCubeGrad(x, g).dataSync();
      right[5] += 0.05;
      return new Tensor(right, x.shape);
    };
    const r = checkGradients((x) => cube(x, oneWrong), [X([3, 4])]);
    assert.equal(r.ok, false);
    assert.match(r.message, /element 5:/);
  });

  test('fails a sign error, a missing gradient, and a wrong second input', () => {
    assert.equal(checkGradients((x) => cube(x, (x2, g) => trueCubeGrad(x2, g).neg()), [X([4])]).ok, false);
    assert.equal(checkGradients((x) => cube(x, (x2) => x2.mul(0)), [X([4])]).ok, false);
    // a·b with the two input gradients swapped: wrong for both inputs.
    const badMul = (a: Tensor, b: Tensor): Tensor => fromOp(new Tensor(a.hostView().map((v, i) => v * b.hostView()[i]), a.shape).storage, a.shape, [a, b], 'BadMul', (g) => [g.mul(a), g.mul(b)]);
    const r = checkGradients(badMul, [X([4]), X([4], [1, 1.3, 0.5])]);
    assert.equal(r.ok, false);
  });

  test('fails a relu whose gradient ignores the mask', () => {
    const leaky = (x: Tensor): Tensor => fromOp(new Tensor(x.hostView().map((v) => Math.max(v, 0)), x.shape).storage, x.shape, [x], 'BadRelu', (g) => [g]);
    assert.equal(checkGradients(leaky, [awayFrom([3, 4], [1, 0.1, 0], [0], 0.05, G)]).ok, false);
  });

  test('throws when nothing requires grad', () => {
    assert.throws(() => gradcheck((x) => x.mul(2), [fill([2], [1, 0, 0])]));
  });
});

describe('assertClose helper', () => {
  test('passes within tolerance, atol scales with the magnitude', () => {
    assertClose([1, 2, 0], [1.00005, 2.0001, 0.0001]);
    assertClose(new Float32Array([0, 1e-9]), [0, 0], { atol: 1e-8 });
  });

  test('reports the worst index (unravelled), both values and the count', () => {
    assert.throws(() => assertClose([1, 2, 3, 4], [1, 2, 3.01, 4], { shape: [2, 2], name: 'x' }),
      /x: not close at index 2 \[1,0\]: actual 3, expected 3\.01 .*1 of 4 elements out of tolerance/);
    const r = compareClose([1, 2], [1, 2, 3]);
    assert.equal(r.ok, false);
    assert.match(r.message, /length 2 != expected 3/);
  });

  test('nan and inf must match exactly', () => {
    assertClose([NaN, Infinity, 1], ['nan', 'inf', 1]);
    assert.throws(() => assertClose([1, Infinity], ['nan', 'inf']));
    assert.throws(() => assertClose([NaN], [0]));
  });
});
