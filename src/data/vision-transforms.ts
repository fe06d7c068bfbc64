/**
 * torchvision.transforms by name: Compose, Resize, RandomCrop,
 * RandomHorizontalFlip, RandomResizedCrop, ToTensor and Normalize. A Compose
 * becomes the serializable pipeline spec the DataLoader runs in its workers;
 * each transform can also be applied to one image (`forward(img, generator)`).
 */
import { Generator, defaultGenerator } from '../random.js';
import { applyStep, checkSteps, type AugmentStep } from './augment.js';
import { resize as resizeFn, type ImageU8, type TransformSpec } from './transforms.js';

type Size = number | readonly [number, number];
const sizeOf = (s: Size): [number, number] => (typeof s === 'number' ? [s, s] : [s[0], s[1]]);

abstract class RandomTransform {
  abstract readonly step: AugmentStep;
  /** Apply to one image, drawing from `generator` (default: the global one). */
  forward(img: ImageU8, generator: Generator = defaultGenerator): ImageU8 {
    return applyStep(this.step, img, generator);
  }
}

export interface RandomCropOptions {
  /** Pixels added on each side first: one number for all, [left/right, top/bottom], or [left, top, right, bottom]. */
  padding?: number | readonly [number, number] | readonly [number, number, number, number];
  /** The padded pixels' value (default 0). */
  fill?: number;
  /** Pad images smaller than the crop up to its size (default false). */
  padIfNeeded?: boolean;
}

export class RandomCrop extends RandomTransform {
  readonly step: AugmentStep;
  constructor(size: Size, opts: RandomCropOptions = {}) {
    super();
    const p = opts.padding ?? 0;
    const padding: [number, number, number, number] = typeof p === 'number' ? [p, p, p, p] : p.length === 2 ? [p[0], p[1], p[0], p[1]] : [p[0], p[1], p[2], p[3]];
    this.step = { kind: 'randomCrop', size: sizeOf(size), padding, fill: opts.fill ?? 0, padIfNeeded: opts.padIfNeeded ?? false };
    checkSteps([this.step]);
  }
}

export class RandomHorizontalFlip extends RandomTransform {
  readonly step: AugmentStep;
  constructor(p = 0.5) {
    super();
    this.step = { kind: 'randomHorizontalFlip', p };
    checkSteps([this.step]);
  }
}

export interface RandomResizedCropOptions {
  /** Range of the crop's area as a share of the image's (default [0.08, 1]). */
  scale?: readonly [number, number];
  /** Range of the crop's aspect ratio (default [3/4, 4/3]). */
  ratio?: readonly [number, number];
}

export class RandomResizedCrop extends RandomTransform {
  readonly step: AugmentStep;
  constructor(size: Size, opts: RandomResizedCropOptions = {}) {
    super();
    const scale = opts.scale ?? [0.08, 1];
    const ratio = opts.ratio ?? [3 / 4, 4 / 3];
    this.step = { kind: 'randomResizedCrop', size: sizeOf(size), scale: [scale[0], scale[1]], ratio: [ratio[0], ratio[1]] };
    checkSteps([this.step]);
  }
}

export class Resize {
  constructor(readonly size: Size) {
    if (!sizeOf(size).every((d) => Number.isInteger(d) && d >= 1)) throw new Error(`Resize: size must be positive whole numbers, got ${JSON.stringify(size)}`);
  }
  forward(img: ImageU8): ImageU8 {
    return resizeFn(this.size)(img);
  }
}

/** uint8 → float in [0, 1]; the pipeline always ends with it, so it only marks the place in a Compose. */
export class ToTensor {}

export class Normalize {
  constructor(readonly mean: readonly number[], readonly std: readonly number[]) {
    if (mean.length === 0 || mean.length !== std.length) throw new Error(`Normalize: need as many std values as mean values, got ${mean.length} and ${std.length}`);
  }
}

export type VisionTransform = RandomCrop | RandomHorizontalFlip | RandomResizedCrop | Resize | ToTensor | Normalize;

export class Compose {
  readonly spec: TransformSpec;
  constructor(readonly transforms: readonly VisionTransform[]) {
    const spec: { resize?: TransformSpec['resize']; augment: AugmentStep[]; normalize?: TransformSpec['normalize'] } = { augment: [] };
    let tensor = false;
    transforms.forEach((t, i) => {
      const at = `Compose: transform ${i} (${t.constructor.name})`;
      if (t instanceof Resize) {
        if (spec.augment.length > 0 || spec.resize !== undefined || tensor) throw new Error(`${at}: Resize must come first, once; for a resize after a random crop use RandomResizedCrop(size)`);
        spec.resize = typeof t.size === 'number' ? t.size : [t.size[0], t.size[1]];
      } else if (t instanceof RandomTransform) {
        if (tensor) throw new Error(`${at}: random image transforms go before ToTensor and Normalize`);
        spec.augment.push(t.step);
      } else if (t instanceof ToTensor) tensor = true;
      else if (t instanceof Normalize) {
        if (spec.normalize) throw new Error(`${at}: one Normalize only`);
        spec.normalize = { mean: [...t.mean], std: [...t.std] };
        tensor = true;
      } else throw new Error(`${at}: not a transform torchlet's DataLoader can run`);
    });
    this.spec = { ...(spec.resize !== undefined ? { resize: spec.resize } : {}), ...(spec.augment.length ? { augment: spec.augment } : {}), ...(spec.normalize ? { normalize: spec.normalize } : {}) };
  }
}

/** A DataLoader's transform option: a pipeline spec, or a Compose. */
export function transformSpecOf(t: TransformSpec | Compose | undefined): TransformSpec {
  if (t === undefined) return {};
  return t instanceof Compose ? t.spec : { ...t };
}
