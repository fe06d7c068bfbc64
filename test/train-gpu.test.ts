/**
 * Training on the `gpu` device (lavapipe in CI): fit and evaluate give the
 * same results as on the host, a step records into one submit and never reads
 * back, buffers come from the pool after the first steps, and live GPU memory
 * stays flat. Counts come from the GPU context's counters, never from timing.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../src/index.js';
import { ArrayImageDataset } from '../src/data/dataset.js';
import { DataLoader } from '../src/data/dataloader.js';
import { fit, type FitEvent } from '../src/train/fit.js';
import { evaluate } from '../src/train/evaluate.js';
import { benchTrainSteps } from '../src/train/bench.js';
import { setBackend } from '../src/backend/registry.js';
import { crossEntropy } from '../src/ops/softmax.js';
import { SGD } from '../src/optim/sgd.js';
import { openTestGpu, gpuContext, GPU } from './helpers/gpu.js';

const { nn } = torch;
const gpu = await openTestGpu();

function tinyDataset(n: number, seed: number, side = 12): ArrayImageDataset {
  const g = new torch.Generator(seed);
  const images = new Uint8Array(n * side * side);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const k = i % 10;
    labels[i] = k;
    for (let p = 0; p < side * side; p++) images[i * side * side + p] = Math.floor(g.uniform() * 60);
    for (let x = 0; x < side; x++) images[i * side * side + (k + 1) * side + x] = 200 + Math.floor(g.uniform() * 55);
  }
  return new ArrayImageDataset(images, labels, side, side);
}

function smallNet(): torch.nn.Sequential {
  return new nn.Sequential(
    new nn.Conv2d(1, 4, 3, { padding: 1 }), new nn.BatchNorm2d(4), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Flatten(), new nn.Dropout(0.2), new nn.Linear(4 * 6 * 6, 10),
  );
}

function loaders(): [DataLoader, DataLoader] {
  return [
    new DataLoader(tinyDataset(120, 1), { batchSize: 10, shuffle: true, seed: 3 }),
    new DataLoader(tinyDataset(40, 2), { batchSize: 10 }),
  ];
}

/** `steps` LeNet train steps at `batch` on the gpu, each recorded, submitted and settled; `after` runs after each. */
async function lenetSteps(seed: number, batch: number, steps: number, after: () => void): Promise<void> {
  torch.manualSeed(seed);
  const net = torch.createModel('lenet').to('gpu');
  const opt = new SGD(net.parameters(), { lr: 0.05 });
  const X = torch.rand([batch, 1, 28, 28]).to('gpu');
  const y = torch.randint(0, 10, [batch]).to('gpu');
  const backend = torch.backendFor(GPU);
  for (let i = 0; i < steps; i++) {
    torch.tidy(() => {
      opt.zeroGrad();
      crossEntropy(net.forward(X), y).backward();
      opt.step();
    });
    backend.flush?.();
    await backend.settle?.();
    after();
  }
}

