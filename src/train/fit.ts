/**
 * fit(): the TypeScript train_ch6. Same metrics as the seed — mean train loss,
 * train accuracy, test accuracy per epoch, five curve points per epoch, and
 * examples/sec over compute time only — plus events for observers, a
 * checkpoint hook that captures everything needed to resume bit-for-bit, and
 * a guard that stops on a NaN/Inf loss.
 */
import type { Module } from '../nn/module.js';
import { Conv2d } from '../nn/layers/conv.js';
import { Linear } from '../nn/layers/linear.js';
import { xavierUniform_ } from '../nn/init.js';
import { noGrad } from '../autograd/grad-mode.js';
import type { Tensor } from '../tensor.js';
import { crossEntropy } from '../ops/softmax.js';
import { SGD } from '../optim/sgd.js';
import type { Optimizer } from '../optim/optimizer.js';
import { defaultGenerator } from '../random.js';
import { Accumulator, Timer, correctCount } from './metrics.js';
import { tidy } from '../memory.js';
import { backendFor } from '../backend/registry.js';
import { RunningSums } from './running-sums.js';
import { device as toDevice, type DeviceLike } from '../device.js';
import { evaluate } from './evaluate.js';
import { batchesOf, lengthOf, releaseBatchTensor, type BatchIterable } from './batches.js';
import type { TrainPoint } from './history.js';

export interface FitState {
  /** Epoch in progress (0-based) and the index of the next batch in it. */
  epoch: number;
  batch: number;
  /** The epoch's Accumulator(3): loss sum, correct count, example count. */
  metric: number[];
  timerTimes: number[];
  points: TrainPoint[];
  rngState: number[];
  lastTestAcc: number | null;
  /** Seconds of wall time before this (resumed) session. */
  wallSeconds: number;
  wallExamples: number;
}

export type FitEvent =
  | { type: 'start'; epochs: number; numBatches: number; resumedFrom: FitState | null }
  | { type: 'batch'; epoch: number; batch: number; numBatches: number; loss: number; trainLoss: number; trainAcc: number }
  | { type: 'point'; point: TrainPoint; points: readonly TrainPoint[] }
  | { type: 'epoch'; epoch: number; trainLoss: number; trainAcc: number; testAcc: number; examplesPerSec: number; confusion: number[][] }
  | { type: 'end'; result: FitResult };

export interface FitResult {
  trainLoss: number;
  trainAcc: number;
  testAcc: number;
  /** d2l's figure: examples processed per second of compute (forward, backward, update) only. */
  examplesPerSec: number;
  /** Examples per second of wall-clock time, data loading and evaluation included. */
  wallExamplesPerSec: number;
  points: TrainPoint[];
  confusion: number[][] | null;
  /** True when stopped early by shouldStop (e.g. Ctrl-C). */
  interrupted: boolean;
}

export interface FitOptions {
  epochs: number;
  lr: number;
  /** Default: SGD(net.parameters(), lr), as the seed. */
  optimizer?: Optimizer;
  /** Default: cross-entropy. */
  loss?: (yHat: Tensor, y: Tensor) => Tensor;
  /** 'xavier' (default) re-initialises Conv2d and Linear weights as the seed's init_weight; 'keep' leaves them. */
  init?: 'xavier' | 'keep';
  pointsPerEpoch?: number;
  onEvent?: (e: FitEvent) => void | Promise<void>;
  /** Called at every epoch end and when stopping early, with what a resume needs. */
  onCheckpoint?: (state: FitState, optimizer: Optimizer) => void | Promise<void>;
  /** Polled after each batch; returning true stops after checkpointing. */
  shouldStop?: () => boolean;
  /** Where to train: the net is moved there and each batch follows (default: where the net's parameters are). */
  device?: DeviceLike;
  /** Continue from a checkpoint (model and optimizer must already hold its weights and state). */
  resume?: FitState;
}

