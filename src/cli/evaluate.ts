/** `torchlet eval` and `torchlet predict`: run saved weights (torchlet's or PyTorch's safetensors) on the test set. */
import type { Command } from 'commander';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { getModelSpec } from '../models/index.js';
import { useDevice, deviceLabel } from '../node/use-device.js';
import { loadDataFashionMNIST } from '../data/load-data.js';
import { loadSafetensors, saveSafetensors } from '../io/safetensors-file.js';
import { evaluate } from '../train/evaluate.js';
import { noGrad } from '../autograd/grad-mode.js';
import { cat } from '../ops/movement.js';
import type { Tensor } from '../tensor.js';
import type { Module } from '../nn/module.js';
import { predictionGridPng } from '../train/prediction-grid.js';
import { atomicWriteFileSync } from '../util/atomic-write.js';
import { sampleTestImages } from './samples.js';
import { positiveInt } from './args.js';

interface EvalFlags {
  weights: string;
  resize?: number;
  limit?: number;
  logits?: string;
  device: string;
  threads?: number;
  dataDir?: string;
  batchSize: number;
}

export function loadNet(modelName: string, weights: string): Module {
  const spec = getModelSpec(modelName);
  if (existsSync(weights) && statSync(weights).isDirectory()) {
    const inside = path.join(weights, 'model.safetensors');
    throw new Error(`--weights ${weights} is a directory; give the weights file${existsSync(inside) ? `, e.g. --weights ${inside}` : ' (a .safetensors file)'}`);
  }
  const net = spec.create();
  const { tensors } = loadSafetensors(weights);
  try {
    net.loadStateDict(tensors);
  } catch (err) {
    throw new Error(`${weights} does not fit model '${spec.name}': ${(err as Error).message}`);
  }
  net.eval();
  return net;
}

function commonOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--weights <file>', 'model.safetensors (torchlet run or PyTorch state_dict)')
    .option('--resize <px>', "resize test images (default: the model's input size in the book)", positiveInt)
    .option('--device <d>', 'cpu (fastest available), gpu, or reference', 'cpu')
    .option('--threads <n>', 'compute threads', positiveInt)
    .option('--data-dir <dir>', 'directory holding the Fashion-MNIST IDX files')
    .option('--batch-size <n>', 'evaluation batch size', positiveInt, 256);
}

export function registerEvalCommands(program: Command): void {
  commonOptions(program.command('eval'))
    .description('print test accuracy of saved weights')
    .argument('<model>', 'model name')
    .option('--limit <n>', 'only the first n test images (file order)', positiveInt)
    .option('--logits <out.safetensors>', 'write the [N,10] logits of the evaluated images')
    .action(async (modelName: string, flags: EvalFlags) => {
      const spec = getModelSpec(modelName);
      const dev = await useDevice(flags.device, { threads: flags.threads });
      const net = loadNet(modelName, flags.weights).to(dev);
      const resize = flags.resize ?? spec.train.resize;
      const [trainIter, testIter] = await loadDataFashionMNIST(flags.batchSize, { resize, dataDir: flags.dataDir, workers: 0 });
      await trainIter.close();
      try {
        const r = await evaluate(net, testIter, { limit: flags.limit });
        console.log(`test acc ${r.accuracy.toFixed(4)} (${r.count} images, ${spec.name}, ${deviceLabel(dev)})`);
        if (flags.logits) {
          const parts: Tensor[] = [];
          let n = 0;
          for await (const [X] of testIter.iterEpoch(0)) {
            const take = flags.limit === undefined ? X.shape[0] : Math.min(X.shape[0], flags.limit - n);
            if (take <= 0) break;
            parts.push(noGrad(() => net.forward(X.slice(0, 0, take).to(dev))));
            n += take;
          }
          saveSafetensors(flags.logits, new Map([['logits', await cat(parts, 0).toAsync('cpu')]]), { model: spec.name, weights: flags.weights });
          console.log(`wrote logits [${n}, 10] to ${flags.logits}`);
        }
      } finally {
        await testIter.close();
      }
    });

  commonOptions(program.command('predict'))
    .description('show predictions for the first test images (d2l predict_ch3)')
    .argument('<model>', 'model name')
    .option('--images <n>', 'how many test images', positiveInt, 6)
    .option('--png <file>', 'also write the images as a labelled grid (PNG), wrong predictions marked')
    .action(async (modelName: string, flags: EvalFlags & { images: number; png?: string }) => {
      const spec = getModelSpec(modelName);
      const dev = await useDevice(flags.device, { threads: flags.threads });
      const net = loadNet(modelName, flags.weights).to(dev);
      const [trainIter, testIter] = await loadDataFashionMNIST(flags.batchSize, { resize: flags.resize ?? spec.train.resize, dataDir: flags.dataDir, workers: 0 });
      await trainIter.close();
      try {
        const samples = await sampleTestImages(net, testIter, flags.images);
        samples.forEach((s, i) => console.log(`${String(i).padStart(3)}  true ${s.trueLabel.padEnd(11)} pred ${s.predLabel}${s.trueLabel === s.predLabel ? '' : '   ✗'}`));
        if (flags.png && samples.length > 0) {
          atomicWriteFileSync(flags.png, predictionGridPng(samples), { createDir: false });
          console.log(`wrote ${flags.png} (true and predicted labels, wrong ones in red)`);
        }
      } finally {
        await testIter.close();
      }
    });
}
