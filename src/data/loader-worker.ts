/**
 * DataLoader worker thread: receives the dataset's images once (a SharedArrayBuffer view,
 * via workerData) and turns index lists into float32 batches, returned as transferables.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { makeBatchFiller, type BatchSource, type WorkerRequest, type WorkerResponse } from './batch.js';

if (!parentPort) throw new Error('loader-worker.js must run as a worker thread');
const port = parentPort;
const { fill } = makeBatchFiller(workerData as BatchSource);

port.on('message', (msg: WorkerRequest) => {
  if (msg.type !== 'batch') return;
  let reply: WorkerResponse;
  try {
    const x = fill(msg.indices, msg.epoch);
    reply = { type: 'batch', id: msg.id, x };
    port.postMessage(reply, [x.buffer as ArrayBuffer]);
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    reply = { type: 'error', id: msg.id, message: e.message, stack: e.stack };
    port.postMessage(reply);
  }
});
