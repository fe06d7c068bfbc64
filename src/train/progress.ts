/**
 * Training progress on the terminal. On a TTY: a live cli-progress bar per
 * epoch with the running loss and accuracy, replaced at the epoch's end by
 * one summary line. Elsewhere (a pipe, a log file, CI): plain lines only — at
 * most five batch lines per epoch (at each fifth of it) and one line per
 * epoch — never carriage returns or escape codes.
 *
 * Indices follow d2l's train_ch6 loop: `batchIndex` is i (0-based) and
 * `epoch` is the loop's epoch (0-based); lines show them 1-based
 * (`epoch 3/10`).
 */
import cliProgress from 'cli-progress';
import { f3, formatBatchLine, formatEpochLine, type BatchStats, type EpochStats } from './progress-lines.js';

export interface ProgressOptions {
  /** Batches per epoch. */
  total: number;
  /** Epochs planned. */
  epochs: number;
  /** Live bar (true) or plain lines (false). Default: whether the stream is a TTY. */
  tty?: boolean;
  /** Where to write (default process.stdout). */
  stream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** 0-based epoch the first update belongs to (a resumed run); default 0. */
  initialEpoch?: number;
  /** Plain-line mode: batch lines per epoch (default 5; 0 for none). */
  linesPerEpoch?: number;
}

export type { BatchStats, EpochStats } from './progress-lines.js';
export { formatEpochLine, formatBatchLine } from './progress-lines.js';

export interface Progress {
  /** After batch `batchIndex` (0-based) of the current epoch. */
  update(batchIndex: number, stats: BatchStats): void;
  /** After epoch `epoch` (0-based, d2l's loop variable) has been trained and evaluated. */
  epochEnd(epoch: number, stats: EpochStats): void;
  /** Prints a line of its own without breaking the bar. */
  log(line: string): void;
  /** Ends the bar (call in `finally`; idempotent). Later calls to update/epochEnd do nothing. */
  stop(): void;
}

export function createProgress(opts: ProgressOptions): Progress {
  const stream = opts.stream ?? process.stdout;
  const tty = opts.tty ?? (stream as { isTTY?: boolean }).isTTY === true;
  const total = Math.max(1, Math.floor(opts.total));
  const epochs = opts.epochs;
  const lines = opts.linesPerEpoch ?? 5;
  let epoch = opts.initialEpoch ?? 0;
  let lastBatch = -1;
  let stopped = false;

  const write = (line: string): void => {
    stream.write(line + '\n');
  };

  if (!tty) {
    return {
      update(batchIndex, stats) {
        if (stopped) return;
        if (stats.epoch !== undefined) epoch = stats.epoch;
        else if (batchIndex < lastBatch) epoch++; // a new epoch began without epochEnd
        lastBatch = batchIndex;
        if (lines <= 0) return;
        // A line each time the batch count crosses a 1/lines boundary of the epoch.
        const before = Math.floor((batchIndex * lines) / total);
        const after = Math.floor(((batchIndex + 1) * lines) / total);
        if (after > before || batchIndex === total - 1) write(formatBatchLine(epoch, epochs, batchIndex, total, stats));
      },
      epochEnd(e, stats) {
        if (stopped) return;
        write(formatEpochLine(e, epochs, stats));
        epoch = e + 1;
        lastBatch = -1;
      },
      log(line) {
        write(line);
      },
      stop() {
        stopped = true;
      },
    };
  }

  let bar: cliProgress.SingleBar | null = null;
  const newBar = (): cliProgress.SingleBar =>
    new cliProgress.SingleBar(
      {
        stream,
        format: 'epoch {ep}/{epochs} {bar} {value}/{total} | loss {loss} | train acc {acc} | {duration_formatted} < {eta_formatted}',
        barsize: 30,
        hideCursor: false,
        clearOnComplete: true,
        stopOnComplete: false,
        gracefulExit: false,
        etaBuffer: 50,
        fps: 10,
        autopadding: true,
      },
      cliProgress.Presets.shades_classic,
    );
  const endBar = (): void => {
    if (bar) {
      bar.stop();
      bar = null;
    }
  };

  return {
    update(batchIndex, stats) {
      if (stopped) return;
      if (stats.epoch !== undefined && stats.epoch !== epoch) {
        endBar();
        epoch = stats.epoch;
      } else if (batchIndex < lastBatch) {
        endBar();
        epoch++;
      }
      lastBatch = batchIndex;
      const payload = { ep: epoch + 1, epochs, loss: f3(stats.loss), acc: f3(stats.acc) };
      if (!bar) {
        bar = newBar();
        bar.start(total, batchIndex + 1, payload);
      } else {
        bar.update(batchIndex + 1, payload);
      }
    },
    epochEnd(e, stats) {
      if (stopped) return;
      endBar();
      write(formatEpochLine(e, epochs, stats));
      epoch = e + 1;
      lastBatch = -1;
    },
    log(line) {
      if (bar && !stopped) {
        // Clear the bar's line, print, and let the bar redraw below.
        stream.write('\r\x1b[2K' + line + '\n');
        bar.render();
      } else {
        write(line);
      }
    },
    stop() {
      if (stopped) return;
      stopped = true;
      endBar();
    },
  };
}
