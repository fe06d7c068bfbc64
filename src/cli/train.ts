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
import { SGD } from '../optim/sgd.js';
import { loadDataFashionMNIST } from '../data/dataloader.js';
import { FASHION_MNIST_LABELS } from '../data/fashion-mnist.js';
import { fit, NonFiniteLossError, type FitEvent, type FitState } from '../train/fit.js';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { RUN_FILES, RunDir, defaultRunDir, type RunConfig } from '../train/run-dir.js';
import { writeChart } from '../train/charts.js';
import { writeReport } from '../train/report.js';
import { createProgress } from '../train/progress.js';
import type { RunHistory } from '../train/history.js';
import { sampleTestImages } from './samples.js';
import { positiveInt, positiveNumber, seedInt } from './args.js';

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
  const optimizer = new SGD(net.parameters(), { lr: cfg.lr });
  let resume: FitState | undefined;
  if (flags.resume && !run.hasCheckpoint()) {
    // Stopped before its first checkpoint: nothing was trained that could be kept, so start over.
    console.log(`${run.dir} has no checkpoint yet; starting it from the beginning`);
    run.truncateMetricsAfter(0);
  } else if (flags.resume) {
    resume = run.loadCheckpoint(net, optimizer);
    if (resume.epoch >= cfg.epochs) {
      throw new Error(`--resume ${run.dir}: the run already finished its ${cfg.epochs} epoch${cfg.epochs === 1 ? '' : 's'}; raise --epochs to train further`);
    }
    console.log(`resuming ${run.dir} at epoch ${resume.epoch + 1}, batch ${resume.batch + 1}`);
  } else run.writeConfig(cfg);

  const [trainIter, testIter] = await loadDataFashionMNIST(cfg.batchSize, {
    resize: cfg.resize ?? undefined, dataDir: cfg.dataDir ?? undefined, seed: cfg.seed, workers: flags.workers,
  });
  const numBatches = trainIter.length;
  if (resume && resume.batch >= numBatches) {
    await trainIter.close();
    await testIter.close();
    throw new Error(`--resume ${run.dir}: the checkpoint resumes at batch ${resume.batch + 1} of an epoch that has ${numBatches} batches; the checkpoint does not belong to this data`);
  }
  if (resume) run.truncateMetricsAfter(resume.epoch * numBatches + resume.batch);
  const device = deviceLabel(dev);
  console.log(`training on ${device}`);
  console.log(`run directory: ${run.dir}`);

  const history: RunHistory = { model: cfg.model, device, epochs: cfg.epochs, points: resume ? [...resume.points] : [] };
  const progress = createProgress({ total: numBatches, epochs: cfg.epochs, tty: process.stdout.isTTY === true, initialEpoch: resume?.epoch ?? 0 });
  let lastRefresh = 0;
  let confusion: number[][] | undefined;
  let samplesCache: Parameters<typeof writeReport>[1]['samples'];
  /** Rewrite chart and report; throttled while training, forced at the end. Failures are reported, never fatal. */
  const refreshViews = async (running: boolean, final?: Parameters<typeof writeReport>[1]['final'], force = false): Promise<void> => {
    const now = Date.now();
    if (!force && now - lastRefresh < 1000) return;
    lastRefresh = now;
    try {
      const chart = await writeChart(run.dir, history);
      await writeReport(run.dir, { history, labels: [...FASHION_MNIST_LABELS], confusion, running, final, samples: samplesCache }, { chartSvg: chart.svg });
    } catch (err) {
      progress.log(`warning: could not refresh chart/report: ${(err as Error).message}`);
    }
  };

  let stopRequested = false;
  const onSigint = (): void => {
    if (stopRequested) process.exit(130);
    stopRequested = true;
    progress.stop();
    console.error('\ninterrupted: finishing this batch and saving a checkpoint (Ctrl-C again to quit now)');
  };
  process.on('SIGINT', onSigint);

  const onEvent = (e: FitEvent): void => {
    if (e.type === 'batch') {
      progress.update(e.batch, { loss: e.trainLoss, acc: e.trainAcc, epoch: e.epoch });
    } else if (e.type === 'point') {
      history.points = [...e.points];
      const step = Math.round(e.point.epoch * numBatches);
      run.appendMetric({ kind: 'point', step, ...e.point });
      void refreshViews(true);
    } else if (e.type === 'epoch') {
      confusion = e.confusion;
      progress.epochEnd(e.epoch, { loss: e.trainLoss, trainAcc: e.trainAcc, testAcc: e.testAcc, examplesPerSec: e.examplesPerSec });
      run.appendMetric({ kind: 'epoch', step: (e.epoch + 1) * numBatches, epoch: e.epoch + 1, trainLoss: e.trainLoss, trainAcc: e.trainAcc, testAcc: e.testAcc, examplesPerSec: e.examplesPerSec });
    }
  };

  try {
    const result = await fit(net, trainIter, testIter, {
      device: dev,
      epochs: cfg.epochs, lr: cfg.lr, optimizer, resume, onEvent,
      onCheckpoint: (state, opt) => run.saveCheckpoint(net, opt, state),
      shouldStop: () => stopRequested,
    });
    progress.stop();
    if (result.interrupted) {
      await refreshViews(false, undefined, true);
      console.log(`checkpoint saved; continue with: torchlet train ${cfg.model} --resume ${run.dir}`);
      return 130;
    }
    samplesCache = await sampleTestImages(net, testIter, 24);
    const final = { trainLoss: result.trainLoss, trainAcc: result.trainAcc, testAcc: result.testAcc, examplesPerSec: result.examplesPerSec, wallExamplesPerSec: result.wallExamplesPerSec, device };
    confusion = result.confusion ?? confusion;
    await refreshViews(false, final, true);
    console.log(`loss ${result.trainLoss.toFixed(3)}, train acc ${result.trainAcc.toFixed(3)}, test acc ${result.testAcc.toFixed(3)}`);
    console.log(`${result.examplesPerSec.toFixed(1)} examples/sec on ${device}`);
    console.log(`${result.wallExamplesPerSec.toFixed(1)} examples/sec wall clock (data loading and evaluation included)`);
    console.log(`saved ${run.dir}/model.safetensors, chart.png, report.html`);
    return 0;
  } catch (err) {
    progress.stop();
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
