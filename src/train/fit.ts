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
import type { TrainPoint } from './series.js';
import { LRScheduler, OneCycleLR, ReduceLROnPlateau, type SchedulerState } from '../optim/lr-scheduler.js';
import { consoleLines } from './progress-lines.js';
import { yieldToEventLoop } from '../util/yield.js';

/** What verbose shows: plain lines here; the Node entry installs the terminal's progress bar. */
let verboseDisplay: () => Callback = () => consoleLines();

/** Choose fit's verbose display (the Node entry sets the CLI's live bar). */
export function setVerboseDisplay(make: () => Callback): void {
  verboseDisplay = make;
}

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
  /** The lr scheduler's state_dict, when fit drives one. */
  scheduler?: SchedulerState | null;
  /** Each callback's state_dict, by its key (index and name). */
  callbacks?: Record<string, unknown>;
}

/** The per-epoch metrics callbacks and schedulers can watch. */
export type Monitor = 'trainLoss' | 'trainAcc' | 'testAcc';

/** What a callback can reach: the model, its optimiser, and a way to stop. */
export interface FitContext {
  readonly net: Module;
  readonly optimizer: Optimizer;
  /**
   * Stop training: during a batch event, after that batch (a checkpoint is taken, so the run
   * can resume); during an epoch event, after that epoch.
   */
  stop(reason: string): void;
}

/**
 * A callback: a plain object with any of these members. It sees every event fit emits, and
 * keeps its own state in checkpoints through stateDict/loadStateDict.
 */
export interface Callback {
  /** Names the callback's saved state (and it in messages). */
  readonly name?: string;
  onEvent?(e: FitEvent, ctx: FitContext): void | Promise<void>;
  /** At each checkpoint (every epoch end, and when stopping early), with what a resume needs. */
  onCheckpoint?(state: FitState, ctx: FitContext): void | Promise<void>;
  stateDict?(): unknown;
  loadStateDict?(state: unknown): void;
}

export type FitEvent =
  | { type: 'start'; epochs: number; numBatches: number; resumedFrom: FitState | null }
  | { type: 'batch'; epoch: number; batch: number; numBatches: number; loss: number; trainLoss: number; trainAcc: number }
  | { type: 'point'; point: TrainPoint; points: readonly TrainPoint[] }
  | { type: 'epoch'; epoch: number; trainLoss: number; trainAcc: number; testAcc: number; examplesPerSec: number; confusion: number[][]; lr: number }
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
  /** Why a callback stopped training before its last epoch (early stopping), else null. */
  stopReason: string | null;
}

