/** Test-set accuracy (d2l's evaluate_accuracy_gpu), optionally with a confusion matrix. */
import type { Module } from '../nn/module.js';
import { noGrad } from '../autograd/grad-mode.js';
import { Accumulator, correctCount } from './metrics.js';
import { tidy } from '../memory.js';
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
  const confusion = opts.confusion ? Array.from({ length: k }, () => new Array<number>(k).fill(0)) : undefined;
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
      const dev = net.device;
      const { correct, pred } = tidy(() => noGrad(() => {
        const yHat = net.forward(X.to(dev));
        return { correct: correctCount(yHat, y.to(dev)), pred: confusion ? yHat.argmax(1) : null };
      }));
      metric.add(await correct.item(), y.numel());
      correct.dispose();
      if (confusion && pred) {
        const p = await pred.data();
        const t = await y.data();
        pred.dispose();
        for (let i = 0; i < t.length; i++) confusion[t[i]][p[i]]++;
      }
      // The loader's batch is ours to release (a slice made for --limit too).
      if (X !== Xfull) X.dispose();
      if (y !== yfull) y.dispose();
      releaseBatchTensor(Xfull);
      releaseBatchTensor(yfull);
    }
  } finally {
    net.train(wasTraining);
  }
  // An accuracy of 0 over nothing would read as a failed model; there is simply no test data.
  if (metric.get(1) === 0) throw new Error('evaluate: the test data yielded no examples, so there is no accuracy to report; check the test split (or --limit)');
  return { accuracy: metric.get(0) / metric.get(1), count: metric.get(1), confusion };
}

/** evaluate_accuracy_gpu(net, data_iter): the fraction of correct predictions. */
export async function evaluateAccuracy(net: Module, dataIter: BatchIterable): Promise<number> {
  return (await evaluate(net, dataIter)).accuracy;
}