export class NonFiniteLossError extends Error {
  constructor(readonly epoch: number, readonly batch: number, readonly value: number, lr: number, overBatches?: number, badInput?: string) {
    const where = overBatches && overBatches > 1 ? `in the ${overBatches} batches up to epoch ${epoch + 1}, batch ${batch + 1}` : `at epoch ${epoch + 1}, batch ${batch + 1}`;
    const cause = badInput
      ? `The input batch itself holds ${badInput}, so the data is at fault, not the learning rate; check the dataset. `
      : `The learning rate (${lr}) is probably too high for this model; try a lower --lr. `;
    super(`training stopped: the loss became ${value} ${where}. ${cause}The last good checkpoint (end of the previous epoch) was kept.`);
    this.name = 'NonFiniteLossError';
  }
}

/** 'a NaN at index 17' when the tensor holds a NaN or an infinity, else undefined. */
async function nonFiniteIn(t: Tensor): Promise<string | undefined> {
  if (t.isDisposed) return undefined;
  const v = await t.data();
  for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i])) return `${Number.isNaN(v[i]) ? 'a NaN' : `an infinity (${v[i]})`} at index ${i}`;
  return undefined;
}

/** The seed's init_weight: Xavier-uniform for every Conv2d and Linear weight. */
export function initWeightsXavier(net: Module): void {
  net.apply((m) => {
    if (m instanceof Linear || m instanceof Conv2d) xavierUniform_(m.weight);
  });
}

/** Iterate one epoch; loaders that can address epochs (our DataLoader) get the right shuffle on resume. */
function epochIterable(it: BatchIterable, epoch: number): BatchIterable {
  const withEpochs = it as { iterEpoch?: (e: number) => BatchIterable };
  return typeof withEpochs.iterEpoch === 'function' ? withEpochs.iterEpoch(epoch) : it;
}

