/**
 * The run directory `torchlet train` writes, as a fit() callback, so library
 * users get the same one: config.json, metrics.jsonl, atomic checkpoints
 * (resumable), chart.svg/chart.png and a report.html refreshed while training
 * runs, with the final metrics, the confusion matrix, sample predictions and
 * the hyperparameters at the end.
 *
 *   const run = torch.train.runWriter('runs/mine', { model: 'lenet', config: { lr: 0.9, batchSize: 256 } });
 *   await torch.fit(net, trainIter, testIter, { epochs: 10, lr: 0.9, callbacks: [run] });
 *   // later: fit(..., { resume: run.loadCheckpoint(net, optimizer), callbacks: [run] })
 */
import type { Module } from '../nn/module.js';
import type { Optimizer } from '../optim/optimizer.js';
import type { Callback, FitEvent, FitState } from './fit.js';
import { RunDir } from './run-dir.js';
import type { ReportFinal, ReportSample } from './report.js';
import { ViewThread } from './view-thread.js';
import type { RunHistory } from './history.js';
import { FASHION_MNIST_LABELS } from '../data/fashion-mnist.js';

export interface RunWriterOptions {
  /** The model's name, for the chart and report titles (default: the network's class name). */
  model?: string;
  /** Written to config.json when the run starts (not on resume), and listed in the report. */
  config?: object;
  /** What the report lists as hyperparameters (default: the config, or the directory's config.json). */
  hyperparameters?: object;
  /** The device label shown (default: the network's device). */
  device?: string;
  /** Class names (default: Fashion-MNIST's ten). */
  labels?: readonly string[];
  /** Test images with their predictions for the report's grid, asked for once at the end. */
  samples?: () => Promise<ReportSample[]>;
  /** Report a problem that must not stop training (a chart that failed to render); default: console.warn. */
  warn?: (message: string) => void;
}

export interface RunWriter extends Callback {
  readonly run: RunDir;
  readonly dir: string;
  /** Whether the directory holds a checkpoint to resume from. */
  hasCheckpoint(): boolean;
  /** Load the last checkpoint's weights and optimiser state; pass the result to fit's `resume`. */
  loadCheckpoint(net: Module, optimizer: Optimizer): FitState;
  /** The end-of-run views, with the result's figures (fit's end event does this by itself). */
  finish(final: ReportFinal): Promise<void>;
}

/** Drawing may take this share of the wall time while training runs. */
const REFRESH_SHARE = 0.02;

/**
 * How long to wait after a refresh that took renderMs before the next unforced one: at least a
 * second, and at most a minute, so a long run's chart never falls far behind.
 */
export function refreshGapMs(renderMs: number): number {
  return Math.min(60_000, Math.max(1000, renderMs / REFRESH_SHARE));
}

/** Hyperparameters as the report lists them: plain values, nested ones as JSON. */
function displayConfig(config: object | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(config ?? {})) {
    if (v === undefined || k === 'startedAt') continue;
    out[k] = v === null ? '–' : typeof v === 'object' ? JSON.stringify(v) : String(v);
  }
  return out;
}

