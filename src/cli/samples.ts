/** Test images with their true and predicted labels, for reports and `torchlet predict` (d2l's predict_ch3). */
import type { Module } from '../nn/module.js';
import type { DataLoader } from '../data/dataloader.js';
import { FASHION_MNIST_LABELS } from '../data/fashion-mnist.js';
import { noGrad } from '../autograd/grad-mode.js';

export interface LabelledSample {
  pixels: Uint8Array;
  width: number;
  height: number;
  trueLabel: string;
  predLabel: string;
}

/** Predict the first n test images (file order); pixels are the original 28×28 images. */
export async function sampleTestImages(net: Module, testIter: DataLoader, n: number): Promise<LabelledSample[]> {
  const ds = testIter.dataset;
  const out: LabelledSample[] = [];
  const wasTraining = net.training;
  net.eval();
  try {
    for await (const [X, y] of testIter.iterEpoch(0)) {
      const pred = await noGrad(() => net.forward(X.to(net.device))).argmax(1).data();
      for (let i = 0; i < pred.length && out.length < n; i++) {
        const idx = out.length;
        const plane = ds.height * ds.width * ds.channels;
        out.push({
          pixels: ds.images.subarray(idx * plane, (idx + 1) * plane),
          width: ds.width,
          height: ds.height,
          trueLabel: FASHION_MNIST_LABELS[y.hostView()[i]],
          predLabel: FASHION_MNIST_LABELS[pred[i]],
        });
      }
      if (out.length >= n) break;
    }
  } finally {
    net.train(wasTraining);
  }
  return out;
}