export interface FitOptions {
  epochs: number;
  /** The learning rate of the SGD fit builds when no optimizer is given (then it is required). */
  lr?: number;
  /** Default: SGD(net.parameters(), { lr }), as the book. */
  optimizer?: Optimizer;
  /** Default: cross-entropy. */
  loss?: (yHat: Tensor, y: Tensor) => Tensor;
  /**
   * 'keep' (default) trains the weights the model has, so loaded weights are fine-tuned;
   * 'xavier' first re-initialises Conv2d and Linear weights as the book's init_weight does
   * (trainCh6 and `torchlet train` do).
   */
  init?: 'xavier' | 'keep';
  /** Print progress: a live bar on a terminal, plain lines elsewhere (the CLI's display). Default false. */
  verbose?: boolean;
  /** Plain objects on fit's events: earlyStopping(), bestCheckpoint(), metricsLogger(), runWriter(), your own. */
  callbacks?: readonly Callback[];
  /** An lr scheduler to step: per epoch, or per batch for OneCycleLR (see schedulerInterval). */
  scheduler?: LRScheduler | ReduceLROnPlateau;
  /** When to call scheduler.step(): 'epoch' (default) or 'batch' (OneCycleLR's default). */
  schedulerInterval?: 'epoch' | 'batch';
  /** The metric ReduceLROnPlateau watches (default 'trainLoss', which its default mode 'min' suits). */
  schedulerMonitor?: Monitor;
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

function buildOptimizer(net: Module, opts: FitOptions): Optimizer {
  if (opts.optimizer) return opts.optimizer;
  if (opts.lr === undefined) throw new Error('fit: give lr (for the SGD that fit builds) or your own optimizer');
  if (!(opts.lr >= 0)) throw new Error(`fit: lr must be a number ≥ 0, got ${opts.lr}`);
  return new SGD(net.parameters(), { lr: opts.lr });
}

function currentLr(optimizer: Optimizer): number {
  const lr = (optimizer as unknown as { lr?: unknown }).lr;
  return typeof lr === 'number' ? lr : NaN;
}

export async function fit(net: Module, trainIter: BatchIterable, testIter: BatchIterable, opts: FitOptions): Promise<FitResult> {
  const resume = opts.resume ?? null;
  if (opts.init !== undefined && opts.init !== 'keep' && opts.init !== 'xavier') throw new Error(`fit: init must be 'keep' or 'xavier', got '${String(opts.init)}'`);
  const optimizer = buildOptimizer(net, opts);
  if (!resume && opts.init === 'xavier') initWeightsXavier(net);
  const dev = opts.device === undefined ? net.device : toDevice(opts.device);
  net.to(dev);
  const scheduler = opts.scheduler ?? null;
  if (scheduler && scheduler.optimizer !== optimizer) throw new Error('fit: the scheduler was built for another optimizer than the one fit trains with');
  const schedulerInterval = opts.schedulerInterval ?? (scheduler instanceof OneCycleLR ? 'batch' : 'epoch');
  if (schedulerInterval === 'batch' && scheduler instanceof ReduceLROnPlateau) throw new Error('fit: ReduceLROnPlateau steps once per epoch, on a metric; it cannot use schedulerInterval \'batch\'');
  const lrForErrors = opts.lr ?? currentLr(optimizer);
  const lossFn = opts.loss ?? ((yHat: Tensor, y: Tensor) => crossEntropy(yHat, y));
  const numBatches = lengthOf(trainIter);
  if (numBatches === undefined || numBatches < 1) throw new Error('fit: the training iterator must have a length (number of batches) of at least 1');
  const perEpoch = opts.pointsPerEpoch ?? 5;
  const pointEvery = Math.max(1, Math.floor(numBatches / perEpoch));
  const callbacks: Callback[] = [...(opts.callbacks ?? [])];
  if (opts.verbose) callbacks.push(verboseDisplay());
  const callbackKey = (c: Callback, i: number): string => `${i}:${c.name ?? 'callback'}`;
  let stopReason: string | null = null;
  const ctx: FitContext = {
    net,
    optimizer,
    stop: (reason: string) => {
      stopReason ??= reason;
    },
  };
  const emit = async (e: FitEvent): Promise<void> => {
    await opts.onEvent?.(e);
    for (const c of callbacks) await c.onEvent?.(e, ctx);
  };
  if (resume) {
    if (scheduler && resume.scheduler) scheduler.loadStateDict(resume.scheduler);
    callbacks.forEach((c, i) => {
      const saved = resume.callbacks?.[callbackKey(c, i)];
      if (saved !== undefined) c.loadStateDict?.(saved);
    });
  }
  const checkpoint = async (state: FitState): Promise<void> => {
    await opts.onCheckpoint?.(state, optimizer);
    for (const c of callbacks) await c.onCheckpoint?.(state, ctx);
  };

  const timer = new Timer();
  timer.times = resume ? [...resume.timerTimes] : [];
  const points: TrainPoint[] = resume ? [...resume.points] : [];
  const metric = new Accumulator(3);
  let testAcc = resume?.lastTestAcc ?? NaN;
  let confusion: number[][] | null = null;
  let interrupted = false;
  const wallStart = performance.now();
  let wallExamples = resume?.wallExamples ?? 0;
  const wallSoFar = (): number => (resume?.wallSeconds ?? 0) + (performance.now() - wallStart) / 1000;
  if (resume) defaultGenerator.setState(resume.rngState);

  const snapshot = (epoch: number, batch: number): FitState => ({
    epoch, batch, metric: [...metric.data], timerTimes: [...timer.times], points: [...points],
    rngState: defaultGenerator.getState(), lastTestAcc: Number.isNaN(testAcc) ? null : testAcc,
    wallSeconds: wallSoFar(), wallExamples,
    scheduler: scheduler ? scheduler.stateDict() : null,
    callbacks: Object.fromEntries(callbacks.flatMap((c, i) => (c.stateDict ? [[callbackKey(c, i), c.stateDict()]] : []))),
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
      throw new NonFiniteLossError(epoch, batch, r.lossSum / r.examples, lrForErrors, eagerReads ? undefined : Math.round(r.examples / batchSize), input ? await nonFiniteIn(input) : undefined);
    }
    metric.add(r.lossSum, r.correct, r.examples);
    lv = r.lossSum / r.examples;
  };
  await emit({ type: 'start', epochs: opts.epochs, numBatches, resumedFrom: resume });
  net.train();
  let trainL = NaN;
  let trainAcc = NaN;
  let epochsDone = resume?.epoch ?? 0;
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
      if (scheduler instanceof LRScheduler && schedulerInterval === 'batch') scheduler.step();
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
      await yieldToEventLoop();
      if (atPoint) {
        points.push({ epoch: epoch + (i + 1) / numBatches, trainLoss: trainL, trainAcc });
        await emit({ type: 'point', point: points[points.length - 1], points });
      }
      const stopNow = opts.shouldStop?.() === true;
      if ((stopNow || stopReason !== null) && i < numBatches - 1) {
        interrupted = stopNow;
        await readSums(epoch, i, X.shape[0]);
        await checkpoint(snapshot(epoch, i + 1));
        break;
      }
    }
    if (interrupted || (stopReason !== null && i < numBatches - 1)) break;
    const ev = await evaluate(net, testIter, { confusion: true });
    testAcc = ev.accuracy;
    confusion = ev.confusion ?? null;
    points.push({ epoch: epoch + 1, testAcc });
    await emit({ type: 'point', point: points[points.length - 1], points });
    epochsDone = epoch + 1;
    const examplesPerSec = (metric.get(2) * epochsDone) / timer.sum();
    const epochEvent = { type: 'epoch' as const, epoch, trainLoss: trainL, trainAcc, testAcc, examplesPerSec, confusion: confusion ?? [], lr: currentLr(optimizer) };
    await emit(epochEvent);
    if (scheduler instanceof ReduceLROnPlateau) scheduler.step(epochEvent[opts.schedulerMonitor ?? 'trainLoss']);
    else if (scheduler && schedulerInterval === 'epoch') scheduler.step();
    await checkpoint(snapshot(epoch + 1, 0));
    if (opts.shouldStop?.() && epoch + 1 < opts.epochs) interrupted = true;
    if (stopReason !== null) break;
  }
  const result: FitResult = {
    trainLoss: trainL,
    trainAcc,
    testAcc,
    // The book's formula: examples in an epoch × epochs / total compute time.
    examplesPerSec: (metric.get(2) * Math.max(epochsDone, 1)) / timer.sum(),
    wallExamplesPerSec: wallExamples / wallSoFar(),
    points,
    confusion,
    interrupted,
    stopReason,
  };
  await emit({ type: 'end', result });
  return result;
}
