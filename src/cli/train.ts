/**
 * `torchlet train <model>`: the seed's training run with the seed's
 * hyperparameters as defaults, a live progress bar, a chart and report that
 * refresh while it runs, atomic checkpoints, Ctrl-C and --resume.
 */
import type { Command } from 'commander';
import { getModelSpec, type ModelSpec } from '../models/index.js';
import type { Module } from '../nn/module.js';
import { noGrad } from '../autograd/grad-mode.js';
import { zeros } from '../creation.js';
import { useDevice, deviceLabel } from '../node/use-device.js';
import { manualSeed } from '../random.js';
import { loadDataFashionMNIST } from '../data/load-data.js';
import { fit, NonFiniteLossError, type Callback, type FitState } from '../train/fit.js';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { RUN_FILES, RunDir, defaultRunDir, type RunConfig } from '../train/run-dir.js';
import { runWriter } from '../train/run-writer.js';
import { consoleProgress } from '../train/verbose.js';
import { bestCheckpoint, earlyStopping } from '../train/callbacks.js';
import { sampleTestImages } from './samples.js';
import { positiveInt, positiveNumber, seedInt } from './args.js';
import {
  AUGMENT_USAGE, OPTIMIZERS, SCHEDULER_USAGE, augmentArg, buildAugment, buildOptimizer, buildScheduler, earlyStopArg,
  nonNegativeNumber, optimizerArg, parseEarlyStop, schedulerArg, type OptimizerName,
} from './train-options.js';

interface TrainFlags {
  epochs?: number;
  lr?: number;
  batchSize?: number;
  resize?: number;
  device: string;
  seed: number;
  threads?: number;
  out?: string;
  resume?: string;
  dataDir?: string;
  workers?: number;
  optimizer?: OptimizerName;
  momentum?: number;
  weightDecay?: number;
  scheduler?: string;
  earlyStop?: string;
  augment?: string;
  keepBest?: boolean;
}

/**
 * Evaluation keeps no activations for a backward pass, so 28x28 networks evaluate 1024 images a
 * batch: LeNet's 10,000 test images took 155 ms instead of 217 ms at batch 256 (scratch timing of
 * its forward on the cpu backend). Upscaled inputs keep the training batch, whose activations
 * are what bounds memory there.
 */
function evalBatchSize(trainBatch: number, side: number): number {
  return side <= 28 ? Math.max(trainBatch, 1024) : trainBatch;
}

export function registerTrainCommand(program: Command): void {
  program
    .command('train')
    .description("train a zoo model on Fashion-MNIST with the book's settings (d2l's train_ch6)")
    .argument('<model>', 'model name (see `torchlet models`)')
    .option('--epochs <n>', 'epochs (default: the book\'s, 10)', positiveInt)
    .option('--lr <lr>', 'learning rate (default: the book\'s for this model)', positiveNumber)
    .option('--batch-size <n>', 'batch size (default: the book\'s)', positiveInt)
    .option('--resize <px>', 'resize images to px×px (default: the book\'s input size)', positiveInt)
    .option('--device <d>', 'cpu (fastest available), gpu, or reference', 'cpu')
    .option('--seed <n>', 'random seed for init, shuffling and dropout', seedInt, 0)
    .option('--threads <n>', 'compute threads (default: all cores)', positiveInt)
    .option('--out <dir>', 'run directory (default: runs/<model>-<timestamp>)')
    .option('--resume <dir>', 'continue an interrupted run from its directory')
    .option('--data-dir <dir>', 'directory holding the Fashion-MNIST IDX files')
    .option('--workers <n>', 'data-loading worker threads', (v) => Number.parseInt(v, 10))
    .option('--optimizer <name>', `${OPTIMIZERS.join(', ')} (default: sgd, as the book)`, optimizerArg)
    .option('--momentum <m>', "SGD's momentum (default 0, as the book)", nonNegativeNumber)
    .option('--weight-decay <wd>', 'weight decay (default 0)', nonNegativeNumber)
    .option('--scheduler <spec>', `learning-rate schedule: ${SCHEDULER_USAGE}`, schedulerArg)
    .option('--early-stop <spec>', 'stop when test accuracy has not improved for PATIENCE epochs: PATIENCE, or train-loss|train-acc|test-acc:PATIENCE', earlyStopArg)
    .option('--augment <list>', `augment the training images: ${AUGMENT_USAGE}`, augmentArg)
    .option('--keep-best', 'also keep the weights of the best epoch by test accuracy, as best.safetensors')
    .action(async (modelName: string, flags: TrainFlags) => {
      process.exitCode = await trainCommand(modelName, flags);
    });
}

