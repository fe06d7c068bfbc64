/**
 * Early stopping, Keras's EarlyStopping as a fit() callback, and the metric
 * bookkeeping the other callbacks share. Core: no files, so browsers have it.
 */
import type { Callback, FitEvent, Monitor } from './fit.js';

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

export function checkMonitor(what: string, monitor: Monitor): void {
  if (!MONITORS.includes(monitor)) throw new Error(`${what}: monitor must be one of ${MONITORS.join(', ')}, got '${String(monitor)}'`);
}

/** Tracks the best value of a metric; `improved` says whether a new value beats it by more than minDelta. */
export class Best {
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

