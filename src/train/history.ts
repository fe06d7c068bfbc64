/**
 * What a training run records for people to look at: the points of d2l's
 * Animator (train loss, train acc, test acc against a fractional epoch), plus
 * the small helpers the charts, the report and the progress lines share
 * (seed-format metric lines, atomic file writes).
 */
import { join } from 'node:path';
import { atomicWriteFileSync } from '../util/atomic-write.js';

export {
  SERIES, createHistory, isAnimatorBatch, toSeriesRows, latestValues,
  type TrainPoint, type RunHistory, type SeriesKey, type SeriesName, type SeriesRow,
} from './series.js';
import type { RunHistory } from './series.js';

function fixed(x: number, digits: number): string {
  return Number.isFinite(x) ? x.toFixed(digits) : String(x);
}

/** d2l's final line: `loss 0.469, train acc 0.823, test acc 0.779`. */
export function formatMetricsLine(m: { trainLoss: number; trainAcc: number; testAcc: number }): string {
  return `loss ${fixed(m.trainLoss, 3)}, train acc ${fixed(m.trainAcc, 3)}, test acc ${fixed(m.testAcc, 3)}`;
}

/** d2l's speed line: `19296.8 examples/sec on cuda:0`. */
export function formatSpeedLine(examplesPerSec: number, device: string): string {
  return `${fixed(examplesPerSec, 1)} examples/sec on ${device}`;
}

/** Atomic file write (temp file, fsync, rename), under the name the view modules use. */
export { atomicWriteFileSync as writeFileAtomic };

/** Writes the history as `history.json` in `dir`, atomically; returns the path. */
export function writeHistory(dir: string, history: RunHistory): string {
  const path = join(dir, 'history.json');
  atomicWriteFileSync(path, JSON.stringify(history) + '\n');
  return path;
}
