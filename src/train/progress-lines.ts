/**
 * The plain progress lines (`epoch 3/10: loss …`), shared by the terminal
 * display (progress.ts, Node) and fit's own verbose output where there is no
 * terminal (browsers, workers).
 */
import type { Callback } from './fit.js';

export interface BatchStats {
  /** Running mean train loss of the epoch so far (or the batch loss). */
  loss: number;
  /** Running train accuracy of the epoch so far. */
  acc: number;
  /** 0-based epoch of this batch; default: the epoch after the last epochEnd (or initialEpoch). */
  epoch?: number;
}

export interface EpochStats {
  loss: number;
  trainAcc: number;
  testAcc: number;
  examplesPerSec: number;
}

/** Three decimals, or the value as it is when not finite (NaN, Infinity). */
export function f3(x: number): string {
  return Number.isFinite(x) ? x.toFixed(3) : String(x);
}

/** The plain epoch line: `epoch 3/10: loss 0.512, train acc 0.801, test acc 0.788, 8123.4 examples/sec`. */
export function formatEpochLine(epoch: number, epochs: number, s: EpochStats): string {
  const speed = `${Number.isFinite(s.examplesPerSec) ? s.examplesPerSec.toFixed(1) : String(s.examplesPerSec)} examples/sec`;
  return `epoch ${epoch + 1}/${epochs}: loss ${f3(s.loss)}, train acc ${f3(s.trainAcc)}, test acc ${f3(s.testAcc)}, ${speed}`;
}

/** The plain batch line: `epoch 3/10 [ 94/469] loss 0.534, train acc 0.795`. */
export function formatBatchLine(epoch: number, epochs: number, batchIndex: number, total: number, s: BatchStats): string {
  const width = String(total).length;
  return `epoch ${epoch + 1}/${epochs} [${String(batchIndex + 1).padStart(width)}/${total}] loss ${f3(s.loss)}, train acc ${f3(s.acc)}`;
}

/** fit's verbose output without a terminal: one console line per epoch (and the reason if a callback stopped it). */
export function consoleLines(log: (line: string) => void = (l) => console.log(l)): Callback {
  let epochs = 0;
  return {
    name: 'consoleLines',
    onEvent(e) {
      if (e.type === 'start') epochs = e.epochs;
      else if (e.type === 'epoch') log(formatEpochLine(e.epoch, epochs, { loss: e.trainLoss, trainAcc: e.trainAcc, testAcc: e.testAcc, examplesPerSec: e.examplesPerSec }));
      else if (e.type === 'end' && e.result.stopReason) log(e.result.stopReason);
    },
  };
}
