// fit(): seed metrics and events, resume to the identical result, NaN guard, run directory files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as torch from '../src/index.js';
import { tinyDataset } from './helpers/tiny-data.js';
import { DataLoader } from '../src/data/dataloader.js';
import { fit, NonFiniteLossError, type FitEvent, type FitState } from '../src/train/fit.js';
import { evaluate } from '../src/train/evaluate.js';
import { RunDir } from '../src/train/run-dir.js';
import { setBackend } from '../src/backend/registry.js';

const { nn } = torch;

function smallNet(): torch.nn.Sequential {
  return new nn.Sequential(
    new nn.Conv2d(1, 4, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Flatten(), new nn.Dropout(0.2), new nn.Linear(4 * 6 * 6, 10),
  );
}

function loaders(): [DataLoader, DataLoader] {
  return [
    new DataLoader(tinyDataset(100, 1), { batchSize: 10, shuffle: true, seed: 3 }),
    new DataLoader(tinyDataset(40, 2), { batchSize: 10 }),
  ];
}

async function weightsOf(net: torch.nn.Module): Promise<Float32Array[]> {
  return Promise.all(net.parameters().map((p) => p.data()));
}

test('fit reports the seed metrics: 5 points per epoch plus a test point, loss falls, accuracy rises', async () => {
  setBackend('reference');
  torch.manualSeed(0);
  const net = smallNet();
  const [tr, te] = loaders();
  const events: FitEvent[] = [];
  const r = await fit(net, tr, te, { epochs: 4, lr: 0.3, onEvent: (e) => { events.push(e); } });
  const points = events.filter((e) => e.type === 'point');
  assert.equal(points.length, 4 * 6, 'five train points and one test point per epoch');
  const epochs = events.filter((e) => e.type === 'epoch');
  assert.equal(epochs.length, 4);
  const firstLoss = (events.find((e) => e.type === 'batch') as { loss: number }).loss;
  assert.ok(r.trainLoss < 0.5 * firstLoss, `loss fell from ${firstLoss} to ${r.trainLoss}`);
  assert.ok(r.testAcc > 0.5, `test accuracy (chance is 0.1) ${r.testAcc}`);
  assert.ok(r.examplesPerSec > 0 && r.wallExamplesPerSec > 0 && r.wallExamplesPerSec <= r.examplesPerSec);
  const total = r.confusion?.flat().reduce((a, b) => a + b, 0);
  assert.equal(total, 40, 'confusion matrix counts every test image');
});

test('an interrupted run resumed from its checkpoint ends bit-identical to an uninterrupted one', async () => {
  setBackend('reference');
  const dir = mkdtempSync(path.join(tmpdir(), 'torchlet-resume-'));
  try {
    torch.manualSeed(5);
    const straight = smallNet();
    const [tr1, te1] = loaders();
    const full = await fit(straight, tr1, te1, { epochs: 2, lr: 0.2 });

    // Same run, stopped mid-epoch after 13 batches (epoch 1, batch 3).
    torch.manualSeed(5);
    const first = smallNet();
    const run = new RunDir(dir);
    let batches = 0;
    const [tr2, te2] = loaders();
    const opt1 = new torch.optim.SGD(first.parameters(), { lr: 0.2 });
    const part = await fit(first, tr2, te2, {
      epochs: 2, lr: 0.2, optimizer: opt1,
      onEvent: (e) => { if (e.type === 'batch') batches++; },
      shouldStop: () => batches >= 13,
      onCheckpoint: (s, o) => run.saveCheckpoint(first, o, s),
    });
    assert.equal(part.interrupted, true);

    // A fresh process would rebuild everything; a different seed proves nothing leaks through.
    torch.manualSeed(999);
    const second = smallNet();
    const opt2 = new torch.optim.SGD(second.parameters(), { lr: 0.2 });
    const state: FitState = new RunDir(dir).loadCheckpoint(second, opt2);
    assert.deepEqual([state.epoch, state.batch], [1, 3]);
    const [tr3, te3] = loaders();
    const resumed = await fit(second, tr3, te3, { epochs: 2, lr: 0.2, optimizer: opt2, resume: state });
    assert.deepEqual(await weightsOf(second), await weightsOf(straight));
    assert.equal(resumed.trainLoss, full.trainLoss);
    assert.equal(resumed.testAcc, full.testAcc);
    assert.deepEqual(resumed.points, full.points);
    assert.deepEqual(readdirSync(dir).filter((f) => f.includes('.tmp')), [], 'no temp files left behind');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a NaN in the input is blamed on the data, not on the learning rate', async () => {
  setBackend('reference');
  torch.manualSeed(1);
  const images = new Float32Array(20 * 144).fill(0.5);
  images[3 * 144 + 7] = NaN;
  const X = torch.tensor(images).reshape([20, 1, 12, 12]);
  const y = torch.tensor(new Float32Array(20).map((_, i) => i % 10));
  const batches = { length: 2, async *[Symbol.asyncIterator]() { yield [X.slice(0, 0, 10), y.slice(0, 0, 10)]; yield [X.slice(0, 10, 20), y.slice(0, 10, 20)]; } };
  await assert.rejects(
    fit(new nn.Sequential(new nn.Flatten(), new nn.Linear(144, 10)), batches as never, batches as never, { epochs: 1, lr: 0.1 }),
    (err: unknown) => err instanceof NonFiniteLossError && /input batch itself holds a NaN at index 439/.test(err.message) && !/lower --lr/.test(err.message),
  );
});

test('a NaN loss stops training with advice and keeps the last good checkpoint', async () => {
  setBackend('reference');
  const dir = mkdtempSync(path.join(tmpdir(), 'torchlet-nan-'));
  try {
    torch.manualSeed(1);
    const net = smallNet();
    const run = new RunDir(dir);
    const [tr, te] = loaders();
    const opt = new torch.optim.SGD(net.parameters(), { lr: 0.1 });
    let epochsDone = 0;
    await assert.rejects(
      fit(net, tr, te, {
        epochs: 3, lr: 0.1, optimizer: opt,
        onEvent: (e) => {
          if (e.type === 'epoch') {
            epochsDone++;
            opt.lr = 1e30; // blow up in the next epoch
          }
        },
        onCheckpoint: (s, o) => run.saveCheckpoint(net, o, s),
      }),
      (err: unknown) => err instanceof NonFiniteLossError && /lower --lr/.test(err.message) && /epoch 2/.test(err.message),
    );
    assert.equal(epochsDone, 1);
    const restored = smallNet();
    const state = new RunDir(dir).loadCheckpoint(restored, new torch.optim.SGD(restored.parameters(), { lr: 0.1 }));
    assert.deepEqual([state.epoch, state.batch], [1, 0], 'checkpoint from the end of epoch 1');
    for (const p of restored.parameters()) assert.ok((await p.data()).every(Number.isFinite));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('run directory: metrics.jsonl truncates to the resume point; mismatched checkpoint files are refused', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'torchlet-run-'));
  try {
    const run = new RunDir(dir);
    for (let step = 1; step <= 5; step++) run.appendMetric({ kind: 'point', step });
    run.truncateMetricsAfter(3);
    const lines = readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n');
    assert.deepEqual(lines.map((l) => (JSON.parse(l) as { step: number }).step), [1, 2, 3]);
    assert.throws(() => new RunDir(dir).readConfig(), /no config\.json/);
    const net = smallNet();
    assert.throws(() => run.loadCheckpoint(net, new torch.optim.SGD(net.parameters(), { lr: 1 })), /no checkpoint yet/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('evaluate refuses an empty test split rather than report accuracy 0', async () => {
  const net = smallNet();
  await assert.rejects(evaluate(net, []), /evaluate: the test data yielded no examples/);
});
