/**
 * d2l's train_ch6 as a one-call function, for the examples: prints what the
 * seed prints, shows a progress bar, and saves the Animator's chart (there is
 * no plt.show() in a terminal) to chartDir.
 */
import type { Module } from '../nn/module.js';
import type { DeviceLike } from '../device.js';
import { deviceLabel, useDevice } from '../node/use-device.js';
import { fit, type FitResult } from './fit.js';
import { writeChart } from './charts.js';
import { createProgress } from './progress.js';
import { lengthOf, type BatchIterable } from './batches.js';
import type { RunHistory } from './history.js';

export async function trainCh6(
  net: Module, trainIter: BatchIterable, testIter: BatchIterable, numEpochs: number, lr: number, device: DeviceLike = 'cpu',
  opts: { chartDir?: string; name?: string } = {},
): Promise<FitResult> {
  const dev = await useDevice(String(device));
  const label = deviceLabel(dev);
  console.log('training on', label);
  const history: RunHistory = { model: opts.name ?? net.constructor.name, device: label, epochs: numEpochs, points: [] };
  const progress = createProgress({ total: lengthOf(trainIter) ?? 1, epochs: numEpochs, tty: process.stdout.isTTY === true });
  const result = await fit(net, trainIter, testIter, {
    epochs: numEpochs,
    lr,
    // The book's train_ch6 starts with net.apply(init_weights): Xavier for every Conv2d and Linear.
    init: 'xavier',
    device: dev,
    onEvent: (e) => {
      if (e.type === 'batch') progress.update(e.batch, { loss: e.trainLoss, acc: e.trainAcc });
      else if (e.type === 'epoch') progress.epochEnd(e.epoch, { loss: e.trainLoss, trainAcc: e.trainAcc, testAcc: e.testAcc, examplesPerSec: e.examplesPerSec });
      else if (e.type === 'point') {
        history.points = [...e.points];
        if (opts.chartDir) writeChart(opts.chartDir, history).catch((err: Error) => progress.log(`chart not written: ${err.message}`));
      }
    },
  });
  progress.stop();
  if (opts.chartDir) await writeChart(opts.chartDir, history);
  console.log(`loss ${result.trainLoss.toFixed(3)}, train acc ${result.trainAcc.toFixed(3)}, test acc ${result.testAcc.toFixed(3)}`);
  console.log(`${result.examplesPerSec.toFixed(1)} examples/sec on ${label}`);
  if (opts.chartDir) console.log(`chart: ${opts.chartDir}/chart.png`);
  return result;
}
