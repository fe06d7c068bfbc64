// Seed §VGG: networks from repeated blocks; VGG-11 shapes, then train the ÷4 small version.
import * as torch from '../src/index.js';
import { epochsOr, shapesOnly } from './common.js';
const { nn } = torch;

// TODO: 构建VGG块 (a VGG block)
function vggBlock(numConvs: number, inChannels: number, outChannels: number): torch.nn.Sequential {
  const layers: torch.nn.Module[] = [];
  for (let i = 0; i < numConvs; i++) {
    layers.push(new nn.Conv2d(inChannels, outChannels, 3, { padding: 1 }));
    layers.push(new nn.ReLU());
    inChannels = outChannels;
  }
  layers.push(new nn.MaxPool2d(2, { stride: 2 }));
  return new nn.Sequential(...layers);
}

// TODO: 设置一个VGG架构（经典五块式架构VGG-11） (VGG-11's five blocks)
const convArch: Array<[number, number]> = [[1, 64], [1, 128], [2, 256], [2, 512], [2, 512]];

// TODO: VGG网络构造 (build the network)
function vgg(convArch: Array<[number, number]>): torch.nn.Sequential {
  const convBlks: torch.nn.Module[] = [];
  let inChannels = 1;
  let outChannels = 1;
  for (const [numConvs, out] of convArch) {
    convBlks.push(vggBlock(numConvs, inChannels, out));
    inChannels = out;
    outChannels = out;
  }
  return new nn.Sequential(
    ...convBlks, new nn.Flatten(),
    // 224 stays 224 through the convolutions; five halvings make it 7×7.
    new nn.Linear(outChannels * 7 * 7, 4096), new nn.ReLU(),
    new nn.Dropout(0.5), new nn.Linear(4096, 4096), new nn.ReLU(),
    new nn.Dropout(0.5), new nn.Linear(4096, 10),
  );
}

let net = vgg(convArch);

// TODO: 查看每一层的输出情况 (each block's output)
let X = torch.randn([1, 1, 224, 224]);
for (const blk of net) {
  X = blk.forward(X);
  console.log(`${blk.constructor.name} output shape:\t[${X.shape.join(', ')}]`);
}

// The full model is large, so train a smaller one: channels ÷ 4.
const ratio = 4;
const smallConvArch = convArch.map(([n, c]) => [n, Math.floor(c / ratio)] as [number, number]);
net = vgg(smallConvArch);

// TODO: 训练 (train)
if (!shapesOnly) {
  const [lr, numEpochs, batchSize] = [0.05, epochsOr(10), 128];
  const [trainIter, testIter] = await torch.data.loadDataFashionMNIST(batchSize, { resize: 224 });
  await torch.trainCh6(net, trainIter, testIter, numEpochs, lr, torch.tryGpu(), { chartDir: 'runs/examples/vgg', name: 'vgg11-small' });
  await trainIter.close();
  await testIter.close();
}
