// Seed §LeNet: build LeNet, print each layer's output shape, train on Fashion-MNIST.
import * as torch from '../src/index.js';
import { epochsOr, shapesOnly } from './common.js';
const { nn } = torch;

// TODO: 构建网络 (build the network)
class Reshape extends nn.Module {
  forward(x: torch.Tensor): torch.Tensor {
    return x.view(-1, 1, 28, 28);
  }
}

const net = new nn.Sequential(
  new Reshape(),
  // input 1 × 28 × 28
  new nn.Conv2d(1, 6, 5, { padding: 2 }), new nn.Sigmoid(),
  // output 6 × 28 × 28 (28 - 5 + 4 + 1)
  new nn.AvgPool2d(2, { stride: 2 }),
  // output 6 × 14 × 14
  new nn.Conv2d(6, 16, 5), new nn.Sigmoid(),
  // output 16 × 10 × 10
  new nn.AvgPool2d(2, { stride: 2 }), new nn.Flatten(),
  // output 16 * 5 * 5
  new nn.Linear(16 * 5 * 5, 120), new nn.Sigmoid(),
  new nn.Linear(120, 84), new nn.Sigmoid(),
  new nn.Linear(84, 10),
);

// TODO: 模拟训练，打印输出 (run a random input through, print shapes)
let X = torch.rand([1, 1, 28, 28]);
for (const layer of net) {
  X = layer.forward(X);
  console.log(`${layer.constructor.name} output shape:\t[${X.shape.join(', ')}]`);
}

// TODO: 尝试使用GPU训练Fashion-MNIST数据集 (train on Fashion-MNIST)
if (!shapesOnly) {
  const batchSize = 256;
  const [trainIter, testIter] = await torch.data.loadDataFashionMNIST(batchSize);
  const [lr, numEpochs] = [0.9, epochsOr(10)];
  await torch.trainCh6(net, trainIter, testIter, numEpochs, lr, torch.tryGpu(), { chartDir: 'runs/examples/lenet', name: 'lenet' });
  await trainIter.close();
  await testIter.close();
}
