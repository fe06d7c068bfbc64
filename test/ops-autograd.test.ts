/**
 * Autograd engine behaviour: noGrad / isGradEnabled / enableGrad, backward
 * twice throws, the graph's saved tensors are freed after backward, gradient
 * accumulation, shared subexpressions, detach, leaf rules, deep graphs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../src/tensor.js';
import { noGrad, isGradEnabled, enableGrad, setGradEnabled } from '../src/autograd/grad-mode.js';
import { Parameter } from '../src/nn/parameter.js';
import { fill } from './helpers/fill.js';

const leaf = (values: number[]): Tensor => new Tensor(Float32Array.from(values), [values.length], { requiresGrad: true });

test('noGrad: nothing is recorded inside, and the mode is restored', () => {
  const x = leaf([1, 2, 3]);
  assert.equal(isGradEnabled(), true);
  const y = noGrad(() => {
    assert.equal(isGradEnabled(), false);
    return x.mul(2).exp();
  });
  assert.equal(isGradEnabled(), true);
  assert.equal(y.requiresGrad, false);
  assert.equal(y.gradFn, null);
  assert.throws(() => y.sum().backward(), /does not require grad/);
  // Restored after a throw, and nesting works.
  assert.throws(() => noGrad(() => { throw new Error('boom'); }), /boom/);
  assert.equal(isGradEnabled(), true);
  noGrad(() => {
    noGrad(() => assert.equal(isGradEnabled(), false));
    assert.equal(isGradEnabled(), false);
    const z = enableGrad(() => {
      assert.equal(isGradEnabled(), true);
      return x.mul(3);
    });
    assert.equal(z.requiresGrad, true);
    assert.equal(isGradEnabled(), false);
  });
  assert.equal(isGradEnabled(), true);
  setGradEnabled(false);
  assert.equal(x.add(1).requiresGrad, false);
  setGradEnabled(true);
  assert.equal(x.add(1).requiresGrad, true);
});

test('noGrad: an async function runs without recording across its awaits, and other work keeps recording', async () => {
  const x = leaf([1]);
  const p = noGrad(async () => {
    await new Promise((r) => setTimeout(r, 1));
    return x.mul(2);
  });
  assert.equal(isGradEnabled(), true, 'the caller, while the function waits, records as usual');
  assert.equal(x.mul(3).requiresGrad, true);
  const y = await p;
  assert.equal(y.requiresGrad, false, 'the function itself did not record after its await');
  assert.equal(isGradEnabled(), true);
});

test('backward: twice through the same graph throws; the saved tensors were freed', () => {
  const x = leaf([1, 2, 3]);
  const h = x.mul(x);
  const loss = h.sum();
  assert.equal(h.gradFn!.inputs.length, 2);
  loss.backward();
  assert.deepEqual(x.grad!.dataSync(), Float32Array.from([2, 4, 6]));
  // The graph is freed: the node keeps its name but no inputs or closures.
  assert.equal(h.gradFn!.released, true);
  assert.equal(h.gradFn!.inputs.length, 0);
  assert.equal(loss.gradFn!.released, true);
  assert.throws(() => loss.backward(), /second time/);
  // A fresh graph from the same leaf is fine and accumulates.
  x.mul(x).sum().backward();
  assert.deepEqual(x.grad!.dataSync(), Float32Array.from([4, 8, 12]));
});

test('backward: non-scalar outputs need an explicit gradient', () => {
  const x = leaf([1, 2]);
  const y = x.mul(3);
  assert.throws(() => y.backward(), /only for scalar outputs; got shape \[2\]/);
  y.backward(new Tensor(Float32Array.from([1, 10]), [2]));
  assert.deepEqual(x.grad!.dataSync(), Float32Array.from([3, 30]));
  assert.throws(() => new Tensor(new Float32Array(1), []).backward(), /does not require grad/);
});

test('backward: a tensor used twice sums its gradients (diamond graphs)', () => {
  const x = leaf([0.5, -1.5]);
  const a = x.mul(x);
  const y = a.add(x).add(a.mul(2)); // 3x² + x
  y.sum().backward();
  assert.deepEqual(x.grad!.dataSync(), Float32Array.from([4, -8]));
});

test('backward: only leaves keep .grad; detach cuts the graph; leaf rules', () => {
  const x = leaf([1, 2]);
  const mid = x.mul(2);
  const d = mid.detach();
  assert.equal(d.requiresGrad, false);
  assert.equal(d.gradFn, null);
  mid.mul(d).sum().backward();
  assert.deepEqual(x.grad!.dataSync(), Float32Array.from([4, 8]), 'detached factor is treated as a constant');
  assert.equal(mid.grad, null);
  assert.equal(mid.isLeaf, false);
  assert.throws(() => mid.requiresGrad_(false), /only leaf tensors/);
  assert.throws(() => new Tensor(new Float32Array(1), [1], { dtype: 'int32', requiresGrad: true }), /only float32/);
  const p = new Parameter(fill([2], [1, 0, 0]));
  assert.ok(p.isLeaf && p.requiresGrad);
  assert.equal(new Parameter(fill([2], [1, 0, 0]), false).requiresGrad, false);
});

test('backward: inputs that do not require grad get none', () => {
  const x = leaf([1, 2]);
  const c = new Tensor(Float32Array.from([3, 4]), [2]);
  x.mul(c).sum().backward();
  assert.equal(c.grad, null);
  assert.deepEqual(x.grad!.dataSync(), Float32Array.from([3, 4]));
});

test('backward: a 20000-op chain does not overflow the stack', () => {
  const x = leaf([1]);
  let y = x;
  for (let i = 0; i < 20000; i++) y = y.add(1);
  y.sum().backward();
  assert.deepEqual(x.grad!.dataSync(), Float32Array.from([1]));
});
