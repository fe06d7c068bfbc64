/**
 * Timing of full train steps (forward, cross-entropy, backward, SGD step) on
 * random data, for `torchlet bench` and `npm run bench`.
 */
import type { Module } from '../nn/module.js';
import { rand, randint } from '../creation.js';
import { crossEntropy } from '../ops/softmax.js';
import { SGD } from '../optim/sgd.js';
import { resetKernelProfile } from '../node/profile.js';
import { tidy } from '../memory.js';
import { backendFor } from '../backend/registry.js';
import { CPU, device as toDevice, type DeviceLike } from '../device.js';

export interface BenchOptions {
  batch: number;
  steps: number;
  warmup?: number;
  inputShape: readonly number[];
  lr?: number;
  /** Where to train (default cpu). */
  device?: DeviceLike;
}

export interface BenchResult {
  /** Seconds per step, one entry per timed step. */
  stepSeconds: number[];
  medianSeconds: number;
  examplesPerSec: number;
  /** Asynchronous devices: median seconds of JavaScript to record one step. */
  recordSeconds?: number;
  /** The fastest of those recordings (the others include pauses: GC, a software GPU sharing the cores). */
  recordMinSeconds?: number;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Time train steps on `opts.device` (default cpu). On the host each step is timed alone. On a
 * device that runs asynchronously (a GPU) the host records step after step while the device
 * runs them, so the timed steps are measured together, from the first recorded to the last
 * finished, and `recordSeconds` says how long the JavaScript side took to record each one.
 */
export async function benchTrainSteps(net: Module, opts: BenchOptions): Promise<BenchResult> {
  const dev = opts.device === undefined ? CPU : toDevice(opts.device);
  net.to(dev);
  const backend = backendFor(dev);
  const X = rand([opts.batch, ...opts.inputShape]).to(dev);
  const y = randint(0, 10, [opts.batch]).to(dev);
  const optimizer = new SGD(net.parameters(), { lr: opts.lr ?? 0.01 });
  net.train();
  const step = (): void => {
    tidy(() => {
      optimizer.zeroGrad();
      const loss = crossEntropy(net.forward(X), y);
      loss.backward();
      optimizer.step();
    });
  };
  const now = (): number => performance.now() / 1000;
  for (let i = 0; i < (opts.warmup ?? 2); i++) {
    step();
    backend.flush?.();
    // Yield as the timed loop and fit do: buffers replaced by a row-major copy go back to the pool
    // in a microtask (backend/host.ts), and warm-up steps that never yielded left GoogLeNet's to
    // the garbage collector, the pool making fresh ones: 1389 MiB peak RSS after 4 such steps
    // against 1213 MiB after 1 (torchlet bench googlenet --batch 128).
    await Promise.resolve();
  }
  await backend.finish?.();
  resetKernelProfile(); // warm-up steps build primitives and pipelines; leave them out of TORCHLET_PROFILE_KERNELS
  const stepSeconds: number[] = [];
  const recordSeconds: number[] = [];
  if (backend.readSync) {
    for (let i = 0; i < opts.steps; i++) {
      const t0 = now();
      step();
      stepSeconds.push(now() - t0);
      // Between steps, as in fit's loop (which awaits every batch): deferred work such as pooling
      // buffers replaced by a row-major copy runs here, not after the last step.
      await Promise.resolve();
    }
  } else {
    const t0 = now();
    for (let i = 0; i < opts.steps; i++) {
      step();
      backend.flush?.();
      await backend.settle?.();
    }
    await backend.finish?.();
    const each = (now() - t0) / opts.steps;
    for (let i = 0; i < opts.steps; i++) stepSeconds.push(each);
    // The JavaScript cost of recording a step, timed while the device is idle: a software GPU
    // (lavapipe) runs on the same cores and would otherwise slow the host down while it computes.
    for (let i = 0; i < Math.max(opts.steps, 9); i++) {
      const r0 = now();
      step();
      recordSeconds.push(now() - r0);
      backend.flush?.();
      await backend.finish?.();
    }
  }
  const medianSeconds = median(stepSeconds);
  return {
    stepSeconds, medianSeconds, examplesPerSec: opts.batch / medianSeconds,
    ...(recordSeconds.length ? { recordSeconds: median(recordSeconds), recordMinSeconds: Math.min(...recordSeconds) } : {}),
  };
}