/** A saved config.json, checked before a resume trusts it (it may have been edited or damaged). */
function checkSavedConfig(c: RunConfig, file: string): void {
  const bad = (what: string, v: unknown, want: string): never => {
    throw new Error(`--resume: ${file} has ${what} ${JSON.stringify(v)}; expected ${want}. Fix the file or start a new run with --out`);
  };
  const posInt = (v: unknown, most: number): boolean => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= most;
  if (!posInt(c.epochs, 1e6)) bad('epochs', c.epochs, 'a whole number from 1 to 1000000');
  if (!(typeof c.lr === 'number' && Number.isFinite(c.lr) && c.lr > 0)) bad('lr', c.lr, 'a positive number');
  if (!posInt(c.batchSize, 60000)) bad('batchSize', c.batchSize, 'a whole number from 1 to 60000 (the training set size)');
  if (!(c.resize === null || posInt(c.resize, 4096))) bad('resize', c.resize, 'null or a whole number of pixels');
  if (!Number.isInteger(c.seed)) bad('seed', c.seed, 'a whole number');
  if (!(c.threads === null || posInt(c.threads, 4096))) bad('threads', c.threads, 'null or a positive whole number');
  if (typeof c.device !== 'string') bad('device', c.device, "a device name such as 'cpu'");
  // Settings added later are optional: runs written before them lack them.
  if (c.optimizer !== undefined && !(OPTIMIZERS as readonly string[]).includes(c.optimizer)) bad('optimizer', c.optimizer, OPTIMIZERS.join(', '));
  for (const k of ['momentum', 'weightDecay'] as const) {
    if (c[k] !== undefined && !(typeof c[k] === 'number' && Number.isFinite(c[k]) && (c[k] as number) >= 0)) bad(k, c[k], 'a number ≥ 0');
  }
  const checked = (k: 'scheduler' | 'earlyStop' | 'augment', check: (v: string) => unknown): void => {
    const v = c[k];
    if (v === undefined || v === null) return;
    try {
      if (typeof v !== 'string') throw new Error('not text');
      check(v);
    } catch {
      bad(k, v, `null or a valid --${k === 'earlyStop' ? 'early-stop' : k} value`);
    }
  };
  checked('scheduler', schedulerArg);
  checked('earlyStop', earlyStopArg);
  checked('augment', augmentArg);
}

/** Run one image through the network, so an input size it cannot take fails here, saying so, rather than deep in training. */
function checkInputSize(net: Module, spec: ModelSpec, resize: number | null): void {
  const side = resize ?? 28; // no resize: Fashion-MNIST's own 28×28
  const shape = [1, spec.inputShape[0], side, side];
  const was = net.training;
  net.eval();
  try {
    const out = noGrad(() => net.forward(zeros(shape)));
    if (out.numel() !== 10) throw new Error(`it gives ${out.numel()} outputs, not 10 class scores`);
  } catch (err) {
    const first = ((err as Error).message ?? String(err)).split('\n')[0];
    throw new Error(`--resize ${side}: ${spec.name} cannot take ${side}×${side} images (${first}); its input size is ${spec.inputShape[1]}×${spec.inputShape[2]}${spec.train.resize ? ` (the book resizes to ${spec.train.resize})` : ''}`);
  } finally {
    net.train(was);
  }
}

function resolveConfig(modelName: string, flags: TrainFlags, run: RunDir | null): RunConfig {
  if (run && flags.resume) {
    const saved = run.readConfig();
    const asked = getModelSpec(modelName).name;
    if (saved.model !== asked) {
      throw new Error(`--resume ${run.dir}: that run trains ${saved.model}, not ${asked}; resume it with \`torchlet train ${saved.model} --resume ${run.dir}\``);
    }
    checkSavedConfig(saved, run.file('config'));
    // A resumed run keeps its settings; only the epoch count may be raised.
    return { ...saved, epochs: flags.epochs ?? saved.epochs };
  }
  const spec = getModelSpec(modelName);
  const resize = flags.resize ?? spec.train.resize ?? null;
  return {
    model: spec.name,
    epochs: flags.epochs ?? spec.train.epochs,
    lr: flags.lr ?? spec.train.lr,
    batchSize: flags.batchSize ?? spec.train.batchSize,
    resize: resize === 28 ? null : resize,
    device: flags.device,
    seed: flags.seed,
    threads: flags.threads ?? null,
    dataDir: flags.dataDir ?? null,
    optimizer: flags.optimizer ?? 'sgd',
    momentum: flags.momentum ?? 0,
    weightDecay: flags.weightDecay ?? 0,
    scheduler: flags.scheduler ?? null,
    earlyStop: flags.earlyStop ?? null,
    augment: flags.augment ?? null,
    keepBest: flags.keepBest ?? false,
    startedAt: new Date().toISOString(),
  };
}

