/**
 * Optimisers: three steps of SGD (plain, momentum, dampening, nesterov,
 * weight decay, maximize) and Adam/AdamW against PyTorch (optim.json), per
 * backend; then behaviour: zeroGrad, params without grad, state round trip,
 * argument validation.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { withBackend } from '../src/backend/registry.js';
import { Tensor } from '../src/tensor.js';
import { Parameter } from '../src/nn/parameter.js';
import { SGD, Adam, AdamW, type Optimizer } from '../src/optim/index.js';
import { assertClose } from './helpers/assert-close.js';
import { fill } from './helpers/fill.js';
import { loadFixture, type OptimCase } from './helpers/fixtures.js';
import { testBackends } from './helpers/backends.js';

const { cases } = loadFixture<{ cases: OptimCase[] }>('optim.json');
const backends = await testBackends();

function makeOptimizer(kind: OptimCase['optim'], params: Parameter[], o: Record<string, unknown>): Optimizer {
  if (kind === 'SGD') {
    return new SGD(params, {
      lr: o.lr as number, momentum: o.momentum as number | undefined, dampening: o.dampening as number | undefined,
      weightDecay: o.weightDecay as number | undefined, nesterov: o.nesterov as boolean | undefined, maximize: o.maximize as boolean | undefined,
    });
  }
  const opts = { lr: o.lr as number | undefined, betas: o.betas as [number, number] | undefined, eps: o.eps as number | undefined, weightDecay: o.weightDecay as number | undefined };
  return kind === 'Adam' ? new Adam(params, opts) : new AdamW(params, opts);
}

/** L = Σ_p Σ p·p·R_p, as in the fixture script. */
function lossOf(params: Tensor[], rs: Tensor[]): Tensor {
  return params.map((p, i) => p.mul(p).mul(rs[i]).sum()).reduce((a, b) => a.add(b));
}

function runCase(c: OptimCase): void {
  const params = c.params.map((p) => new Parameter(fill(p.shape, p.fill)));
  const rs = c.params.map((p, i) => fill(p.shape, c.r[i]));
  const opt = makeOptimizer(c.optim, params, c.opts);
  for (let step = 0; step < c.steps; step++) {
    opt.zeroGrad();
    lossOf(params, rs).backward();
    opt.step();
    params.forEach((p, i) => assertClose(p, c.history[step][i], { shape: p.shape, name: `${c.name} step ${step + 1} param ${i}` }));
  }
}

for (const b of backends) {
  describe(`optimiser parity vs PyTorch [${b.name}]`, { skip: b.skip }, () => {
    for (const c of cases) test(c.name, () => withBackend(b.name, () => runCase(c)));
  });
}

test('optimisers: fixture covers SGD variants, Adam and AdamW', () => {
  const names = cases.map((c) => c.name);
  for (const n of ['sgd/plain', 'sgd/momentum', 'sgd/nesterov', 'sgd/weight_decay', 'adam/default', 'adamw/default']) assert.ok(names.includes(n), n);
});

test('optimisers: zeroGrad clears gradients; params without a gradient are left alone', () => {
  const a = new Parameter(fill([3], [1, 0.1, 0]));
  const b = new Parameter(fill([2], [1, 0.5, 0]));
  const before = b.dataSync();
  for (const opt of [new SGD([a, b], { lr: 0.1, momentum: 0.9 }), new Adam([a, b], { lr: 0.1 }), new AdamW([a, b], { lr: 0.1 })]) {
    opt.zeroGrad();
    a.mul(a).sum().backward();
    assert.ok(a.grad);
    assert.equal(b.grad, null);
    const aBefore = a.dataSync();
    opt.step();
    assert.notDeepEqual(a.dataSync(), aBefore, `${opt.constructor.name} should move a`);
    assert.deepEqual(b.dataSync(), before, `${opt.constructor.name} must not touch a parameter without grad (even AdamW's decay)`);
    opt.zeroGrad();
    assert.equal(a.grad, null);
  }
});

test('optimisers: stateDict/loadStateDict resumes exactly', () => {
  for (const make of [
    (ps: Parameter[]) => new SGD(ps, { lr: 0.05, momentum: 0.9, nesterov: true }),
    (ps: Parameter[]) => new Adam(ps, { lr: 0.05 }),
    (ps: Parameter[]) => new AdamW(ps, { lr: 0.05 }),
  ]) {
    const r = fill([4], [1, 0.3, 0.5]);
    const p1 = new Parameter(fill([4], [1, 0.1, 0]));
    const o1 = make([p1]);
    const stepOnce = (p: Parameter, o: Optimizer): void => {
      o.zeroGrad();
      p.mul(p).mul(r).sum().backward();
      o.step();
    };
    stepOnce(p1, o1);
    stepOnce(p1, o1);
    const saved = o1.stateDict();
    const p2 = new Parameter(new Tensor(p1.dataSync(), p1.shape));
    const o2 = make([p2]);
    o2.loadStateDict(saved);
    stepOnce(p1, o1);
    stepOnce(p2, o2);
    assertClose(p2, p1.dataSync(), { rtol: 1e-6, name: `${o1.constructor.name}: resumed optimiser` });
    // The saved state is a copy: stepping must not have changed it.
    assert.deepEqual(o2.stateDict().state.length, 1);
  }
});

test('optimisers: loadStateDict rejects mismatched state', () => {
  const p = new Parameter(fill([4], [1, 0.1, 0]));
  const o = new SGD([p], { lr: 0.1, momentum: 0.9 });
  assert.throws(() => o.loadStateDict({ state: [null, null], hyper: {} }), /2 parameters, optimizer has 1/);
  assert.throws(() => o.loadStateDict({ state: [{ momentum_buffer: new Tensor(new Float32Array(3), [3]) }], hyper: {} }), /3 values, parameter has 4/);
});

test('optimisers: argument validation', () => {
  const p = new Parameter(fill([2], [1, 0.1, 0]));
  assert.throws(() => new SGD([], { lr: 0.1 }), /empty parameter list/);
  assert.throws(() => new SGD([p], { lr: -1 }), /invalid learning rate/);
  assert.throws(() => new SGD([p], { lr: 0.1, nesterov: true }), /nesterov/);
  assert.equal(new AdamW([p]).weightDecay, 0.01);
  assert.equal(new Adam([p]).weightDecay, 0);
});

test('optimisers: changing lr between steps takes effect (schedulers)', () => {
  const p = new Parameter(new Tensor(new Float32Array([1]), [1]));
  const opt = new SGD([p], { lr: 0.1 });
  p.sum().backward();
  opt.step();
  assert.ok(Math.abs(p.dataSync()[0] - 0.9) < 1e-7);
  opt.lr = 0.5;
  opt.step();
  assert.ok(Math.abs(p.dataSync()[0] - 0.4) < 1e-7);
});
