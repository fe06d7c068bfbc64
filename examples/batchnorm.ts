// Seed §Batch Normalization: BatchNorm from tensor ops, in LeNet; then the built-in layers.
import * as torch from '../src/index.js';
import { epochsOr, shapesOnly } from './common.js';
const { nn } = torch;

/**
 * 批量归一化操作 (the batch-norm computation). As in the seed, the mode comes
 * from whether gradients are being recorded: moving statistics under noGrad
 * (prediction), batch statistics otherwise (training).
 */
function batchNorm(X: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, movingMean: torch.Tensor, movingVar: torch.Tensor, eps: number, momentum: number): [torch.Tensor, torch.Tensor, torch.Tensor] {
  let XHat: torch.Tensor;
  if (!torch.isGradEnabled()) {
    // prediction: use the moving mean and variance
    XHat = X.sub(movingMean).div(movingVar.add(eps).sqrt());
  } else {
    if (![2, 4].includes(X.ndim)) throw new Error('expected a fully connected (2-D) or convolutional (4-D) input');
    let mean: torch.Tensor;
    let variance: torch.Tensor;
    if (X.ndim === 2) {
      mean = X.mean(0);
      variance = X.sub(mean).pow(2).mean(0);
    } else {
      // per channel: a 1 × n × 1 × 1 result
      mean = X.mean([0, 2, 3], true);
      variance = X.sub(mean).pow(2).mean([0, 2, 3], true);
    }
    // training: normalise with the batch's statistics
    XHat = X.sub(mean).div(variance.add(eps).sqrt());
    // update the moving averages
    movingMean = movingMean.mul(momentum).add(mean.mul(1.0 - momentum));
    movingVar = movingVar.mul(momentum).add(variance.mul(1.0 - momentum));
  }
  const Y = gamma.mul(XHat).add(beta);
  return [Y, movingMean.detach(), movingVar.detach()];
}

// TODO: 定义BatchNorm层 (the BatchNorm layer)
class BatchNorm extends nn.Module {
  gamma: torch.nn.Parameter;
  beta: torch.nn.Parameter;
  movingMean: torch.Tensor;
  movingVar: torch.Tensor;

  /** numDims: 2 after a fully connected layer, 4 after a convolution. */
  constructor(numFeatures: number, numDims: 2 | 4) {
    super();
    const shape = numDims === 2 ? [1, numFeatures] : [1, numFeatures, 1, 1];
    this.gamma = new nn.Parameter(torch.ones(shape));
    this.beta = new nn.Parameter(torch.zeros(shape));
    this.movingMean = torch.zeros(shape);
    this.movingVar = torch.ones(shape);
  }

  forward(X: torch.Tensor): torch.Tensor {
    const [Y, movingMean, movingVar] = batchNorm(X, this.gamma, this.beta, this.movingMean, this.movingVar, 1e-5, 0.9);
    this.movingMean = movingMean;
    this.movingVar = movingVar;
    return Y;
  }
}

// TODO: 应用BatchNorm于LeNet模型 (BatchNorm in LeNet)
let net = new nn.Sequential(
  new nn.Conv2d(1, 6, 5), new BatchNorm(6, 4), new nn.Sigmoid(),
  new nn.AvgPool2d(2, { stride: 2 }),
  new nn.Conv2d(6, 16, 5), new BatchNorm(16, 4), new nn.Sigmoid(),
  new nn.AvgPool2d(2, { stride: 2 }), new nn.Flatten(),
  new nn.Linear(16 * 4 * 4, 120), new BatchNorm(120, 2), new nn.Sigmoid(),
  new nn.Linear(120, 84), new BatchNorm(84, 2), new nn.Sigmoid(),
  // no normalisation on the output layer
  new nn.Linear(84, 10),
);

let X = torch.rand([1, 1, 28, 28]);
torch.noGrad(() => {
  for (const layer of net) {
    X = layer.forward(X);
    console.log(`${layer.constructor.name} output shape:\t[${X.shape.join(', ')}]`);
  }
});

if (!shapesOnly) {
  const [lr, numEpochs, batchSize] = [1.0, epochsOr(10), 256];
  const [trainIter, testIter] = await torch.data.loadDataFashionMNIST(batchSize);
  await torch.trainCh6(net, trainIter, testIter, numEpochs, lr, torch.tryGpu(), { chartDir: 'runs/examples/lenet-bn-scratch', name: 'lenet-bn-scratch' });

  // TODO: 查看规范化层中查看学到的均值和方差 (the learned scale and shift of the first BatchNorm)
  const bn = net[1] as BatchNorm;
  console.log(bn.gamma.reshape([-1]).toString(), bn.beta.reshape([-1]).toString());

  // TODO: 使用torchAPI (the built-in layers)
  net = new nn.Sequential(
    new nn.Conv2d(1, 6, 5), new nn.BatchNorm2d(6), new nn.Sigmoid(),
    new nn.AvgPool2d(2, { stride: 2 }),
    new nn.Conv2d(6, 16, 5), new nn.BatchNorm2d(16), new nn.Sigmoid(),
    new nn.AvgPool2d(2, { stride: 2 }), new nn.Flatten(),
    new nn.Linear(256, 120), new nn.BatchNorm1d(120), new nn.Sigmoid(),
    new nn.Linear(120, 84), new nn.BatchNorm1d(84), new nn.Sigmoid(),
    new nn.Linear(84, 10),
  );
  await torch.trainCh6(net, trainIter, testIter, numEpochs, lr, torch.tryGpu(), { chartDir: 'runs/examples/lenet-bn', name: 'lenet-bn' });
  await trainIter.close();
  await testIter.close();
}
