/**
 * A whole nested model (conv-bn-relu block, max-pool, 1x1 conv, BatchNorm2d,
 * adaptive pool, flatten, linear-bn1d-relu-dropout-linear head) with every
 * state_dict entry filled as in nn.json: train-mode forward, input and
 * parameter gradients, running statistics after the step, then an eval-mode
 * forward with the updated statistics — against PyTorch, per backend.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { withBackend } from '../src/backend/registry.js';
import { assertClose, assertShape } from './helpers/assert-close.js';
import { fill, fillValues } from './helpers/fill.js';
import { loadFixture, type NnFixture } from './helpers/fixtures.js';
import { testBackends } from './helpers/backends.js';
import { Net } from './helpers/models.js';

const fx = loadFixture<NnFixture>('nn.json');
const backends = await testBackends();

function filledNet(): Net {
  const net = new Net(0); // p=0: train mode without randomness, as the fixture sets
  const sd = net.stateDict();
  for (const [k, spec] of Object.entries(fx.fills)) {
    const t = sd.get(k);
    assert.ok(t, `model has no state_dict key ${k}`);
    t.hostView().set(fillValues(t.numel(), spec));
  }
  return net;
}

function check(): void {
  const net = filledNet();
  net.train();
  const x = fill(fx.input.shape, fx.input.fill, { requiresGrad: true });
  const out = net.forward(x);
  assertShape(out, fx.train.out.shape, 'train output');
  assertClose(out, fx.train.out.data, { name: 'train output', shape: out.shape });
  out.mul(fill(out.shape, fx.r)).sum().backward();
  assertClose(x.grad!, fx.train.input_grad, { name: 'input grad', shape: x.shape });
  const maxAbs = (v: ArrayLike<number | string>): number => Array.from(v, Number).reduce((m, e) => Math.max(m, Math.abs(e)), 0);
  for (const [k, p] of net.namedParameters()) {
    assert.ok(p.grad, `${k} got no gradient`);
    // features.0.conv.bias feeds a BatchNorm, so its exact gradient is 0 and
    // float32 leaves ~1e-7 of noise: scale its atol by the sibling weight's gradient.
    const sibling = k.endsWith('.bias') ? fx.train.param_grads[k.replace(/bias$/, 'weight')] : undefined;
    const atol = 1e-4 * Math.max(maxAbs(fx.train.param_grads[k]), sibling ? maxAbs(sibling) : 0);
    assertClose(p.grad, fx.train.param_grads[k], { name: `grad ${k}`, shape: p.shape, atol });
  }
  const buffers = new Map(net.namedBuffers());
  for (const [k, b] of Object.entries(fx.train.buffers_after)) {
    assertClose(buffers.get(k)!, b.data, { name: `buffer ${k}`, shape: b.shape });
  }
  net.eval();
  const y = net.forward(fill(fx.eval_input.shape, fx.eval_input.fill));
  assert.equal(y.requiresGrad, true, 'eval mode still records the graph (only noGrad stops it)');
  assertClose(y, fx.eval_out.data, { name: 'eval output', shape: y.shape });
}

for (const b of backends) {
  describe(`nested model parity vs PyTorch [${b.name}]`, { skip: b.skip }, () => {
    test('train step (outputs, all gradients, running stats) and eval forward', () => withBackend(b.name, check));
  });
}
