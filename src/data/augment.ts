/**
 * Random augmentation with torchvision's names and semantics: RandomCrop
 * (with padding), RandomHorizontalFlip and RandomResizedCrop, on uint8 HWC
 * images, before ToTensor and Normalize.
 *
 * The draws are seeded per sample: each image's generator comes from the
 * loader's seed, the epoch and the sample's index, so a batch is the same
 * whichever worker builds it, and a resumed epoch repeats its draws exactly.
 * Each transform draws in torchvision's order (RandomResizedCrop: scale, then
 * log-ratio, up to ten tries, then the offsets; RandomCrop: the row offset,
 * then the column; the flip: one uniform below p), so given the same draws
 * the results are torchvision's.
 */
import { Generator } from '../random.js';
import { augmentedSize, channelLuts, resizeBilinearU8, resizedSize, writeCHW, type ImageU8, type TransformSpec } from './transforms.js';

export { augmentedSize };

/** Serializable: the steps cross into loader worker threads. */
export type AugmentStep =
  | { kind: 'randomCrop'; size: [number, number]; padding: [number, number, number, number]; fill: number; padIfNeeded: boolean }
  | { kind: 'randomHorizontalFlip'; p: number }
  | { kind: 'randomResizedCrop'; size: [number, number]; scale: [number, number]; ratio: [number, number] };

// ---------------------------------------------------------------- functional (torchvision.transforms.functional)

/** F.pad with a constant fill; padding is [left, top, right, bottom]. */
export function pad(img: ImageU8, padding: readonly [number, number, number, number], fill = 0): ImageU8 {
  const [l, t, r, b] = padding;
  const { height: h, width: w, channels: c } = img;
  const oh = h + t + b;
  const ow = w + l + r;
  const data = new Uint8Array(oh * ow * c).fill(fill);
  for (let y = 0; y < h; y++) data.set(img.data.subarray(y * w * c, (y + 1) * w * c), ((y + t) * ow + l) * c);
  return { data, height: oh, width: ow, channels: c };
}

/** F.crop(img, top, left, height, width); the region must lie inside the image. */
export function crop(img: ImageU8, top: number, left: number, height: number, width: number): ImageU8 {
  const { width: w, channels: c } = img;
  if (top < 0 || left < 0 || top + height > img.height || left + width > w) {
    throw new Error(`crop: region top=${top} left=${left} ${height}x${width} is outside the ${img.height}x${w} image`);
  }
  const data = new Uint8Array(height * width * c);
  for (let y = 0; y < height; y++) data.set(img.data.subarray(((top + y) * w + left) * c, ((top + y) * w + left + width) * c), y * width * c);
  return { data, height, width, channels: c };
}

/** F.hflip. */
export function hflip(img: ImageU8): ImageU8 {
  const { height: h, width: w, channels: c } = img;
  const data = new Uint8Array(img.data.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const from = (y * w + (w - 1 - x)) * c;
      const to = (y * w + x) * c;
      for (let k = 0; k < c; k++) data[to + k] = img.data[from + k];
    }
  }
  return { data, height: h, width: w, channels: c };
}

/** F.resized_crop: crop, then resize bilinearly (PIL's filter, as torchvision uses on PIL images). */
export function resizedCrop(img: ImageU8, top: number, left: number, height: number, width: number, size: readonly [number, number]): ImageU8 {
  const part = crop(img, top, left, height, width);
  const data = resizeBilinearU8(part.data, height, width, img.channels, size[0], size[1]);
  return { data, height: size[0], width: size[1], channels: img.channels };
}

// ---------------------------------------------------------------- parameters drawn as torchvision draws them

/** Python's round(): halves go to the even neighbour (torchvision rounds crop sizes with it). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** torch.randint(lo, hi, (1,)).item() from a uniform draw. */
function randint(g: Generator, lo: number, hi: number): number {
  return lo + Math.min(hi - lo - 1, Math.floor(g.uniform() * (hi - lo)));
}

/** RandomResizedCrop.get_params: (top, left, height, width). */
export function resizedCropParams(g: Generator, h: number, w: number, scale: readonly [number, number], ratio: readonly [number, number]): [number, number, number, number] {
  const area = h * w;
  const logRatio = [Math.log(ratio[0]), Math.log(ratio[1])];
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * (scale[0] + g.uniform() * (scale[1] - scale[0]));
    const aspect = Math.exp(logRatio[0] + g.uniform() * (logRatio[1] - logRatio[0]));
    const cw = roundHalfEven(Math.sqrt(targetArea * aspect));
    const ch = roundHalfEven(Math.sqrt(targetArea / aspect));
    if (cw > 0 && cw <= w && ch > 0 && ch <= h) {
      const top = randint(g, 0, h - ch + 1);
      const left = randint(g, 0, w - cw + 1);
      return [top, left, ch, cw];
    }
  }
  // Fallback to a central crop with the ratio clamped into range.
  const inRatio = w / h;
  let cw: number;
  let ch: number;
  if (inRatio < Math.min(...ratio)) {
    cw = w;
    ch = roundHalfEven(cw / Math.min(...ratio));
  } else if (inRatio > Math.max(...ratio)) {
    ch = h;
    cw = roundHalfEven(ch * Math.max(...ratio));
  } else {
    cw = w;
    ch = h;
  }
  return [Math.trunc((h - ch) / 2), Math.trunc((w - cw) / 2), ch, cw];
}

