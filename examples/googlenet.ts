// Seed §GoogLeNet: Inception blocks with four parallel paths, five stages.
import * as torch from '../src/index.js';
import { epochsOr, shapesOnly } from './common.js';
const { nn } = torch;
const F = nn.functional;

class Inception extends nn.Module {
  p1_1: torch.nn.Conv2d;
  p2_1: torch.nn.Conv2d;
  p2_2: torch.nn.Conv2d;
  p3_1: torch.nn.Conv2d;
  p3_2: torch.nn.Conv2d;
  p4_1: torch.nn.MaxPool2d;
  p4_2: torch.nn.Conv2d;

  constructor(inChannel: number, c1: number, c2: [number, number], c3: [number, number], c4: number) {
    super();
    this.p1_1 = new nn.Conv2d(inChannel, c1, 1);
    this.p2_1 = new nn.Conv2d(inChannel, c2[0], 1);
    this.p2_2 = new nn.Conv2d(c2[0], c2[1], 3, { padding: 1 });
    this.p3_1 = new nn.Conv2d(inChannel, c3[0], 1);
    this.p3_2 = new nn.Conv2d(c3[0], c3[1], 5, { padding: 2 });
    this.p4_1 = new nn.MaxPool2d(3, { stride: 1, padding: 1 });
    this.p4_2 = new nn.Conv2d(inChannel, c4, 1);
  }

  forward(x: torch.Tensor): torch.Tensor {
    const p1 = F.relu(this.p1_1.forward(x));
    const p2 = F.relu(this.p2_2.forward(F.relu(this.p2_1.forward(x))));
    const p3 = F.relu(this.p3_2.forward(F.relu(this.p3_1.forward(x))));
    const p4 = F.relu(this.p4_2.forward(this.p4_1.forward(x)));
    return torch.cat([p1, p2, p3, p4], 1);
  }
}

const stage1 = new nn.Sequential(
  new nn.Conv2d(1, 64, 7, { stride: 2, padding: 3 }), new nn.ReLU(),
  new nn.MaxPool2d(3, { stride: 2, padding: 1 }),
);

const stage2 = new nn.Sequential(
  new nn.Conv2d(64, 64, 1), new nn.ReLU(),
  new nn.Conv2d(64, 192, 3, { padding: 1 }), new nn.ReLU(),
  new nn.MaxPool2d(3, { stride: 2, padding: 1 }),
);

const stage3 = new nn.Sequential(
  new Inception(192, 64, [96, 128], [16, 32], 32),
  new Inception(256, 128, [128, 192], [32, 96], 64),
  new nn.MaxPool2d(3, { stride: 2, padding: 1 }),
);

const stage4 = new nn.Sequential(
  new Inception(480, 192, [96, 208], [16, 48], 64),
  new Inception(512, 160, [112, 224], [24, 64], 64),
  new Inception(512, 128, [128, 256], [24, 64], 64),
  new Inception(512, 112, [144, 288], [32, 64], 64),
  new Inception(528, 256, [160, 320], [32, 128], 128),
  new nn.MaxPool2d(3, { stride: 2, padding: 1 }),
);

const stage5 = new nn.Sequential(
  new Inception(832, 256, [160, 320], [32, 128], 128),
  new Inception(832, 384, [192, 384], [48, 128], 128),
  new nn.AdaptiveAvgPool2d([1, 1]),
  new nn.Flatten(),
);

const net = new nn.Sequential(stage1, stage2, stage3, stage4, stage5, new nn.Linear(1024, 10));

let X = torch.rand([1, 1, 96, 96]);
for (const layer of net) {
  X = layer.forward(X);
  console.log(`${layer.constructor.name} output shape:\t[${X.shape.join(', ')}]`);
}

if (!shapesOnly) {
  const [lr, numEpochs, batchSize] = [0.1, epochsOr(10), 128];
  const [trainIter, testIter] = await torch.data.loadDataFashionMNIST(batchSize, { resize: 96 });
  await torch.trainCh6(net, trainIter, testIter, numEpochs, lr, torch.tryGpu(), { chartDir: 'runs/examples/googlenet', name: 'googlenet' });
  await trainIter.close();
  await testIter.close();
}
