/** fit({ verbose: true }): the CLI's progress display as a callback (a live bar on a TTY, plain lines elsewhere). */
import type { Callback } from './fit.js';
import { createProgress, type Progress, type ProgressOptions } from './progress.js';

/** Where progress goes: process.stdout, or any stream with write() (typed without Node's types, for the public d.ts). */
export interface TextSink {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export function consoleProgress(sink: TextSink = process.stdout): Callback {
  const stream = sink as NonNullable<ProgressOptions['stream']>;
  let progress: Progress | null = null;
  return {
    name: 'consoleProgress',
    onEvent(e) {
      if (e.type === 'start') {
        progress = createProgress({ total: e.numBatches, epochs: e.epochs, tty: stream.isTTY === true, stream, initialEpoch: e.resumedFrom?.epoch ?? 0 });
      } else if (e.type === 'batch') progress?.update(e.batch, { loss: e.trainLoss, acc: e.trainAcc, epoch: e.epoch });
      else if (e.type === 'epoch') progress?.epochEnd(e.epoch, { loss: e.trainLoss, trainAcc: e.trainAcc, testAcc: e.testAcc, examplesPerSec: e.examplesPerSec });
      else if (e.type === 'end') {
        progress?.stop();
        const r = e.result;
        if (r.stopReason) stream.write(`${r.stopReason}\n`);
      }
    },
  };
}
