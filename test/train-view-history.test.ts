import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  SERIES,
  createHistory,
  formatMetricsLine,
  formatSpeedLine,
  isAnimatorBatch,
  latestValues,
  toSeriesRows,
  writeFileAtomic,
  writeHistory,
} from '../src/train/history.js';

test('history: d2l animator rule gives five train points per epoch (plus the last batch)', () => {
  const count = (n: number): number => Array.from({ length: n }, (_, i) => i).filter((i) => isAnimatorBatch(i, n)).length;
  assert.equal(count(235), 5); // 235 // 5 = 47 divides evenly
  assert.equal(count(469), 6); // 93, 186, …, 465 and the last batch, as d2l
  assert.equal(count(3), 3); // fewer than 5 batches: every batch (no division by zero)
  assert.ok(isAnimatorBatch(468, 469));
});

test('history: series rows skip absent and non-finite values, in legend order', () => {
  const h = createHistory('LeNet', 'cpu', 2);
  h.points.push({ epoch: 0.5, trainLoss: 1.2, trainAcc: 0.6 });
  h.points.push({ epoch: 1, testAcc: 0.7 });
  h.points.push({ epoch: 1.5, trainLoss: NaN, trainAcc: 0.8 });
  const rows = toSeriesRows(h);
  assert.deepEqual(rows, [
    { epoch: 0.5, series: 'train loss', value: 1.2 },
    { epoch: 0.5, series: 'train acc', value: 0.6 },
    { epoch: 1, series: 'test acc', value: 0.7 },
    { epoch: 1.5, series: 'train acc', value: 0.8 },
  ]);
  assert.deepEqual(SERIES.map((s) => s.name), ['train loss', 'train acc', 'test acc']);
  const latest = latestValues(h);
  assert.deepEqual(latest.trainLoss, { epoch: 0.5, value: 1.2 });
  assert.deepEqual(latest.trainAcc, { epoch: 1.5, value: 0.8 });
  assert.deepEqual(latest.testAcc, { epoch: 1, value: 0.7 });
});

test('history: seed-format metric lines', () => {
  assert.equal(formatMetricsLine({ trainLoss: 0.4691, trainAcc: 0.8234, testAcc: 0.779 }), 'loss 0.469, train acc 0.823, test acc 0.779');
  assert.equal(formatSpeedLine(19296.84, 'cuda:0'), '19296.8 examples/sec on cuda:0');
});

test('history: writeFileAtomic replaces the file and leaves no temp file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'torchlet-view-'));
  try {
    const p = join(dir, 'sub', 'a.txt');
    writeFileAtomic(p, 'one');
    writeFileAtomic(p, 'two');
    assert.equal(readFileSync(p, 'utf8'), 'two');
    assert.deepEqual(readdirSync(join(dir, 'sub')), ['a.txt']);
    const h = createHistory('LeNet', 'cpu', 1);
    h.points.push({ epoch: 1, testAcc: 0.5 });
    const hp = writeHistory(dir, h);
    assert.deepEqual(JSON.parse(readFileSync(hp, 'utf8')), h);
    assert.throws(() => writeFileAtomic(join(dir, 'sub', 'a.txt', 'x'), 'nope'));
    assert.deepEqual(readdirSync(join(dir, 'sub')), ['a.txt']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
