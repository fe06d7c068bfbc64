/**
 * End-to-end smoke test: a small convnet (conv-relu-pool-flatten-linear)
 * trained with SGD + momentum on a synthetic, deterministically generated,
 * separable task — 8x8 images whose bright half is the left (class 0) or the
 * right (class 1) — must cut the loss to under half its initial value and
 * classify more than 90 % of held-out images correctly within 30 steps.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../src/tensor.js';
import * as nn from '../src/nn/index.js';
import { SGD } from '../src/optim/index.js';
import { Generator, manualSeed } from '../src/random.js';
import { noGrad } from '../src/autograd/grad-mode.js';
import { crossEntropy } from '../src/ops/softmax.js';

const SIZE = 8;

/** n images [n,1,8,8] and labels: the labelled half is brighter by 0.6 on average, plus noise. */
function makeData(n: number, seed: number): { x: Tensor; y: Tensor } {
  const g = new Generator(seed);
  const x = new Float32Array(n * SIZE * SIZE);
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const label = i % 2;
    y[i] = label;
    const contrast = 0.3 + 0.6 * g.uniform();
    for (let r = 0; r < SIZE; r++) {
      for (let c = 0; c < SIZE; c++) {
        const bright = (c < SIZE / 2) === (label === 0);
        x[i * SIZE * SIZE + r * SIZE + c] = (bright ? contrast : 0) + 0.3 * g.normal();
      }
    }
  }
  return { x: new Tensor(x, [n, 1, SIZE, SIZE]), y: new Tensor(y, [n], { dtype: 'int32' }) };
}

function accuracy(model: nn.Module, x: Tensor, y: Tensor): number {
  const pred = noGrad(() => model.forward(x)).argmax(1).dataSync();
  const labels = y.dataSync();
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (pred[i] === labels[i]) correct++;
  return correct / labels.length;
}

test('train smoke: a small convnet learns bright-left vs bright-right in 30 SGD steps', () => {
  manualSeed(42);
  const model = new nn.Sequential(
    new nn.Conv2d(1, 4, 3, { padding: 1 }),
    new nn.ReLU(),
    new nn.MaxPool2d(2),
    new nn.Flatten(),
    new nn.Linear(4 * 4 * 4, 2),
  );
  const train = makeData(64, 1);
  const heldOut = makeData(64, 2);
  const opt = new SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
  const batch = 16;
  const losses: number[] = [];
  const start = performance.now();
  for (let step = 0; step < 30; step++) {
    const from = (step * batch) % 64;
    const xb = train.x.slice(0, from, from + batch);
    const yb = train.y.slice(0, from, from + batch);
    opt.zeroGrad();
    const loss = crossEntropy(model.forward(xb), yb);
    loss.backward();
    opt.step();
    losses.push(loss.itemSync());
  }
  const seconds = (performance.now() - start) / 1000;
  const initial = losses.slice(0, 4).reduce((a, b) => a + b) / 4;
  const final = losses.slice(-4).reduce((a, b) => a + b) / 4;
  assert.ok(losses.every(Number.isFinite), `losses must stay finite: ${losses.join(', ')}`);
  assert.ok(final < 0.5 * initial, `loss should at least halve: first 4 steps ${initial.toFixed(4)}, last 4 steps ${final.toFixed(4)}`);
  const acc = accuracy(model.eval(), heldOut.x, heldOut.y);
  assert.ok(acc > 0.9, `held-out accuracy ${acc} should exceed 0.9 (losses ${losses.map((l) => l.toFixed(3)).join(' ')})`);
  assert.ok(seconds < 10, `30 steps took ${seconds.toFixed(2)} s`);
});
