/**
 * Sends view refreshes to the view worker (view-worker.ts), one at a time. A refresh asked for
 * while one is drawing waits, and a newer one replaces it, so a slow drawing never piles work up;
 * each promise settles once its refresh, or the one that replaced it, is on disk. Where no worker
 * thread can be started, refreshes are drawn inline.
 */
import { Worker } from 'node:worker_threads';
import { renderViews, type ViewJob } from './view-job.js';

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

/** A refresh and the promises it settles. */
interface Draw {
  job: ViewJob;
  waiters: Waiter[];
}

export class ViewThread {
  private worker: Worker | null = null;
  private inline = false;
  private drawing: Draw | null = null;
  private queued: Draw | null = null;

  render(job: ViewJob): Promise<void> {
    return new Promise((resolve, reject) => {
      const waiter = { resolve, reject };
      if (this.drawing) {
        // The replaced refresh's png is still owed: the one drawn instead rasterises it.
        const png = job.png || (this.queued?.job.png ?? false);
        this.queued = { job: { ...job, png }, waiters: [...(this.queued?.waiters ?? []), waiter] };
        return;
      }
      this.start({ job, waiters: [waiter] });
    });
  }

  private start(draw: Draw): void {
    this.drawing = draw;
    const { job } = draw;
    const worker = this.inline ? null : this.spawn();
    if (!worker) {
      renderViews(job).then(() => this.done(null), (err: unknown) => this.done(err instanceof Error ? err : new Error(String(err))));
      return;
    }
    worker.ref(); // the process waits for a refresh in progress
    worker.postMessage(job);
  }

  private spawn(): Worker | null {
    if (this.worker) return this.worker;
    try {
      const w = new Worker(new URL('./view-worker.js', import.meta.url), { name: 'torchlet-views' });
      w.on('message', (msg: { ok: boolean; message?: string }) => this.done(msg.ok ? null : new Error(msg.message ?? 'view worker failed')));
      // A worker that fails (its module missing from a bundle, a crash) is not started again:
      // the refresh it had, and all later ones, are drawn inline.
      const fallBack = (): void => {
        if (this.worker !== w) return;
        this.worker = null;
        this.inline = true;
        const draw = this.drawing;
        this.drawing = null;
        if (draw) this.start(draw);
      };
      w.on('error', fallBack);
      w.on('exit', fallBack);
      this.worker = w;
      return w;
    } catch {
      this.inline = true;
      return null;
    }
  }

  private done(err: Error | null): void {
    const waiters = this.drawing?.waiters ?? [];
    this.drawing = null;
    this.worker?.unref(); // idle: it must not keep the process alive
    for (const w of waiters) (err ? w.reject(err) : w.resolve());
    const next = this.queued;
    this.queued = null;
    if (next) this.start(next);
  }

  /** Stop the worker (it is unref'd while idle, so this is optional). */
  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null; // so its exit is not taken for a failure
    if (w) await w.terminate();
  }
}
