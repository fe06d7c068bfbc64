/**
 * fit() for library users: weights kept unless asked (trainCh6 re-initialises),
 * lr needed only when fit builds the optimiser, verbose output, callbacks
 * (early stopping, best checkpoint, metrics logs, stopping from a callback,
 * state across resume), schedulers stepped by fit, and the run writer's
 * directory.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import * as torch from '../src/index.js';
import { nn, optim } from '../src/index.js';
import { tinyDataset } from './helpers/tiny-data.js';
import { DataLoader } from '../src/data/dataloader.js';
import { fit, type Callback, type FitEvent, type FitState } from '../src/train/fit.js';
import { trainCh6 } from '../src/train/train-ch6.js';
import { bestCheckpoint, earlyStopping, metricsLogger } from '../src/train/callbacks.js';
import { consoleProgress } from '../src/train/verbose.js';
import { refreshGapMs, runWriter } from '../src/train/run-writer.js';
import { loadSafetensors } from '../src/io/safetensors-file.js';

let work = '';
before(() => {
  work = mkdtempSync(path.join(tmpdir(), 'torchlet-callbacks-'));
});
after(() => rmSync(work, { recursive: true, force: true }));

const loaders = (): [DataLoader, DataLoader] => [
  new DataLoader(tinyDataset(100, 1), { batchSize: 10, shuffle: true, seed: 3 }),
  new DataLoader(tinyDataset(40, 2), { batchSize: 20 }),
];
const smallNet = (): nn.Sequential => new nn.Sequential(new nn.Flatten(), new nn.Linear(144, 10));
const values = async (m: nn.Module): Promise<number[][]> => Promise.all(m.parameters().map(async (p) => [...(await p.data())]));

test('fit keeps loaded weights by default; init: \'xavier\' and trainCh6 re-initialise', async () => {
  torch.manualSeed(0);
  const net = smallNet();
  const before = await values(net);
  const [tr, te] = loaders();
  // lr 0: training changes nothing, so what remains is what the initialisation did.
  await fit(net, tr, te, { epochs: 1, lr: 0 });
  assert.deepEqual(await values(net), before, 'fit re-initialised weights it was not asked to');
  await fit(net, tr, te, { epochs: 1, lr: 0, init: 'xavier' });
  assert.notDeepEqual(await values(net), before);
  const again = smallNet();
  again.loadStateDict(net.stateDict());
  const loaded = await values(again);
  await trainCh6(again, tr, te, 1, 1e-30);
  const after = await values(again);
  // Xavier-uniform bound for Linear(144, 10): sqrt(6 / (144 + 10)).
  assert.notDeepEqual(after[0], loaded[0], 'trainCh6 kept the weights; the book\'s train_ch6 re-initialises');
  assert.ok(Math.max(...after[0].map(Math.abs)) <= Math.sqrt(6 / 154) + 1e-6);
});

test('fit needs lr only when it builds the optimiser; bad settings are named', async () => {
  const net = smallNet();
  const [tr, te] = loaders();
  await assert.rejects(fit(net, tr, te, { epochs: 1 }), /fit: give lr \(for the SGD that fit builds\) or your own optimizer/);
  await assert.rejects(fit(net, tr, te, { epochs: 1, lr: 0.1, init: 'he' as never }), /init must be 'keep' or 'xavier', got 'he'/);
  const opt = new optim.SGD(net.parameters(), { lr: 0.05 });
  const r = await fit(net, tr, te, { epochs: 1, optimizer: opt });
  assert.ok(Number.isFinite(r.trainLoss));
  const other = new optim.SGD(net.parameters(), { lr: 0.05 });
  await assert.rejects(fit(net, tr, te, { epochs: 1, optimizer: opt, scheduler: new optim.StepLR(other, 1) }), /scheduler was built for another optimizer/);
});

test('verbose prints the CLI\'s plain lines when not on a terminal', async () => {
  let text = '';
  const sink = new Writable({ write(chunk, _enc, done) { text += String(chunk); done(); } });
  const [tr, te] = loaders();
  await fit(smallNet(), tr, te, { epochs: 2, lr: 0.1, callbacks: [consoleProgress(sink)] });
  assert.match(text, /^epoch 1\/2 \[ ?\d+\/10\] loss \d\.\d{3}, train acc \d\.\d{3}$/m);
  assert.match(text, /^epoch 2\/2: loss \d\.\d{3}, train acc \d\.\d{3}, test acc \d\.\d{3}, [\d.]+ examples\/sec$/m);
  assert.doesNotMatch(text, /\r|\x1b/, 'no carriage returns or escapes off a terminal');
});

test('earlyStopping stops after patience epochs without improvement, and says why', async () => {
  const [tr, te] = loaders();
  const seen: number[] = [];
  // lr 0: the test accuracy never changes, so it stops improving after the first epoch.
  const stopper = earlyStopping({ monitor: 'testAcc', patience: 2 });
  const r = await fit(smallNet(), tr, te, {
    epochs: 10, lr: 0, callbacks: [stopper, { onEvent: (e) => { if (e.type === 'epoch') seen.push(e.epoch); } }],
  });
  assert.deepEqual(seen, [0, 1, 2]);
  assert.equal(stopper.stoppedEpoch, 3);
  assert.match(r.stopReason ?? '', /early stopping: testAcc has not improved for 2 epochs \(best 0\.\d{4}\)/);
  assert.equal(r.interrupted, false);
  // minDelta: an improvement smaller than it does not count.
  const [tr2, te2] = loaders();
  const strict = earlyStopping({ monitor: 'trainLoss', patience: 1, minDelta: 10 });
  const r2 = await fit(smallNet(), tr2, te2, { epochs: 5, lr: 0.1, callbacks: [strict] });
  assert.equal(strict.stoppedEpoch, 2, r2.stopReason ?? 'did not stop');
  assert.throws(() => earlyStopping({ monitor: 'valLoss' as never }), /monitor must be one of trainLoss, trainAcc, testAcc, got 'valLoss'/);
});

test('a callback can stop training mid-epoch; the stop is checkpointed and the result says why', async () => {
  const [tr, te] = loaders();
  const checkpoints: FitState[] = [];
  const stopAt: Callback = { onEvent: (e, ctx) => { if (e.type === 'batch' && e.epoch === 1 && e.batch === 3) ctx.stop('enough'); } };
  const events: FitEvent[] = [];
  const r = await fit(smallNet(), tr, te, {
    epochs: 3, lr: 0.1, callbacks: [stopAt, { onCheckpoint: (s) => { checkpoints.push(s); } }],
    onEvent: (e) => { events.push(e); },
  });
  assert.equal(r.stopReason, 'enough');
  assert.deepEqual(checkpoints.map((s) => [s.epoch, s.batch]), [[1, 0], [1, 4]]);
  assert.equal(events.filter((e) => e.type === 'epoch').length, 1, 'the stopped epoch was not evaluated as if complete');
});

test('bestCheckpoint keeps the best epoch\'s weights with its metric; metricsLogger writes CSV and JSONL, and a resume does not log twice', async () => {
  const best = path.join(work, 'best.safetensors');
  const csv = path.join(work, 'metrics.csv');
  const jsonl = path.join(work, 'metrics.jsonl');
  const [tr, te] = loaders();
  const keeper = bestCheckpoint({ path: best, monitor: 'trainLoss' });
  const seen: Array<{ epoch: number; loss: number }> = [];
  const net = smallNet();
  const states: FitState[] = [];
  await fit(net, tr, te, {
    epochs: 3, lr: 0.5, optimizer: new optim.SGD(net.parameters(), { lr: 0.5 }),
    callbacks: [keeper, metricsLogger(csv), metricsLogger(jsonl), { onEvent: (e) => { if (e.type === 'epoch') seen.push({ epoch: e.epoch + 1, loss: e.trainLoss }); }, onCheckpoint: (s) => { states.push(s); } }],
  });
  const bestSeen = seen.reduce((a, b) => (b.loss < a.loss ? b : a));
  assert.deepEqual(keeper.best, { epoch: bestSeen.epoch, value: bestSeen.loss });
  const saved = loadSafetensors(best);
  assert.equal(saved.metadata?.epoch, String(bestSeen.epoch));
  assert.deepEqual([...saved.tensors.keys()].sort(), ['1.bias', '1.weight']);
  const lines = readFileSync(csv, 'utf8').trim().split('\n');
  assert.equal(lines[0], 'epoch,trainLoss,trainAcc,testAcc,lr,examplesPerSec');
  assert.deepEqual(lines.slice(1).map((l) => Number(l.split(',')[0])), [1, 2, 3]);
  assert.equal(Number(lines[1].split(',')[4]), 0.5);
  const rows = readFileSync(jsonl, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { epoch: number; trainLoss: number });
  assert.deepEqual(rows.map((r) => r.epoch), [1, 2, 3]);
  assert.equal(rows[2].trainLoss, seen[2].loss);
  // Resume from the end of epoch 2 with one more epoch: rows 3.. are dropped, then written again once.
  const [tr2, te2] = loaders();
  const net2 = smallNet();
  await fit(net2, tr2, te2, { epochs: 4, lr: 0.5, resume: states[1], callbacks: [metricsLogger(csv)] });
  assert.deepEqual(readFileSync(csv, 'utf8').trim().split('\n').slice(1).map((l) => Number(l.split(',')[0])), [1, 2, 3, 4]);
});

test('callback state rides in the checkpoint: early stopping resumed mid-run stops on the same epoch', async () => {
  const straight = earlyStopping({ monitor: 'testAcc', patience: 3 });
  const [tr, te] = loaders();
  await fit(smallNet(), tr, te, { epochs: 10, lr: 0, callbacks: [straight] });
  const states: FitState[] = [];
  const [tr2, te2] = loaders();
  const first = earlyStopping({ monitor: 'testAcc', patience: 3 });
  let epochs = 0;
  await fit(smallNet(), tr2, te2, {
    epochs: 10, lr: 0, callbacks: [first, { onEvent: (e, ctx) => { if (e.type === 'epoch' && ++epochs === 2) ctx.stop('pause'); }, onCheckpoint: (s) => { states.push(s); } }],
  });
  const last = JSON.parse(JSON.stringify(states[states.length - 1])) as FitState;
  const resumed = earlyStopping({ monitor: 'testAcc', patience: 3 });
  const [tr3, te3] = loaders();
  await fit(smallNet(), tr3, te3, { epochs: 10, lr: 0, resume: last, callbacks: [resumed, { name: 'placeholder' }] });
  assert.equal(resumed.stoppedEpoch, straight.stoppedEpoch);
});

test('fit steps a scheduler per epoch (OneCycleLR per batch); its state resumes with the checkpoint', async () => {
  const [tr, te] = loaders();
  const net = smallNet();
  const opt = new optim.SGD(net.parameters(), { lr: 0.2 });
  const lrs: number[] = [];
  await fit(net, tr, te, { epochs: 4, optimizer: opt, scheduler: new optim.StepLR(opt, 2, 0.5), callbacks: [{ onEvent: (e) => { if (e.type === 'epoch') lrs.push(e.lr); } }] });
  assert.deepEqual(lrs, [0.2, 0.2, 0.1, 0.1]);
  const net2 = smallNet();
  const opt2 = new optim.SGD(net2.parameters(), { lr: 0.1, momentum: 0.9 });
  const one = new optim.OneCycleLR(opt2, 0.5, { epochs: 2, stepsPerEpoch: 10 });
  const [tr2, te2] = loaders();
  const states: FitState[] = [];
  await fit(net2, tr2, te2, { epochs: 2, optimizer: opt2, scheduler: one, onCheckpoint: (s) => { states.push(s); } });
  assert.equal(one.lastEpoch, 20, 'OneCycleLR stepped once per batch');
  // The same schedule stepped by hand 20 times, as a PyTorch loop steps it after each batch.
  const alone = new optim.OneCycleLR(new optim.SGD([new nn.Parameter(torch.zeros([1]))], { lr: 0.1, momentum: 0.9 }), 0.5, { epochs: 2, stepsPerEpoch: 10 });
  for (let i = 0; i < 20; i++) alone.step();
  assert.equal(opt2.lr, alone.getLastLr()[0]);
  assert.equal(opt2.momentum, alone.momentum);
  // Plateau: on the train loss by default; on another monitor when asked.
  const net3 = smallNet();
  const opt3 = new optim.SGD(net3.parameters(), { lr: 0.1 });
  const plateau = new optim.ReduceLROnPlateau(opt3, { mode: 'max', patience: 0, factor: 0.5 });
  const [tr3, te3] = loaders();
  const lrs3: number[] = [];
  await fit(net3, tr3, te3, { epochs: 3, optimizer: opt3, scheduler: plateau, schedulerMonitor: 'trainAcc', callbacks: [{ onEvent: (e) => { if (e.type === 'epoch') lrs3.push(e.lr); } }] });
  assert.equal(lrs3[0], 0.1);
  // Resume restores the scheduler: the lr after the resume point is the uninterrupted run's.
  const net4 = smallNet();
  const opt4 = new optim.SGD(net4.parameters(), { lr: 0.2 });
  const sched4 = new optim.StepLR(opt4, 2, 0.5);
  const saved: FitState[] = [];
  const [tr4, te4] = loaders();
  await fit(net4, tr4, te4, { epochs: 2, optimizer: opt4, scheduler: sched4, onCheckpoint: (s) => { saved.push(s); } });
  const net5 = smallNet();
  const opt5 = new optim.SGD(net5.parameters(), { lr: 0.2 });
  const sched5 = new optim.StepLR(opt5, 2, 0.5);
  const [tr5, te5] = loaders();
  const lrs5: number[] = [];
  await fit(net5, tr5, te5, { epochs: 4, optimizer: opt5, scheduler: sched5, resume: JSON.parse(JSON.stringify(saved[1])) as FitState, callbacks: [{ onEvent: (e) => { if (e.type === 'epoch') lrs5.push(e.lr); } }] });
  assert.deepEqual(lrs5, [0.1, 0.1]);
});

test('runWriter gives a library user the CLI\'s run directory: config, metrics, checkpoints, chart, report with hyperparameters', async () => {
  const dir = path.join(work, 'run');
  const writer = runWriter(dir, { model: 'tiny', config: { lr: 0.3, batchSize: 10, optimizer: 'sgd' } });
  const [tr, te] = loaders();
  const net = smallNet();
  const opt = new optim.SGD(net.parameters(), { lr: 0.3 });
  await fit(net, tr, te, { epochs: 2, optimizer: opt, callbacks: [writer] });
  for (const f of ['config.json', 'metrics.jsonl', 'model.safetensors', 'checkpoint.json', 'chart.svg', 'chart.png', 'report.html']) {
    assert.ok(existsSync(path.join(dir, f)), `${f} missing`);
  }
  assert.deepEqual(JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8')), { lr: 0.3, batchSize: 10, optimizer: 'sgd' });
  const report = readFileSync(path.join(dir, 'report.html'), 'utf8');
  assert.match(report, /<section id="hyperparameters">[\s\S]*<dt>lr<\/dt><dd>0\.3<\/dd>/);
  assert.match(report, /Final metrics/);
  const epochs = readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { kind: string }).filter((r) => r.kind === 'epoch');
  assert.equal(epochs.length, 2);
  // And it resumes: the checkpoint loads into a fresh model and optimiser.
  const again = runWriter(dir, { model: 'tiny' });
  const net2 = smallNet();
  const state = again.loadCheckpoint(net2, new optim.SGD(net2.parameters(), { lr: 0.3 }));
  assert.deepEqual([state.epoch, state.batch], [2, 0]);
  assert.deepEqual(await values(net2), await values(net));
});

test('runWriter spaces its unforced chart refreshes by what drawing costs: 2% of the time, between 1 s and 1 min', () => {
  assert.equal(refreshGapMs(0), 1000);
  assert.equal(refreshGapMs(10), 1000);
  assert.equal(refreshGapMs(45), 2250);
  assert.equal(refreshGapMs(250), 12_500);
  assert.equal(refreshGapMs(5000), 60_000);
});
