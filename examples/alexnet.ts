// Seed §AlexNet: a deeper, wider LeNet with ReLU, max-pooling and dropout, on 224×224 inputs.
import * as torch from '../src/index.js';
import { epochsOr, shapesOnly } from './common.js';
const { nn } = torch;

const net = new nn.Sequential(
  // An 11×11 window with stride 4 captures objects and shrinks the output; far more channels than LeNet.
  new nn.Conv2d(1, 96, 11, { stride: 4, padding: 1 }), new nn.ReLU(),
  new nn.MaxPool2d(3, { stride: 2 }),
  // Smaller window, padding 2 keeps height and width; more output channels.
  new nn.Conv2d(96, 256, 5, { padding: 2 }), new nn.ReLU(),
  new nn.MaxPool2d(3, { stride: 2 }),
  // Three consecutive 3×3 convolutions.
  new nn.Conv2d(256, 384, 3, { padding: 1 }), new nn.ReLU(),
  new nn.Conv2d(384, 384, 3, { padding: 1 }), new nn.ReLU(),
  new nn.Conv2d(384, 256, 3, { padding: 1 }), new nn.ReLU(),
  new nn.MaxPool2d(3, { stride: 2 }),
  new nn.Flatten(),
  // Fully connected layers several times LeNet's, with dropout against overfitting.
  new nn.Linear(6400, 4096), new nn.ReLU(), new nn.Dropout(0.5),
  new nn.Linear(4096, 4096), new nn.ReLU(), new nn.Dropout(0.5),
  // 10 classes for Fashion-MNIST instead of the paper's 1000.
  new nn.Linear(4096, 10),
);

let X = torch.randn([1, 1, 224, 224]);
for (const layer of net) {
  X = layer.forward(X);
  console.log(`${layer.constructor.name} output shape:\t[${X.shape.join(', ')}]`);
}

// TODO: 读取数据 (read the data), TODO: 训练 (train)
if (!shapesOnly) {
  const batchSize = 128;
  const [trainIter, testIter] = await torch.data.loadDataFashionMNIST(batchSize, { resize: 224 });
  const [lr, numEpochs] = [0.01, epochsOr(10)];
  await torch.trainCh6(net, trainIter, testIter, numEpochs, lr, torch.tryGpu(), { chartDir: 'runs/examples/alexnet', name: 'alexnet' });
  await trainIter.close();
  await testIter.close();
}
