/**
 * Parity with d2l's pipeline, torchvision `Compose([Resize(size), ToTensor()])` on a PIL 'L'
 * image, using fixtures from scripts/gen_resize_fixtures.py (torchvision 0.14 / Pillow 9.4).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  bilinearAxis,
  compilePipeline,
  compose,
  normalize,
  normalizeInPlace,
  resize,
  resizeBilinearU8,
  resizedSize,
  toTensor,
  type ImageU8,
} from '../src/data/transforms.js';

// dist/test/ -> repo test/fixtures/resize/
const FIXTURES = fileURLToPath(new URL('../../test/fixtures/resize/', import.meta.url));

interface Meta {
  count: number;
  height: number;
  width: number;
  sizes: number[];
  files: Record<string, string>;
}

const meta = JSON.parse(readFileSync(FIXTURES + 'meta.json', 'utf8')) as Meta;
const inputs = new Uint8Array(readFileSync(FIXTURES + meta.files.inputs));

function expected(size: number): Float32Array {
  const b = readFileSync(FIXTURES + meta.files[String(size)]);
  const copy = new Uint8Array(b); // aligned copy
  return new Float32Array(copy.buffer, 0, copy.length / 4);
}

function image(i: number): ImageU8 {
  const n = meta.height * meta.width;
  return { data: inputs.subarray(i * n, (i + 1) * n), height: meta.height, width: meta.width, channels: 1 };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

test('resize fixtures are present and small', () => {
  assert.equal(inputs.length, meta.count * 28 * 28);
  assert.ok(meta.sizes.includes(224) && meta.sizes.includes(96));
});

for (const size of meta.sizes) {
  test(`Resize(${size}) + ToTensor matches torchvision on PIL 'L' images (28 -> ${size})`, () => {
    const want = expected(size);
    const plane = size * size;
    assert.equal(want.length, meta.count * plane);
    const pipeline = compose(resize(size), toTensor);
    const fused = compilePipeline({ resize: size }, 28, 28, 1);
    const fusedOut = new Float32Array(meta.count * plane);
    let worst = 0;
    for (let i = 0; i < meta.count; i++) {
      const got = pipeline(image(i));
      assert.deepEqual(got.shape, [1, size, size]);
      const ref = want.subarray(i * plane, (i + 1) * plane);
      const err = maxAbsDiff(got.data, ref);
      worst = Math.max(worst, err);
      fused(image(i).data, fusedOut, i * plane);
    }
    // Pillow's fixed-point resampler is reproduced exactly, so this is 0 (required: < 1e-3).
    assert.ok(worst < 1e-3, `max abs error ${worst}`);
    assert.equal(worst, 0, `expected bit-exact output, max abs error ${worst}`);
    assert.equal(maxAbsDiff(fusedOut, want), 0);
  });
}

test('fused pipeline with normalize equals resize -> toTensor -> normalize', () => {
  const mean = [0.286];
  const std = [0.353];
  const slow = compose(resize(96), toTensor, normalize(mean, std));
  const fused = compilePipeline({ resize: 96, normalize: { mean, std } }, 28, 28, 1);
  for (let i = 0; i < meta.count; i++) {
    const a = slow(image(i));
    const b = new Float32Array(96 * 96);
    fused(image(i).data, b, 0);
    assert.equal(maxAbsDiff(a.data, b), 0);
  }
  // against the fixture: (x - m) / s in float32
  const want = expected(96).slice(0, 96 * 96);
  normalizeInPlace(want, 1, mean, std);
  const b = new Float32Array(96 * 96);
  fused(image(0).data, b, 0);
  assert.ok(maxAbsDiff(want, b) < 1e-6);
});

test('no-resize pipeline is plain ToTensor (x / 255)', () => {
  const f = compilePipeline({}, 28, 28, 1);
  const out = new Float32Array(784);
  f(image(1).data, out, 0);
  for (let i = 0; i < 784; i++) assert.equal(out[i], Math.fround(image(1).data[i] / 255));
});

test('multi-channel resize resamples each channel independently (HWC in, CHW out)', () => {
  const h = 5;
  const w = 7;
  const rgb = new Uint8Array(h * w * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 53 + 7) & 255;
  const out = resizeBilinearU8(rgb, h, w, 3, 11, 4);
  for (let c = 0; c < 3; c++) {
    const plane = new Uint8Array(h * w);
    for (let i = 0; i < h * w; i++) plane[i] = rgb[i * 3 + c];
    const single = resizeBilinearU8(plane, h, w, 1, 11, 4);
    for (let i = 0; i < 44; i++) assert.equal(out[i * 3 + c], single[i]);
  }
  const t = compose(resize([11, 4]), toTensor)({ data: rgb, height: h, width: w, channels: 3 });
  assert.deepEqual(t.shape, [3, 11, 4]);
  assert.equal(t.data[2 * 44 + 5], Math.fround(out[5 * 3 + 2] / 255));
});

test('resizedSize follows torchvision Resize(int): smaller edge matched, longer edge truncated', () => {
  assert.deepEqual(resizedSize(224, 28, 28), [224, 224]);
  assert.deepEqual(resizedSize(10, 20, 30), [10, 15]);
  assert.deepEqual(resizedSize(10, 33, 20), [16, 10]);
  assert.deepEqual(resizedSize([3, 4], 28, 28), [3, 4]);
});

test('axis weights are computed once per (in, out) and sum to 1 in fixed point', () => {
  const a = bilinearAxis(28, 224);
  assert.equal(bilinearAxis(28, 224), a);
  for (let i = 0; i < a.outSize; i++) {
    let s = 0;
    for (let k = 0; k < a.count[i]; k++) s += a.weights[i * a.ksize + k];
    assert.ok(Math.abs(s - (1 << 22)) <= a.count[i], `row ${i} sums to ${s}`);
  }
});

test('identity resize copies', () => {
  const out = resizeBilinearU8(image(0).data, 28, 28, 1, 28, 28);
  assert.deepEqual(out, new Uint8Array(image(0).data));
});
