/** Test-set accuracy (d2l's evaluate_accuracy_gpu), optionally with a confusion matrix. */
import type { Module } from '../nn/module.js';
import { noGrad } from '../autograd/grad-mode.js';
import { Accumulator, correctCount } from './metrics.js';
import { tidy } from '../memory.js';
import { arange } from '../creation.js';
import { backendFor } from '../backend/registry.js';
import type { Tensor } from '../tensor.js';
import { batchesOf, releaseBatchTensor, type BatchIterable } from './batches.js';

export interface EvaluateResult {
  accuracy: number;
  count: number;
  /** confusion[true][pred], when requested. */
  confusion?: number[][];
}

export async function evaluate(net: Module, dataIter: BatchIterable, opts: { numClasses?: number; confusion?: boolean; limit?: number } = {}): Promise<EvaluateResult> {
  const wasTraining = net.training;
  net.eval();
  const metric = new Accumulator(2);
  const k = opts.numClasses ?? 10;
  const dev = net.device;
  // Counts stay on the model's device and are read once at the end: a GPU never waits per batch.
  let correctSum: Tensor | null = null;
  let confusionSum: Tensor | null = null;
  const cells = opts.confusion ? tidy(() => arange(0, k * k).to(dev).reshape([1, k * k])) : null;
  const accumulate = (prev: Tensor | null, next: Tensor): Tensor => {
    if (!prev) return next;
    const s = prev.add(next);
    prev.dispose();
    next.dispose();
    return s;
  };
  try {
    for await (const [Xfull, yfull] of batchesOf(dataIter)) {
      let X = Xfull;
      let y = yfull;
      if (opts.limit !== undefined) {
        const left = opts.limit - metric.get(1);
        if (left <= 0) break;
        if (left < y.numel()) {
          X = X.slice(0, 0, left);
          y = y.slice(0, 0, left);
        }
      }
      const { correct, confusion } = tidy(() => noGrad(() => {
        const yHat = net.forward(X.to(dev));
        const yd = y.to(dev);
        // confusion[true][pred] as counts of the cell index true·k + pred
        const conf = cells ? yd.reshape([-1, 1]).mul(k).add(yHat.argmax(1).reshape([-1, 1])).eq(cells).sum(0) : null;
        return { correct: correctCount(yHat, yd), confusion: conf };
      }));
      correctSum = accumulate(correctSum, correct);
      if (confusion) confusionSum = accumulate(confusionSum, confusion);
      metric.add(0, y.numel());
      // The loader's batch is ours to release (a slice made for --limit too).
      if (X !== Xfull) X.dispose();
      if (y !== yfull) y.dispose();
      releaseBatchTensor(Xfull);
      releaseBatchTensor(yfull);
      backendFor(dev).flush?.();
    }
    if (correctSum) metric.add(await correctSum.item(), 0);
  } finally {
    net.train(wasTraining);
    correctSum?.dispose();
    cells?.dispose();
  }
  let confusion: number[][] | undefined;
  if (opts.confusion) {
    const counts = confusionSum ? await confusionSum.data() : new Float32Array(k * k);
    confusionSum?.dispose();
    confusion = Array.from({ length: k }, (_, t) => Array.from(counts.subarray(t * k, (t + 1) * k)));
  }
  // An accuracy of 0 over nothing would read as a failed model; there is simply no test data.
  if (metric.get(1) === 0) throw new Error('evaluate: the test data yielded no examples, so there is no accuracy to report; check the test split (or --limit)');
  return { accuracy: metric.get(0) / metric.get(1), count: metric.get(1), confusion };
}

/** evaluate_accuracy_gpu(net, data_iter): the fraction of correct predictions. */
export async function evaluateAccuracy(net: Module, dataIter: BatchIterable): Promise<number> {
  return (await evaluate(net, dataIter)).accuracy;
}
