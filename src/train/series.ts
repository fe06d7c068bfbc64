/**
 * The series of d2l's Animator (train loss, train acc, test acc against a
 * fractional epoch) as plain data: what fit emits, charts draw and the
 * playground streams. Runs anywhere; history.ts adds the files.
 */

/**
 * One point of the Animator. `epoch` is fractional like d2l's x value
 * (`epoch + (i + 1) / num_batches`, then `epoch + 1` for the test accuracy).
 * A series that is absent (d2l's `None`) is left undefined.
 */
export interface TrainPoint {
  epoch: number;
  trainLoss?: number;
  trainAcc?: number;
  testAcc?: number;
}

export interface RunHistory {
  model: string;
  device: string;
  /** Number of epochs planned (d2l's num_epochs; the chart's xlim is [1, epochs]). */
  epochs: number;
  points: TrainPoint[];
}

/** The three series, in d2l's legend order. */
export const SERIES = [
  { key: 'trainLoss', name: 'train loss' },
  { key: 'trainAcc', name: 'train acc' },
  { key: 'testAcc', name: 'test acc' },
] as const;

export type SeriesKey = (typeof SERIES)[number]['key'];
export type SeriesName = (typeof SERIES)[number]['name'];

/** One value of one series: the long format a chart draws from. */
export interface SeriesRow {
  epoch: number;
  series: SeriesName;
  value: number;
}

/** A fresh history with no points. */
export function createHistory(model: string, device: string, epochs: number): RunHistory {
  return { model, device, epochs, points: [] };
}

/**
 * d2l's rule for when train_ch6 adds a (train_l, train_acc, None) point:
 * `(i + 1) % (num_batches // 5) == 0 or i == num_batches - 1`, with `i` the
 * 0-based batch index. (For fewer than 5 batches, where Python would divide by
 * zero, every batch is a point.)
 */
export function isAnimatorBatch(i: number, numBatches: number): boolean {
  const every = Math.max(1, Math.floor(numBatches / 5));
  return (i + 1) % every === 0 || i === numBatches - 1;
}

/** The points as one row per present, finite value, in point order. */
export function toSeriesRows(history: RunHistory): SeriesRow[] {
  const rows: SeriesRow[] = [];
  for (const p of history.points) {
    if (!Number.isFinite(p.epoch)) continue;
    for (const s of SERIES) {
      const v = p[s.key];
      if (v !== undefined && v !== null && Number.isFinite(v)) rows.push({ epoch: p.epoch, series: s.name, value: v });
    }
  }
  return rows;
}

/** The latest finite value of each series, with the epoch it was recorded at. */
export function latestValues(history: RunHistory): Partial<Record<SeriesKey, { epoch: number; value: number }>> {
  const out: Partial<Record<SeriesKey, { epoch: number; value: number }>> = {};
  for (const p of history.points) {
    for (const s of SERIES) {
      const v = p[s.key];
      if (v !== undefined && v !== null && Number.isFinite(v)) out[s.key] = { epoch: p.epoch, value: v };
    }
  }
  return out;
}
