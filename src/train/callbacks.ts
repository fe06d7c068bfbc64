/**
 * fit()'s callbacks, Keras- and Lightning-style, as plain objects on fit's
 * events: early stopping, keeping the best weights by a monitored metric, and
 * a CSV/JSONL metrics log. Each keeps its state in the checkpoint, so a
 * resumed run stops, and logs, exactly as an uninterrupted one.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Callback, FitEvent, Monitor } from './fit.js';
import { saveModel } from '../io/safetensors-file.js';
import { atomicWriteFileSync } from '../util/atomic-write.js';

type EpochEvent = Extract<FitEvent, { type: 'epoch' }>;

/** The monitored value of an epoch: trainLoss, trainAcc or testAcc. */
export function monitored(e: EpochEvent, monitor: Monitor): number {
  return e[monitor];
}

/** Accuracies improve upwards, losses downwards (Keras's mode 'auto'). */
export function defaultMode(monitor: Monitor): 'min' | 'max' {
  return monitor === 'trainLoss' ? 'min' : 'max';
}

const MONITORS: readonly Monitor[] = ['trainLoss', 'trainAcc', 'testAcc'];

function checkMonitor(what: string, monitor: Monitor): void {
  if (!MONITORS.includes(monitor)) throw new Error(`${what}: monitor must be one of ${MONITORS.join(', ')}, got '${String(monitor)}'`);
}

/** Tracks the best value of a metric; `improved` says whether a new value beats it by more than minDelta. */
class Best {
  value: number | null = null;
  constructor(readonly mode: 'min' | 'max', readonly minDelta: number) {}
  improves(v: number): boolean {
    if (!Number.isFinite(v)) return false;
    if (this.value === null) return true;
    return this.mode === 'max' ? v > this.value + this.minDelta : v < this.value - this.minDelta;
  }
}

export interface EarlyStoppingOptions {
  /** Default 'testAcc'. */
  monitor?: Monitor;
  /** Default: 'max' for accuracies, 'min' for the loss. */
  mode?: 'min' | 'max';
  /** Epochs without improvement before stopping (default 3). */
  patience?: number;
  /** How much better than the best a value must be to count as an improvement (default 0). */
  minDelta?: number;
}

/** Stop when the monitored metric has not improved for `patience` epochs (Keras's EarlyStopping). */
export function earlyStopping(opts: EarlyStoppingOptions = {}): Callback & { readonly stoppedEpoch: number | null } {
  const monitor = opts.monitor ?? 'testAcc';
  checkMonitor('earlyStopping', monitor);
  const patience = opts.patience ?? 3;
  if (!Number.isInteger(patience) || patience < 0) throw new Error(`earlyStopping: patience must be a whole number ≥ 0, got ${patience}`);
  const minDelta = Math.abs(opts.minDelta ?? 0);
  const best = new Best(opts.mode ?? defaultMode(monitor), minDelta);
  let wait = 0;
  let stoppedEpoch: number | null = null;
  return {
    name: 'earlyStopping',
    get stoppedEpoch() {
      return stoppedEpoch;
    },
    onEvent(e, ctx) {
      if (e.type !== 'epoch') return;
      const v = monitored(e, monitor);
      if (best.improves(v)) {
        best.value = v;
        wait = 0;
        return;
      }
      wait++;
      if (wait >= patience) {
        stoppedEpoch = e.epoch + 1;
        const bestText = best.value === null ? 'no finite value' : `best ${best.value.toFixed(4)}`;
        ctx.stop(`early stopping: ${monitor} has not improved for ${wait} epoch${wait === 1 ? '' : 's'} (${bestText})`);
      }
    },
    stateDict: () => ({ best: best.value, wait, stoppedEpoch }),
    loadStateDict(s) {
      const st = s as { best?: unknown; wait?: unknown };
      best.value = typeof st.best === 'number' ? st.best : null;
      wait = typeof st.wait === 'number' ? st.wait : 0;
    },
  };
}