describe('training on the gpu device', { skip: gpu.skip }, () => {
  // First in the file: later tests leave GPU tensors for the garbage collector, whose finalizers
  // would return them at random moments and move the live count under this test.
  test('50 LeNet train steps: live GPU memory is flat after the first', async () => {
    const backend = torch.backendFor(GPU);
    const live: number[] = [];
    await lenetSteps(3, 16, 50, () => live.push(backend.memory.stats().liveBytes));
    // The first step is allowed its one-off tensors (the gradients' first allocation, say); after it, nothing may grow.
    const after = live.slice(1);
    assert.ok(after.every((b) => b === after[0]), `live bytes over steps 2-50: ${[...new Set(after)].join(', ')}`);
    assert.ok(after[0] <= live[0] * 1.5, `live bytes ${after[0]} after the first step, ${live[0]} at it`);
  });

  test('tryGpu() gives the gpu once it is open, and reading it synchronously says what to do instead', async () => {
    assert.equal(torch.tryGpu(), GPU);
    assert.equal(await torch.tryGpuAsync(), GPU);
    const t = torch.tensor([1, 2, 3]).to('gpu');
    assert.equal(t.device, GPU);
    assert.deepEqual([...(await t.mul(2).data())], [2, 4, 6]);
    assert.throws(() => t.dataSync(), /read asynchronously; use `await t.data\(\)`/);
    assert.throws(() => t.to('cpu'), /toAsync\('cpu'\)/);
    assert.deepEqual([...(await t.toAsync('cpu')).dataSync()], [1, 2, 3]);
    assert.throws(() => t.add(torch.tensor([1, 1, 1])), /expected all tensors on one device, got gpu and cpu/);
  });

  test('fit on gpu follows fit on cpu: same losses, accuracies and weights within float tolerance', async () => {
    const runOn = async (device: string) => {
      torch.manualSeed(0);
      const net = smallNet();
      const [tr, te] = loaders();
      const events: FitEvent[] = [];
      const r = await fit(net, tr, te, { epochs: 2, lr: 0.2, device, onEvent: (e) => { events.push(e); } });
      const weights = await Promise.all(net.parameters().map(async (p) => (await p.toAsync('cpu')).dataSync()));
      return { r, events, weights };
    };
    setBackend('reference');
    const cpu = await runOn('cpu');
    const g = await runOn('gpu');
    assert.ok(Math.abs(g.r.trainLoss - cpu.r.trainLoss) <= 1e-4 * Math.max(1, Math.abs(cpu.r.trainLoss)), `train loss ${g.r.trainLoss} vs ${cpu.r.trainLoss}`);
    assert.equal(g.r.trainAcc, cpu.r.trainAcc);
    assert.equal(g.r.testAcc, cpu.r.testAcc);
    assert.deepEqual(g.r.confusion, cpu.r.confusion);
    assert.equal(g.r.points.length, cpu.r.points.length);
    g.r.points.forEach((p, i) => {
      const q = cpu.r.points[i];
      assert.equal(p.epoch, q.epoch);
      if (p.trainLoss !== undefined) assert.ok(Math.abs(p.trainLoss - (q.trainLoss as number)) <= 1e-4, `point ${i}: ${p.trainLoss} vs ${q.trainLoss}`);
    });
    g.weights.forEach((w, i) => {
      for (let j = 0; j < w.length; j++) assert.ok(Math.abs(w[j] - cpu.weights[i][j]) <= 1e-4 * (1 + Math.abs(cpu.weights[i][j])), `param ${i}[${j}]: ${w[j]} vs ${cpu.weights[i][j]}`);
    });
  });

  test('a fit step is one submit, reads nothing back, and allocates no GPU buffer after the second step', async () => {
    torch.manualSeed(1);
    const net = smallNet();
    const [tr, te] = loaders();
    const ctx = gpuContext()!;
    const perBatch: Array<{ submits: number; readbacks: number; buffers: number }> = [];
    await fit(net, tr, te, {
      epochs: 1, lr: 0.1, device: 'gpu', pointsPerEpoch: 1,
      onEvent: (e) => {
        if (e.type === 'batch') perBatch.push({ submits: ctx.counters.submits, readbacks: ctx.counters.readbacks, buffers: ctx.counters.buffersCreated });
      },
    });
    // The last batch reads the running sums (the one curve point); the others must not.
    for (let i = 1; i < perBatch.length - 1; i++) {
      assert.equal(perBatch[i].submits - perBatch[i - 1].submits, 1, `step ${i + 1}: submits`);
      assert.equal(perBatch[i].readbacks - perBatch[i - 1].readbacks, 0, `step ${i + 1}: readbacks`);
      if (i >= 2) assert.equal(perBatch[i].buffers - perBatch[i - 1].buffers, 0, `step ${i + 1}: new GPU buffers`);
    }
    assert.ok(perBatch.length >= 10);
  });

  test('evaluate on gpu counts the same as on cpu, confusion matrix included, with one readback of each count', async () => {
    torch.manualSeed(2);
    const net = smallNet();
    const [, te] = loaders();
    setBackend('reference');
    const onCpu = await evaluate(net, te, { confusion: true });
    net.to('gpu');
    const ctx = gpuContext()!;
    const before = ctx.counters.readbacks;
    const onGpu = await evaluate(net, te, { confusion: true });
    assert.equal(ctx.counters.readbacks - before, 2);
    assert.equal(onGpu.accuracy, onCpu.accuracy);
    assert.deepEqual(onGpu.confusion, onCpu.confusion);
  });

  test('at batch 256 the pool keeps every buffer a LeNet step reuses: no GPU buffer is created after the first step', async () => {
    const ctx = gpuContext()!;
    const created: number[] = [];
    let c0 = ctx.counters.buffersCreated;
    await lenetSteps(5, 256, 5, () => {
      created.push(ctx.counters.buffersCreated - c0);
      c0 = ctx.counters.buffersCreated;
    });
    // (It destroyed and re-created 33 buffers every step while the pool evicted by peak live bytes.)
    assert.deepEqual(created.slice(1), [0, 0, 0, 0], `new GPU buffers per step: ${created.join(', ')}`);
  });

  test('bench on gpu times whole steps and the JavaScript time to record one', async () => {
    torch.manualSeed(4);
    const r = await benchTrainSteps(torch.createModel('lenet'), { batch: 8, steps: 3, warmup: 1, inputShape: [1, 28, 28], device: 'gpu' });
    assert.equal(r.stepSeconds.length, 3);
    assert.ok(r.examplesPerSec > 0 && Number.isFinite(r.examplesPerSec));
    assert.ok(r.recordSeconds !== undefined && r.recordSeconds > 0);
  });
});
