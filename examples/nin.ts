// Seed §NiN: 1×1 convolutions instead of fully connected layers, global average pooling at the end.
import * as torch from '../src/index.js';
import { epochsOr, shapesOnly } from './common.js';
const { nn } = torch;

// TODO: NiN块实现 (the NiN block)
function ninBlock(inChannels: number, outChannels: number, kernelSize: number, strides: number, padding: number): torch.nn.Sequential {
  return new nn.Sequential(
    new nn.Conv2d(inChannels, outChannels, kernelSize, strides, padding),
    new nn.ReLU(),
    new nn.Conv2d(outChannels, outChannels, 1), new nn.ReLU(),
    new nn.Conv2d(outChannels, outChannels, 1), new nn.ReLU(),
  );
}

// TODO: NiN模型 (the model)
const net = new nn.Sequential(
  ninBlock(1, 96, 11, 4, 0),
  new nn.MaxPool2d(3, { stride: 2 }),
  ninBlock(96, 256, 5, 1, 2),
  new nn.MaxPool2d(3, { stride: 2 }),
  ninBlock(256, 384, 3, 1, 1),
  new nn.MaxPool2d(3, { stride: 2 }),
  new nn.Dropout(0.5),
  // 10 label classes
  ninBlock(384, 10, 3, 1, 1),
  new nn.AdaptiveAvgPool2d([1, 1]),
  // [batch, 10, 1, 1] → [batch, 10]
  new nn.Flatten(),
);

// TODO: 每个块的输出 (each block's output)
let X = torch.rand([1, 1, 224, 224]);
for (const layer of net) {
  X = layer.forward(X);
  console.log(`${layer.constructor.name} output shape:\t[${X.shape.join(', ')}]`);
}

// TODO: 训练 (train)
if (!shapesOnly) {
  const [lr, numEpochs, batchSize] = [0.1, epochsOr(10), 128];
  const [trainIter, testIter] = await torch.data.loadDataFashionMNIST(batchSize, { resize: 224 });
  await torch.trainCh6(net, trainIter, testIter, numEpochs, lr, torch.tryGpu(), { chartDir: 'runs/examples/nin', name: 'nin' });
  await trainIter.close();
  await testIter.close();
}
