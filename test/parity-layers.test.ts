/**
 * Every layer case in test/fixtures/parity/layers.json: forward output, input
 * and parameter gradients of L = Σ out·R, and BatchNorm's buffers after the
 * step (running_mean, running_var, num_batches_tracked) — per backend.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { withBackend } from '../src/backend/registry.js';
import { assertClose, assertShape } from './helpers/assert-close.js';
import { fill } from './helpers/fill.js';
import { loadFixture, type LayerCase } from './helpers/fixtures.js';
import { moduleForCase } from './helpers/dispatch.js';
import { testBackends } from './helpers/backends.js';

const { cases } = loadFixture<{ cases: LayerCase[] }>('layers.json');
const backends = await testBackends();

function checkCase(c: LayerCase): void {
  const { module, forward } = moduleForCase(c);
  const x = fill(c.input.shape, c.input.fill, { requiresGrad: true });
  const out = forward(x);
  assertShape(out, c.out.shape, `${c.name} output`);
  assertClose(out, c.out.data, { shape: c.out.shape, name: `${c.name} output` });
  out.mul(fill(out.shape, c.r)).sum().backward();
  const params = new Map(module.namedParameters());
  assert.deepEqual([...params.keys()].sort(), Object.keys(c.grads).filter((k) => k !== 'input').sort(), `${c.name}: parameter names`);
  for (const [name, expected] of Object.entries(c.grads)) {
    const t = name === 'input' ? x : params.get(name)!;
    assert.ok(t.grad, `${c.name}: ${name} got no gradient`);
    assertShape(t.grad, t.shape, `${c.name} grad ${name}`);
    assertClose(t.grad, expected, { shape: t.shape, name: `${c.name} grad ${name}` });
  }
  if (c.buffers_after) {
    const buffers = new Map(module.namedBuffers());
    assert.deepEqual([...buffers.keys()], Object.keys(c.buffers_after), `${c.name}: buffer names`);
    for (const [name, expected] of Object.entries(c.buffers_after)) {
      const b = buffers.get(name)!;
      assertShape(b, expected.shape, `${c.name} buffer ${name}`);
      assertClose(b, expected.data, { shape: expected.shape, name: `${c.name} buffer ${name}` });
    }
  }
}

test('layers fixture covers every layer type', () => {
  const kinds = new Set(cases.map((c) => c.module));
  for (const k of ['Conv2d', 'Linear', 'AvgPool2d', 'MaxPool2d', 'AdaptiveAvgPool2d', 'Flatten', 'BatchNorm1d', 'BatchNorm2d']) {
    assert.ok(kinds.has(k), `layers.json has no case for ${k}`);
  }
});

for (const b of backends) {
  describe(`layer parity vs PyTorch [${b.name}]`, { skip: b.skip }, () => {
    for (const c of cases) test(c.name, () => withBackend(b.name, () => checkCase(c)));
  });
}