export async function fit(net: Module, trainIter: BatchIterable, testIter: BatchIterable, opts: FitOptions): Promise<FitResult> {
  const resume = opts.resume ?? null;
  if (!resume && (opts.init ?? 'xavier') === 'xavier') initWeightsXavier(net);
  const dev = opts.device === undefined ? net.device : toDevice(opts.device);
  net.to(dev);
  const optimizer = opts.optimizer ?? new SGD(net.parameters(), { lr: opts.lr });
  const lossFn = opts.loss ?? ((yHat: Tensor, y: Tensor) => crossEntropy(yHat, y));
  const numBatches = lengthOf(trainIter);
  if (numBatches === undefined || numBatches < 1) throw new Error('fit: the training iterator must have a length (number of batches) of at least 1');
  const perEpoch = opts.pointsPerEpoch ?? 5;
  const pointEvery = Math.max(1, Math.floor(numBatches / perEpoch));
  const emit = async (e: FitEvent): Promise<void> => {
    await opts.onEvent?.(e);
  };

  const timer = new Timer();
  timer.times = resume ? [...resume.timerTimes] : [];
  const points: TrainPoint[] = resume ? [...resume.points] : [];
  const metric = new Accumulator(3);
  let testAcc = resume?.lastTestAcc ?? NaN;
  let confusion: number[][] | null = null;
  let interrupted = false;
  const wallStart = process.hrtime.bigint();
  let wallExamples = resume?.wallExamples ?? 0;
  const wallSoFar = (): number => (resume?.wallSeconds ?? 0) + Number(process.hrtime.bigint() - wallStart) / 1e9;
  if (resume) defaultGenerator.setState(resume.rngState);

  const snapshot = (epoch: number, batch: number): FitState => ({
    epoch, batch, metric: [...metric.data], timerTimes: [...timer.times], points: [...points],
    rngState: defaultGenerator.getState(), lastTestAcc: Number.isNaN(testAcc) ? null : testAcc,
    wallSeconds: wallSoFar(), wallExamples,
  });

  const backend = backendFor(dev);
  // Where reading a value means waiting for a device, sums stay there between curve points.
  const eagerReads = backend.readSync !== undefined;
  const sums = new RunningSums();
  let lv = NaN;
  /** Move the device-side sums into the epoch's metric (a readback on a GPU), stopping on a non-finite loss. */
  const readSums = async (epoch: number, batch: number, batchSize: number, input?: Tensor): Promise<void> => {
    if (sums.pending === 0) return;
    const r = await sums.read();
    if (!Number.isFinite(r.lossSum)) {
      throw new NonFiniteLossError(epoch, batch, r.lossSum / r.examples, opts.lr, eagerReads ? undefined : Math.round(r.examples / batchSize), input ? await nonFiniteIn(input) : undefined);
    }
    metric.add(r.lossSum, r.correct, r.examples);
    lv = r.lossSum / r.examples;
  };
  await emit({ type: 'start', epochs: opts.epochs, numBatches, resumedFrom: resume });
  net.train();
  let trainL = NaN;
  let trainAcc = NaN;
  for (let epoch = resume?.epoch ?? 0; epoch < opts.epochs && !interrupted; epoch++) {
    const startBatch = resume && epoch === resume.epoch ? resume.batch : 0;
    if (startBatch > 0 && resume) metric.data = [...resume.metric];
    else metric.reset();
    net.train();
    let i = -1;
    for await (const [X, y] of batchesOf(epochIterable(trainIter, epoch))) {
      i++;
      if (i < startBatch) continue; // already trained before the interruption
      timer.start();
      // One scope per step: everything the step made but the loss and the correct count is
      // released when it ends, so memory stays flat from step to step without waiting for GC.
      const step = tidy(() => {
        optimizer.zeroGrad();
        const Xd = X.to(dev);
        const yd = y.to(dev);
        const yHat = net.forward(Xd);
        const l = lossFn(yHat, yd);
        l.backward();
        return { loss: l.detach(), correct: noGrad(() => correctCount(yHat, yd)) };
      });
      sums.add(step.loss, step.correct, X.shape[0]);
      step.loss.dispose();
      step.correct.dispose();
      tidy(() => optimizer.step());
      // The step's work goes to the device in one submit; a GPU then runs it while the next batch is recorded.
      backend.flush?.();
      await backend.settle?.();
      const atPoint = (i + 1) % pointEvery === 0 || i === numBatches - 1;
      // (the batch is still alive here, so a non-finite loss can be traced to non-finite inputs)
      if (eagerReads || atPoint) await readSums(epoch, i, X.shape[0], X);
      releaseBatchTensor(X);
      releaseBatchTensor(y);
      timer.stop();
      wallExamples += X.shape[0];
      if (metric.get(2) > 0) {
        trainL = metric.get(0) / metric.get(2);
        trainAcc = metric.get(1) / metric.get(2);
      }
      await emit({ type: 'batch', epoch, batch: i, numBatches, loss: lv, trainLoss: trainL, trainAcc });
      // Let the event loop run (signals such as Ctrl-C, progress timers, chart rendering):
      // a loader that hands out ready batches would otherwise keep it starved for a whole run.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (atPoint) {
        points.push({ epoch: epoch + (i + 1) / numBatches, trainLoss: trainL, trainAcc });
        await emit({ type: 'point', point: points[points.length - 1], points });
      }
      if (opts.shouldStop?.() && i < numBatches - 1) {
        interrupted = true;
        await readSums(epoch, i, X.shape[0]);
        await opts.onCheckpoint?.(snapshot(epoch, i + 1), optimizer);
        break;
      }
    }
    if (interrupted) break;
    const ev = await evaluate(net, testIter, { confusion: true });
    testAcc = ev.accuracy;
    confusion = ev.confusion ?? null;
    points.push({ epoch: epoch + 1, testAcc });
    await emit({ type: 'point', point: points[points.length - 1], points });
    const examplesPerSec = (metric.get(2) * (epoch + 1)) / timer.sum();
    await emit({ type: 'epoch', epoch, trainLoss: trainL, trainAcc, testAcc, examplesPerSec, confusion: confusion ?? [] });
    await opts.onCheckpoint?.(snapshot(epoch + 1, 0), optimizer);
    if (opts.shouldStop?.() && epoch + 1 < opts.epochs) interrupted = true;
  }
  const result: FitResult = {
    trainLoss: trainL,
    trainAcc,
    testAcc,
    // The seed's formula: examples in an epoch × epochs / total compute time.
    examplesPerSec: (metric.get(2) * opts.epochs) / timer.sum(),
    wallExamplesPerSec: wallExamples / wallSoFar(),
    points,
    confusion,
    interrupted,
  };
  await emit({ type: 'end', result });
  return result;
}
