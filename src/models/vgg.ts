/** VGG from repeated blocks of 3×3 convolutions, as the seed builds it. */
import { nn } from './nn.js';

/** [numConvs, outChannels] per block. */
export type ConvArch = ReadonlyArray<readonly [number, number]>;

/** VGG-11's five blocks. */
export const VGG11_ARCH: ConvArch = [[1, 64], [1, 128], [2, 256], [2, 512], [2, 512]];

export function vggBlock(numConvs: number, inChannels: number, outChannels: number): nn.Sequential {
  const layers: nn.Module[] = [];
  for (let i = 0; i < numConvs; i++) {
    layers.push(new nn.Conv2d(inChannels, outChannels, 3, { padding: 1 }), new nn.ReLU());
    inChannels = outChannels;
  }
  layers.push(new nn.MaxPool2d(2, { stride: 2 }));
  return new nn.Sequential(...layers);
}

export function vgg(convArch: ConvArch = VGG11_ARCH): nn.Sequential {
  const blocks: nn.Module[] = [];
  let inChannels = 1;
  let outChannels = inChannels;
  for (const [numConvs, out] of convArch) {
    blocks.push(vggBlock(numConvs, inChannels, out));
    inChannels = out;
    outChannels = out;
  }
  return new nn.Sequential(
    ...blocks, new nn.Flatten(),
    // Five halvings take 224×224 down to 7×7.
    new nn.Linear(outChannels * 7 * 7, 4096), new nn.ReLU(),
    new nn.Dropout(0.5), new nn.Linear(4096, 4096), new nn.ReLU(),
    new nn.Dropout(0.5), new nn.Linear(4096, 10),
  );
}

export function vgg11(): nn.Sequential {
  return vgg(VGG11_ARCH);
}

/** The seed trains VGG-11 with every block's channels divided by `ratio` (4). */
export function vgg11Small(ratio = 4): nn.Sequential {
  return vgg(VGG11_ARCH.map(([n, c]) => [n, Math.floor(c / ratio)] as const));
}
