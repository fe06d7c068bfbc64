/**
 * fit()'s callbacks that write files (Node): keeping the best weights by a
 * monitored metric, and a CSV/JSONL metrics log. Each keeps its state in the
 * checkpoint, so a resumed run logs exactly as an uninterrupted one. Early
 * stopping, which needs no files, is in early-stopping.ts.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Callback, Monitor } from './fit.js';
import { Best, checkMonitor, defaultMode, monitored } from './early-stopping.js';

export { earlyStopping, type EarlyStoppingOptions } from './early-stopping.js';
import { saveModel } from '../io/safetensors-file.js';
import { atomicWriteFileSync } from '../util/atomic-write.js';

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
