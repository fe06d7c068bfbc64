/**
 * The run writer's view thread: draws chart.svg/chart.png and report.html from the history it is
 * sent, so Vega's layout and resvg's rasteriser never run on the training thread. It lowers its
 * own priority (Linux: a thread's nice value is its own), so on a machine whose cores all compute
 * it draws in the time training leaves idle rather than taking a core from oneDNN.
 */
import { parentPort } from 'node:worker_threads';
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import type { ViewJob } from './view-job.js';

if (!parentPort) throw new Error('view-worker.js must run as a worker thread');
const port = parentPort;

try {
  const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
  if (Number.isInteger(tid) && tid > 0) setPriority(tid, 19);
} catch {
  // not Linux, or not allowed: draw at normal priority
}

// Vega and resvg are loaded only now, at the lowered priority: a static import would compile them
// (about a second of CPU) at normal priority first, while the training steps of the first curve
// point ran 1.5-3x slower beside it.
const views = import('./view-job.js');

// One job at a time (view-thread.ts sends the next after this one's answer).
port.on('message', (job: ViewJob) => {
  views.then(({ renderViews }) => renderViews(job)).then(
    () => port.postMessage({ ok: true }),
    (err: unknown) => port.postMessage({ ok: false, message: err instanceof Error ? err.message : String(err) }),
  );
});
