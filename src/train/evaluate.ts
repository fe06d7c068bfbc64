/** Test-set accuracy (d2l's evaluate_accuracy_gpu), optionally with a confusion matrix. */
import type { Module } from '../nn/module.js';
import { noGrad } from '../autograd/grad-mode.js';
import { Accumulator, accuracy } from './metrics.js';
import { batchesOf, type BatchIterable } from './batches.js';

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
      const yHat = noGrad(() => net.forward(X));
      metric.add(accuracy(yHat, y), y.numel());
      if (confusion) {
        const pred = yHat.argmax(1).storage;
        const t = y.storage;
        for (let i = 0; i < t.length; i++) confusion[t[i]][pred[i]]++;
      }
    }
  } finally {
    net.train(wasTraining);
  }
  return { accuracy: metric.get(0) / Math.max(metric.get(1), 1), count: metric.get(1), confusion };
}

/** evaluate_accuracy_gpu(net, data_iter): the fraction of correct predictions. */
export async function evaluateAccuracy(net: Module, dataIter: BatchIterable): Promise<number> {
  return (await evaluate(net, dataIter)).accuracy;
}
