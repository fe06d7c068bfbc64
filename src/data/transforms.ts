/**
 * Image transforms on uint8 images, matching torchvision on PIL images.
 *
 * d2l's `load_data_fashion_mnist(batch_size, resize)` uses
 * `transforms.Compose([transforms.Resize(resize), transforms.ToTensor()])`, so
 * the resize runs on a PIL 'L' (uint8) image with Pillow's BILINEAR filter and
 * ToTensor then divides by 255. Pillow's 8-bit resampler is reproduced here
 * bit for bit: a separable triangle filter whose support scales with the
 * reduction factor (antialiasing when shrinking), coefficients in 22-bit fixed
 * point, a horizontal pass rounded to uint8, then a vertical pass rounded to
 * uint8 (see Pillow's libImaging/Resample.c).
 *
 * Images are HWC uint8 (channels-last, like PIL/numpy); `toTensor` produces CHW
 * float32 in [0, 1].
 */

import type { AugmentStep } from './augment.js';
/** A uint8 image, row-major HWC. */
export interface ImageU8 {
  data: Uint8Array;
  height: number;
  width: number;
  channels: number;
}

/** A float32 image tensor, CHW. */
export interface ImageF32 {
  data: Float32Array;
  /** [channels, height, width] */
  shape: [number, number, number];
}

/** Serializable description of the per-image pipeline (it crosses into worker threads). */
export interface TransformSpec {
  /** torchvision `Resize(size)`: a number resizes the smaller edge, [h, w] is exact. */
  resize?: number | readonly [number, number];
  /** torchvision `Normalize(mean, std)`, applied after ToTensor; one entry per channel (or one for all). */
  normalize?: { mean: readonly number[]; std: readonly number[] };
  /** Random augmentation after the resize, drawn per sample (see augment.ts). */
  augment?: readonly AugmentStep[];
}

const PRECISION_BITS = 32 - 8 - 2;

/** Per-axis resampling plan: for output index i, taps [start[i], start[i] + count[i]) with fixed-point weights. */
export interface ResampleAxis {
  inSize: number;
  outSize: number;
  /** Max taps per output sample (row stride of `weights`). */
  ksize: number;
  start: Int32Array;
  count: Int32Array;
  /** Fixed-point (22-bit) weights, `ksize` per output sample. */
  weights: Int32Array;
}

const axisCache = new Map<string, ResampleAxis>();

/**
 * Pillow's precompute_coeffs + normalize_coeffs_8bpc for the bilinear (triangle)
 * filter over the box [in0, in1) of an axis of length inSize. Cached per arguments.
 */
export function bilinearAxis(inSize: number, outSize: number, in0 = 0, in1 = inSize): ResampleAxis {
  const key = `${inSize},${outSize},${in0},${in1}`;
  const cached = axisCache.get(key);
  if (cached) return cached;
  // Pillow passes the box as C floats.
  const f0 = Math.fround(in0);
  const f1 = Math.fround(in1);
  const scale = (f1 - f0) / outSize;
  const filterscale = scale < 1 ? 1 : scale;
  const support = 1.0 * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  const ss = 1.0 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = f0 + (xx + 0.5) * scale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      let t = (x + xmin - center + 0.5) * ss;
      if (t < 0) t = -t;
      const w = t < 1 ? 1 - t : 0;
      k[x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) {
      const w = ww !== 0 ? k[x] / ww : k[x];
      // normalize_coeffs_8bpc: round half away from zero, C (int) cast truncates.
      weights[xx * ksize + x] = w < 0 ? Math.trunc(-0.5 + w * (1 << PRECISION_BITS)) : Math.trunc(0.5 + w * (1 << PRECISION_BITS));
    }
    start[xx] = xmin;
    count[xx] = xmax;
  }
  const axis: ResampleAxis = { inSize, outSize, ksize, start, count, weights };
  axisCache.set(key, axis);
  return axis;
}