export async function trainCommand(modelName: string, flags: TrainFlags): Promise<number> {
  if (flags.resume && !existsSync(path.join(flags.resume, RUN_FILES.config))) {
    throw new Error(`--resume ${flags.resume}: ${existsSync(flags.resume) ? `no ${RUN_FILES.config} there; is it a torchlet run directory?` : 'no such directory'} (start a new run with --out instead)`);
  }
  if (!flags.resume && flags.out && existsSync(flags.out)) {
    if (!statSync(flags.out).isDirectory()) throw new Error(`--out ${flags.out} is a file; name a directory for the run`);
    if (existsSync(path.join(flags.out, RUN_FILES.config))) {
      throw new Error(`--out ${flags.out} already holds a run; continue it with --resume ${flags.out}, or choose another --out`);
    }
  }
  const run = new RunDir(flags.resume ?? flags.out ?? defaultRunDir(getModelSpec(modelName).name));
  const cfg = resolveConfig(modelName, flags, flags.resume ? run : null);
  const spec = getModelSpec(cfg.model);
  const dev = await useDevice(cfg.device, { threads: cfg.threads ?? undefined });
  manualSeed(cfg.seed);
  const net = spec.create();
  checkInputSize(net, spec, cfg.resize);
  const optimizer = buildOptimizer(cfg.optimizer ?? 'sgd', net.parameters(), { lr: cfg.lr, momentum: cfg.momentum ?? 0, weightDecay: cfg.weightDecay ?? 0 });
  const side = cfg.resize ?? 28;
  const augment = cfg.augment ? buildAugment(cfg.augment, side) : undefined;
  const [trainIter, testIter] = await loadDataFashionMNIST(cfg.batchSize, {
    resize: cfg.resize ?? undefined, dataDir: cfg.dataDir ?? undefined, seed: cfg.seed, workers: flags.workers, augment,
    testBatchSize: evalBatchSize(cfg.batchSize, side),
  });
  const numBatches = trainIter.length;
  // Built before a checkpoint loads: the scheduler's first step sets the lr, the checkpoint then restores it.
  const scheduler = cfg.scheduler ? buildScheduler(cfg.scheduler, optimizer, cfg.lr, cfg.epochs, numBatches) : undefined;
  let resume: FitState | undefined;
  try {
    if (flags.resume && !run.hasCheckpoint()) {
      // Stopped before its first checkpoint: nothing was trained that could be kept, so start over.
      console.log(`${run.dir} has no checkpoint yet; starting it from the beginning`);
    } else if (flags.resume) {
      resume = run.loadCheckpoint(net, optimizer);
      if (resume.epoch >= cfg.epochs) {
        throw new Error(`--resume ${run.dir}: the run already finished its ${cfg.epochs} epoch${cfg.epochs === 1 ? '' : 's'}; raise --epochs to train further`);
      }
      if (resume.batch >= numBatches) {
        throw new Error(`--resume ${run.dir}: the checkpoint resumes at batch ${resume.batch + 1} of an epoch that has ${numBatches} batches; the checkpoint does not belong to this data`);
      }
      console.log(`resuming ${run.dir} at epoch ${resume.epoch + 1}, batch ${resume.batch + 1}`);
    }
  } catch (err) {
    await trainIter.close();
    await testIter.close();
    throw err;
  }
  const device = deviceLabel(dev);
  console.log(`training on ${device}`);
  console.log(`run directory: ${run.dir}`);

  let stopRequested = false;
  const onSigint = (): void => {
    if (stopRequested) process.exit(130);
    stopRequested = true;
    console.error('\ninterrupted: finishing this batch and saving a checkpoint (Ctrl-C again to quit now)');
  };
  process.on('SIGINT', onSigint);

  const { startedAt: _startedAt, ...settings } = cfg;
  const writer = runWriter(run.dir, {
    model: cfg.model, device, config: flags.resume ? undefined : cfg, hyperparameters: settings,
    samples: () => sampleTestImages(net, testIter, 24),
  });
  const callbacks: Callback[] = [writer, consoleProgress()];
  if (cfg.earlyStop) callbacks.push(earlyStopping(parseEarlyStop(cfg.earlyStop)));
  if (cfg.keepBest) callbacks.push(bestCheckpoint({ path: path.join(run.dir, 'best.safetensors') }));
  try {
    const result = await fit(net, trainIter, testIter, {
      device: dev,
      epochs: cfg.epochs, optimizer, resume, callbacks, scheduler,
      init: 'xavier', // as the book's train_ch6 (a resumed run keeps its checkpoint's weights)
      shouldStop: () => stopRequested,
    });
    if (result.interrupted) {
      console.log(`checkpoint saved; continue with: torchlet train ${cfg.model} --resume ${run.dir}`);
      return 130;
    }
    console.log(`loss ${result.trainLoss.toFixed(3)}, train acc ${result.trainAcc.toFixed(3)}, test acc ${result.testAcc.toFixed(3)}`);
    console.log(`${result.examplesPerSec.toFixed(1)} examples/sec on ${device}`);
    console.log(`${result.wallExamplesPerSec.toFixed(1)} examples/sec wall clock (data loading and evaluation included)`);
    console.log(`saved ${run.dir}/model.safetensors, chart.png, report.html${cfg.keepBest ? ', best.safetensors' : ''}`);
    return 0;
  } catch (err) {
    if (err instanceof NonFiniteLossError) {
      console.error(err.message);
      return 1;
    }
    throw err;
  } finally {
    process.off('SIGINT', onSigint);
    await trainIter.close();
    await testIter.close();
  }
}
