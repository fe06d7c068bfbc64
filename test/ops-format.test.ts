/**
 * Tensor.toString() against torch's repr for the same values (format.json):
 * fixed/scientific/integer formatting, padding, line wrapping at 80 columns,
 * summarisation with `...`, nan/inf, 0-d and empty tensors, requires_grad and
 * grad_fn suffixes. torch's dtype name `torch.int32` reads `torchlet.int32`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../src/tensor.js';
import * as torch from '../src/index.js';
import { num } from './helpers/assert-close.js';
import { fillValues, numelOf } from './helpers/fill.js';
import { loadFixture, type FormatCase } from './helpers/fixtures.js';

const { cases } = loadFixture<{ cases: FormatCase[] }>('format.json');

function build(c: FormatCase): Tensor {
  const n = numelOf(c.shape);
  let buf: Float32Array;
  if (c.values) buf = Float32Array.from(c.values, num);
  else if (c.fill) buf = fillValues(n, c.fill);
  else buf = Float32Array.from({ length: c.arange! }, (_, i) => ((c.start ?? 0) + i) * (c.mul ?? 1) / (c.div ?? 1));
  let t = new Tensor(buf, c.shape, { dtype: c.dtype, requiresGrad: c.requires_grad });
  if (c.then === 'mul2') t = t.mul(2);
  else if (c.then === 'sum') t = t.sum();
  return t;
}

for (const c of cases) {
  test(`toString matches torch: ${c.name}`, () => {
    const expected = c.expected.replaceAll('torch.', 'torchlet.');
    assert.equal(build(c).toString(), expected);
  });
}

test('toString: util.inspect uses the torch-style repr', async () => {
  const { inspect } = await import('node:util');
  const t = new Tensor(new Float32Array([1, 2.5]), [2]);
  assert.equal(inspect(t), 'tensor([1.0000, 2.5000])');
});

test('size() is typed as PyTorch uses it: the whole shape destructures, one dim is a number', () => {
  const [n, c, h] = torch.zeros([2, 3, 4]).size();
  const w: number = torch.zeros([2, 3, 4]).size(-1);
  assert.deepEqual([n, c, h, w], [2, 3, 4, 4]);
});