/** Pillow's clip8: fixed-point accumulator -> uint8. */
function clip8(ss: number): number {
  const v = ss >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

const HALF = 1 << (PRECISION_BITS - 1);

/** Precomputed two-pass plan for one (inH, inW, C) -> (outH, outW) resize, as Pillow's ImagingResampleInner. */
interface ResizePlan {
  inH: number;
  inW: number;
  C: number;
  outH: number;
  outW: number;
  needH: boolean;
  needV: boolean;
  ax: ResampleAxis;
  ay: ResampleAxis;
  /** First source row read by the vertical pass (Pillow's ybox_first). */
  yFirst: number;
  /** Rows of the horizontal pass's output (ybox_last - ybox_first). */
  rows: number;
}

function planResize(inH: number, inW: number, C: number, outH: number, outW: number): ResizePlan {
  const needH = outW !== inW;
  const needV = outH !== inH;
  const ax = bilinearAxis(inW, outW);
  const ay = bilinearAxis(inH, outH);
  let yFirst = 0;
  let yLast = inH;
  if (needV) {
    yFirst = ay.start[0];
    yLast = ay.start[outH - 1] + ay.count[outH - 1];
  }
  return { inH, inW, C, outH, outW, needH, needV, ax, ay, yFirst, rows: yLast - yFirst };
}

/** Horizontal pass over source rows [yFirst, yFirst + rows) into tmp (rows x outW x C, uint8). */
function horizontalPass(p: ResizePlan, src: Uint8Array, tmp: Uint8Array): void {
  const { inW, C, outW, yFirst, rows } = p;
  const { ksize, start, count, weights } = p.ax;
  for (let y = 0; y < rows; y++) {
    const srow = (y + yFirst) * inW * C;
    const trow = y * outW * C;
    for (let xx = 0; xx < outW; xx++) {
      const xmin = start[xx];
      const n = count[xx];
      const kOff = xx * ksize;
      for (let c = 0; c < C; c++) {
        let ss = HALF;
        let q = srow + xmin * C + c;
        for (let x = 0; x < n; x++, q += C) ss += src[q] * weights[kOff + x];
        tmp[trow + xx * C + c] = clip8(ss);
      }
    }
  }
}

/** Vertical pass from `tmp` (whose row 0 is source row `tmpRow0`) into a uint8 HWC image. */
function verticalPassU8(p: ResizePlan, tmp: Uint8Array, tmpRow0: number, dst: Uint8Array): void {
  const rowLen = p.outW * p.C;
  const { ksize, start, count, weights } = p.ay;
  for (let yy = 0; yy < p.outH; yy++) {
    const r0 = (start[yy] - tmpRow0) * rowLen;
    const n = count[yy];
    const kOff = yy * ksize;
    const o = yy * rowLen;
    for (let i = 0; i < rowLen; i++) {
      let ss = HALF;
      for (let y = 0, r = r0 + i; y < n; y++, r += rowLen) ss += tmp[r] * weights[kOff + y];
      dst[o + i] = clip8(ss);
    }
  }
}

/** Vertical pass fused with ToTensor(/Normalize): writes CHW float32 through per-channel LUTs. */
function verticalPassF32(p: ResizePlan, tmp: Uint8Array, tmpRow0: number, luts: Float32Array[], out: Float32Array, offset: number): void {
  const { outW, outH, C } = p;
  const rowLen = outW * C;
  const plane = outH * outW;
  const { ksize, start, count, weights } = p.ay;
  for (let yy = 0; yy < outH; yy++) {
    const r0 = (start[yy] - tmpRow0) * rowLen;
    const n = count[yy];
    const kOff = yy * ksize;
    if (C === 1 && n === 2) {
      // The common upsampling case: two taps per output row.
      const lut = luts[0];
      const o = offset + yy * outW;
      const w0 = weights[kOff];
      const w1 = weights[kOff + 1];
      const r1 = r0 + rowLen;
      for (let xx = 0; xx < outW; xx++) out[o + xx] = lut[clip8(HALF + tmp[r0 + xx] * w0 + tmp[r1 + xx] * w1)];
      continue;
    }
    for (let c = 0; c < C; c++) {
      const lut = luts[c];
      const o = offset + c * plane + yy * outW;
      for (let xx = 0; xx < outW; xx++) {
        let ss = HALF;
        for (let y = 0, r = r0 + xx * C + c; y < n; y++, r += rowLen) ss += tmp[r] * weights[kOff + y];
        out[o + xx] = lut[clip8(ss)];
      }
    }
  }
}

/**
 * Bilinear resize of a uint8 HWC image to outH x outW, bit-exact with Pillow's
 * `Image.resize((outW, outH), Image.BILINEAR)`. Writes into `out` when given.
 */
export function resizeBilinearU8(
  src: Uint8Array,
  inH: number,
  inW: number,
  channels: number,
  outH: number,
  outW: number,
  out?: Uint8Array,
): Uint8Array {
  const C = channels;
  if (src.length < inH * inW * C) throw new Error(`resize: source has ${src.length} bytes, need ${inH * inW * C}`);
  const dst = out ?? new Uint8Array(outH * outW * C);
  if (dst.length < outH * outW * C) throw new Error(`resize: output buffer too small`);
  if (inH === outH && inW === outW) {
    dst.set(src.subarray(0, inH * inW * C));
    return dst;
  }
  const p = planResize(inH, inW, C, outH, outW);
  if (!p.needV) {
    horizontalPass(p, src, dst);
    return dst;
  }
  if (!p.needH) {
    verticalPassU8(p, src, 0, dst);
    return dst;
  }
  const tmp = new Uint8Array(p.rows * outW * C);
  horizontalPass(p, src, tmp);
  verticalPassU8(p, tmp, p.yFirst, dst);
  return dst;
}

/**
 * Output size of torchvision's `Resize(size)` for an image of inH x inW:
 * an int matches the smaller edge (the longer edge is scaled and truncated), a pair is exact.
 */
export function resizedSize(size: number | readonly [number, number], inH: number, inW: number): [number, number] {
  if (typeof size !== 'number') return [size[0], size[1]];
  if (inW <= inH) {
    if (inW === size) return [inH, inW];
    return [Math.trunc((size * inH) / inW), size];
  }
  if (inH === size) return [inH, inW];
  return [size, Math.trunc((size * inW) / inH)];
}

/** torchvision `transforms.Resize(size)` (bilinear) on a uint8 image. */
export function resize(size: number | readonly [number, number]): (img: ImageU8) => ImageU8 {
  return (img) => {
    const [h, w] = resizedSize(size, img.height, img.width);
    const data = resizeBilinearU8(img.data, img.height, img.width, img.channels, h, w);
    return { data, height: h, width: w, channels: img.channels };
  };
}

/** uint8 -> v / 255 as float32, exactly torch's `ToTensor` (float32 division). */
const TO_TENSOR_LUT: Float32Array = (() => {
  const lut = new Float32Array(256);
  for (let v = 0; v < 256; v++) lut[v] = v / 255;
  return lut;
})();

/**
 * torchvision `ToTensor()` on a uint8 HWC image: CHW float32 in [0, 1].
 * Writes into `out` (at `offset`).
 */
export function toTensorInto(img: ImageU8, out: Float32Array, offset = 0): void {
  const luts = Array.from({ length: img.channels }, () => TO_TENSOR_LUT);
  writeCHW(img, luts, out, offset);
}

/** Write an HWC uint8 image as CHW floats through per-channel lookup tables. */
export function writeCHW(img: ImageU8, luts: Float32Array[], out: Float32Array, offset: number): void {
  const { data, height, width, channels: C } = img;
  const plane = height * width;
  if (C === 1) {
    const lut = luts[0];
    for (let i = 0; i < plane; i++) out[offset + i] = lut[data[i]];
    return;
  }
  for (let c = 0; c < C; c++) {
    const lut = luts[c];
    const o = offset + c * plane;
    for (let i = 0; i < plane; i++) out[o + i] = lut[data[i * C + c]];
  }
}

/** torchvision `ToTensor()`: uint8 HWC -> float32 CHW in [0, 1]. */
export function toTensor(img: ImageU8): ImageF32 {
  const out = new Float32Array(img.height * img.width * img.channels);
  toTensorInto(img, out);
  return { data: out, shape: [img.channels, img.height, img.width] };
}

function meanStdFor(channels: number, mean: readonly number[], std: readonly number[]): Array<[number, number]> {
  const ms: Array<[number, number]> = [];
  for (let c = 0; c < channels; c++) {
    const m = mean.length === 1 ? mean[0] : mean[c];
    const s = std.length === 1 ? std[0] : std[c];
    if (m === undefined || s === undefined || (mean.length !== 1 && mean.length !== channels) || (std.length !== 1 && std.length !== channels)) {
      throw new Error(`normalize: need 1 or ${channels} mean/std values, got ${mean.length}/${std.length}`);
    }
    if (!(s !== 0) || !Number.isFinite(s) || !Number.isFinite(m)) throw new Error(`normalize: bad mean/std ${m}/${s}`);
    // torch holds mean/std in float32 tensors and computes in float32.
    ms.push([Math.fround(m), Math.fround(s)]);
  }
  return ms;
}

/** `(x - mean) / std` in float32 arithmetic, as torch's Normalize on a float32 tensor. */
function normalizeValue(x: number, m: number, s: number): number {
  return Math.fround(Math.fround(x - m) / s);
}

/** In-place torchvision `Normalize(mean, std)` over a CHW float32 block of `channels` planes. */
export function normalizeInPlace(data: Float32Array, channels: number, mean: readonly number[], std: readonly number[], offset = 0): void {
  const plane = Math.floor((data.length - offset) / channels);
  const ms = meanStdFor(channels, mean, std);
  for (let c = 0; c < channels; c++) {
    const [m, s] = ms[c];
    const o = offset + c * plane;
    for (let i = 0; i < plane; i++) data[o + i] = normalizeValue(data[o + i], m, s);
  }
}

/** torchvision `Normalize(mean, std)` on a CHW float32 image (returns a new image). */
export function normalize(mean: readonly number[], std: readonly number[]): (img: ImageF32) => ImageF32 {
  return (img) => {
    const data = Float32Array.from(img.data);
    normalizeInPlace(data, img.shape[0], mean, std);
    return { data, shape: [...img.shape] };
  };
}

/** Output [C, H, W] of the pipeline for an input image of the given size. */
export function pipelineOutputShape(spec: TransformSpec, height: number, width: number, channels: number): [number, number, number] {
  const [h, w] = spec.resize === undefined ? [height, width] : resizedSize(spec.resize, height, width);
  if (!spec.augment?.length) return [channels, h, w];
  const [ah, aw] = augmentedSize(spec.augment, h, w);
  return [channels, ah, aw];
}

/** The size an image has after the augment steps (they fix it, or keep it). */
export function augmentedSize(steps: readonly AugmentStep[], height: number, width: number): [number, number] {
  let h = height;
  let w = width;
  for (const st of steps) if (st.kind !== 'randomHorizontalFlip') [h, w] = st.size;
  return [h, w];
}

/** ToTensor's (and Normalize's) per-channel lookup tables for a spec: uint8 value → float. */
export function channelLuts(spec: TransformSpec, channels: number): Float32Array[] {
  const ms = spec.normalize ? meanStdFor(channels, spec.normalize.mean, spec.normalize.std) : null;
  return Array.from({ length: channels }, (_, c) => {
    if (!ms) return TO_TENSOR_LUT;
    const [m, sd] = ms[c];
    return TO_TENSOR_LUT.map((x) => normalizeValue(x, m, sd));
  });
}

/**
 * Compiled per-image pipeline: Resize? -> ToTensor -> Normalize?, writing a CHW float32
 * image at `out[offset ...]`. Equal to applying resize(), toTensor(), normalize() in turn,
 * but fused (uint8 -> float through a per-channel lookup table). Not reentrant (scratch buffer).
 */
export function compilePipeline(
  spec: TransformSpec,
  height: number,
  width: number,
  channels: number,
): (src: Uint8Array, out: Float32Array, offset: number) => void {
  if (spec.augment?.length) throw new Error('compilePipeline: a spec with augment steps needs compileRandomPipeline (it draws per sample)');
  const [, oh, ow] = pipelineOutputShape(spec, height, width, channels);
  const luts = channelLuts(spec, channels);
  const inLen = height * width * channels;
  if (oh === height && ow === width) {
    return (src, out, offset) => writeCHW({ data: src, height, width, channels }, luts, out, offset);
  }
  const plan = planResize(height, width, channels, oh, ow);
  if (!plan.needV) {
    const tmp = new Uint8Array(oh * ow * channels);
    return (src, out, offset) => {
      if (src.length < inLen) throw new Error(`pipeline: image has ${src.length} bytes, need ${inLen}`);
      horizontalPass(plan, src, tmp);
      writeCHW({ data: tmp, height: oh, width: ow, channels }, luts, out, offset);
    };
  }
  const tmp = plan.needH ? new Uint8Array(plan.rows * ow * channels) : null;
  return (src, out, offset) => {
    if (src.length < inLen) throw new Error(`pipeline: image has ${src.length} bytes, need ${inLen}`);
    if (tmp) {
      horizontalPass(plan, src, tmp);
      verticalPassF32(plan, tmp, plan.yFirst, luts, out, offset);
    } else {
      verticalPassF32(plan, src, 0, luts, out, offset);
    }
  };
}

/** Compose per-image functions left to right (torchvision `Compose`). */
export function compose<A, B>(f: (a: A) => B): (a: A) => B;
export function compose<A, B, C>(f: (a: A) => B, g: (b: B) => C): (a: A) => C;
export function compose<A, B, C, D>(f: (a: A) => B, g: (b: B) => C, h: (c: C) => D): (a: A) => D;
export function compose<A, B, C, D, E>(f: (a: A) => B, g: (b: B) => C, h: (c: C) => D, i: (d: D) => E): (a: A) => E;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function compose(...fns: Array<(x: any) => any>): (x: any) => any {
  return (x) => fns.reduce((acc, f) => f(acc), x);
}