export interface BestCheckpointOptions {
  /** The weights file to keep (default 'best.safetensors'). */
  path?: string;
  monitor?: Monitor;
  mode?: 'min' | 'max';
}

/**
 * Keep the weights of the best epoch by a monitored metric, beside the last ones: a
 * safetensors file (PyTorch state_dict names) rewritten atomically whenever the metric improves,
 * with the epoch and the value in its metadata.
 */
export function bestCheckpoint(opts: BestCheckpointOptions = {}): Callback & { readonly best: { epoch: number; value: number } | null } {
  const file = opts.path ?? 'best.safetensors';
  const monitor = opts.monitor ?? 'testAcc';
  checkMonitor('bestCheckpoint', monitor);
  const tracker = new Best(opts.mode ?? defaultMode(monitor), 0);
  let bestEpoch: number | null = null;
  return {
    name: 'bestCheckpoint',
    get best() {
      return bestEpoch === null || tracker.value === null ? null : { epoch: bestEpoch, value: tracker.value };
    },
    onEvent(e, ctx) {
      if (e.type !== 'epoch') return;
      const v = monitored(e, monitor);
      if (!tracker.improves(v)) return;
      tracker.value = v;
      bestEpoch = e.epoch + 1;
      saveModel(ctx.net, file, { epoch: String(bestEpoch), monitor, [monitor]: String(v) });
    },
    stateDict: () => ({ best: tracker.value, epoch: bestEpoch }),
    loadStateDict(s) {
      const st = s as { best?: unknown; epoch?: unknown };
      tracker.value = typeof st.best === 'number' ? st.best : null;
      bestEpoch = typeof st.epoch === 'number' ? st.epoch : null;
    },
  };
}

export interface MetricsLoggerOptions {
  /** Default: from the file's extension (.csv, else JSON lines). */
  format?: 'csv' | 'jsonl';
}

const COLUMNS = ['epoch', 'trainLoss', 'trainAcc', 'testAcc', 'lr', 'examplesPerSec'] as const;

/**
 * One row per epoch — epoch, train loss and accuracy, test accuracy, the lr it trained with,
 * examples/sec — appended to a CSV or JSON-lines file (Keras's CSVLogger). A resumed run first
 * drops the rows after the epoch it resumes from, so no epoch is logged twice.
 */
export function metricsLogger(file: string, opts: MetricsLoggerOptions = {}): Callback {
  const format = opts.format ?? (path.extname(file).toLowerCase() === '.csv' ? 'csv' : 'jsonl');
  if (format !== 'csv' && format !== 'jsonl') throw new Error(`metricsLogger: format must be 'csv' or 'jsonl', got '${String(format)}'`);
  const header = `${COLUMNS.join(',')}\n`;
  return {
    name: 'metricsLogger',
    onEvent(e) {
      if (e.type === 'start') {
        const keepEpochs = e.resumedFrom?.epoch ?? 0;
        const old = keepEpochs > 0 && existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '') : [];
        const rows = format === 'csv' ? old.slice(1) : old;
        const kept = rows.filter((l) => rowEpoch(l, format) <= keepEpochs);
        atomicWriteFileSync(file, (format === 'csv' ? header : '') + kept.map((l) => `${l}\n`).join(''));
        return;
      }
      if (e.type !== 'epoch') return;
      const row = { epoch: e.epoch + 1, trainLoss: e.trainLoss, trainAcc: e.trainAcc, testAcc: e.testAcc, lr: e.lr, examplesPerSec: e.examplesPerSec };
      const line = format === 'csv' ? COLUMNS.map((c) => String(row[c])).join(',') : JSON.stringify(row);
      appendFileSync(file, `${line}\n`);
    },
  };
}

function rowEpoch(line: string, format: 'csv' | 'jsonl'): number {
  if (format === 'csv') return Number(line.split(',')[0]);
  try {
    return Number((JSON.parse(line) as { epoch?: unknown }).epoch);
  } catch {
    return Infinity; // a damaged line is dropped
  }
}