export function applyStep(step: AugmentStep, img: ImageU8, g: Generator): ImageU8 {
  switch (step.kind) {
    case 'randomHorizontalFlip':
      return g.uniform() < step.p ? hflip(img) : img;
    case 'randomCrop': {
      let out = step.padding.some((p) => p > 0) ? pad(img, step.padding, step.fill) : img;
      const [th, tw] = step.size;
      if (step.padIfNeeded && out.width < tw) out = pad(out, [tw - out.width, 0, tw - out.width, 0], step.fill);
      if (step.padIfNeeded && out.height < th) out = pad(out, [0, th - out.height, 0, th - out.height], step.fill);
      if (out.height < th || out.width < tw) {
        throw new Error(`RandomCrop: the crop ${th}x${tw} is larger than the (padded) ${out.height}x${out.width} image; add padding or padIfNeeded`);
      }
      if (out.height === th && out.width === tw) return out;
      const top = randint(g, 0, out.height - th + 1);
      const left = randint(g, 0, out.width - tw + 1);
      return crop(out, top, left, th, tw);
    }
    case 'randomResizedCrop': {
      const [top, left, h, w] = resizedCropParams(g, img.height, img.width, step.scale, step.ratio);
      return resizedCrop(img, top, left, h, w, step.size);
    }
  }
}

/** A per-image pipeline that draws: Resize? -> the augment steps -> ToTensor -> Normalize?. */
export type RandomPipeline = (src: Uint8Array, out: Float32Array, offset: number, g: Generator) => void;

/** The pipeline for a spec with augment steps (transforms.ts's compilePipeline is the fused one without them). */
export function compileRandomPipeline(spec: TransformSpec, height: number, width: number, channels: number): RandomPipeline {
  const steps = spec.augment ?? [];
  checkSteps(steps);
  const luts = channelLuts(spec, channels);
  const [rh, rw] = spec.resize === undefined ? [height, width] : resizedSize(spec.resize, height, width);
  const inLen = height * width * channels;
  return (src, out, offset, g) => {
    if (src.length < inLen) throw new Error(`pipeline: image has ${src.length} bytes, need ${inLen}`);
    let img: ImageU8 = { data: src, height, width, channels };
    if (rh !== height || rw !== width) img = { data: resizeBilinearU8(src, height, width, channels, rh, rw), height: rh, width: rw, channels };
    for (const step of steps) img = applyStep(step, img, g);
    writeCHW(img, luts, out, offset);
  };
}

/** The generator of one sample in one epoch: a hash of (seed, epoch, index), so draws never depend on who builds the batch. */
export function sampleGenerator(seed: number, epoch: number, index: number): Generator {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (const v of [epoch, index, seed >>> 16]) {
    h = Math.imul(h ^ (v >>> 0), 0x01000193) >>> 0;
    h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
  }
  return new Generator(h);
}

export function checkSteps(steps: readonly AugmentStep[]): void {
  for (const s of steps) {
    if (s.kind === 'randomHorizontalFlip' && !(s.p >= 0 && s.p <= 1)) throw new Error(`RandomHorizontalFlip: p must be in [0, 1], got ${s.p}`);
    if (s.kind !== 'randomHorizontalFlip' && !s.size.every((d) => Number.isInteger(d) && d >= 1)) throw new Error(`${s.kind}: size must be positive whole numbers, got [${s.size.join(', ')}]`);
    if (s.kind === 'randomCrop' && !s.padding.every((p) => Number.isInteger(p) && p >= 0)) throw new Error(`RandomCrop: padding must be whole numbers ≥ 0, got [${s.padding.join(', ')}]`);
    if (s.kind === 'randomResizedCrop') {
      if (!(s.scale[0] > 0 && s.scale[0] <= s.scale[1] && s.scale[1] <= 1)) throw new Error(`RandomResizedCrop: scale must satisfy 0 < min ≤ max ≤ 1, got [${s.scale.join(', ')}]`);
      if (!(s.ratio[0] > 0 && s.ratio[0] <= s.ratio[1])) throw new Error(`RandomResizedCrop: ratio must satisfy 0 < min ≤ max, got [${s.ratio.join(', ')}]`);
    }
  }
}