export function runWriter(dir: string, opts: RunWriterOptions = {}): RunWriter {
  const run = new RunDir(dir);
  const warn = opts.warn ?? ((m: string) => console.warn(m));
  const labels = [...(opts.labels ?? FASHION_MNIST_LABELS)];
  const hyperparameters = displayConfig(opts.hyperparameters ?? opts.config ?? savedConfig(run));
  const history: RunHistory = { model: opts.model ?? 'model', device: opts.device ?? 'cpu', epochs: 0, points: [] };
  let numBatches = 1;
  let confusion: number[][] | undefined;
  let samples: ReportSample[] | undefined;
  let nextRefreshAt = 0;
  let pngOwed = false;
  const views = new ViewThread();

  /**
   * Rewrite chart and report while training runs, throttled by what drawing costs; forced at the
   * end. They are drawn in the view thread (view-thread.ts), not here: Vega and resvg took 3–5%
   * of a LeNet run's training thread (renderChartSvg, writeChart and renderHeadless in a
   * --cpu-prof of 2 epochs). Even there, at a lowered priority, a refresh each second and a
   * chart.png each epoch end cost LeNet's fit 5–10% of its examples/sec on 2 cores (the V8
   * threads that compile and collect for Vega run at normal priority), so the gap after a
   * refresh grows with how long it took (refreshGapMs). chart.png is drawn at the first refresh
   * after an epoch end; failures are reported, never fatal.
   */
  const refresh = async (running: boolean, final?: ReportFinal, force = false, png = force): Promise<void> => {
    pngOwed ||= png;
    const start = Date.now();
    if (!force && start < nextRefreshAt) return;
    nextRefreshAt = Number.POSITIVE_INFINITY; // none while this one draws
    const withPng = pngOwed;
    pngOwed = false;
    try {
      await views.render({ dir: run.dir, report: { history, labels, confusion, running, final, samples, hyperparameters }, png: withPng });
    } catch (err) {
      warn(`warning: could not refresh chart/report: ${(err as Error).message}`);
    } finally {
      const end = Date.now();
      nextRefreshAt = end + refreshGapMs(end - start);
    }
  };

  const writer: RunWriter = {
    name: 'runWriter',
    run,
    dir: run.dir,
    hasCheckpoint: () => run.hasCheckpoint(),
    loadCheckpoint: (n, optimizer) => run.loadCheckpoint(n, optimizer),
    async onEvent(e: FitEvent, ctx) {
      if (e.type === 'start') {
        numBatches = e.numBatches;
        history.epochs = e.epochs;
        if (opts.model === undefined) history.model = ctx.net.constructor.name;
        if (opts.device === undefined) history.device = String(ctx.net.device);
        if (e.resumedFrom) {
          history.points = [...e.resumedFrom.points];
          run.truncateMetricsAfter(e.resumedFrom.epoch * numBatches + e.resumedFrom.batch);
        } else {
          history.points = [];
          if (opts.config) run.writeConfig(opts.config);
          run.truncateMetricsAfter(0);
        }
      } else if (e.type === 'point') {
        history.points = [...e.points];
        run.appendMetric({ kind: 'point', step: Math.round(e.point.epoch * numBatches), ...e.point });
        void refresh(true);
      } else if (e.type === 'epoch') {
        confusion = e.confusion;
        void refresh(true, undefined, false, true);
        run.appendMetric({
          kind: 'epoch', step: (e.epoch + 1) * numBatches, epoch: e.epoch + 1,
          trainLoss: e.trainLoss, trainAcc: e.trainAcc, testAcc: e.testAcc, examplesPerSec: e.examplesPerSec, lr: e.lr,
        });
      } else if (e.type === 'end') {
        const r = e.result;
        if (r.interrupted) {
          await refresh(false, undefined, true);
          return;
        }
        confusion = r.confusion ?? confusion;
        await writer.finish({ trainLoss: r.trainLoss, trainAcc: r.trainAcc, testAcc: r.testAcc, examplesPerSec: r.examplesPerSec, wallExamplesPerSec: r.wallExamplesPerSec, device: history.device });
      }
    },
    async onCheckpoint(state, ctx) {
      await run.saveCheckpoint(ctx.net, ctx.optimizer, state);
    },
    async finish(final) {
      if (opts.samples && !samples) {
        try {
          samples = await opts.samples();
        } catch (err) {
          warn(`warning: no sample predictions for the report: ${(err as Error).message}`);
        }
      }
      await refresh(false, final, true);
    },
  };
  return writer;
}

/** The directory's config.json, when it has a readable one (a resumed run lists its own settings). */
function savedConfig(run: RunDir): object | undefined {
  try {
    return run.readConfig();
  } catch {
    return undefined;
  }
}
