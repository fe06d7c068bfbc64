/**
 * Augmentation transforms: torchvision's results given the same draws
 * (fixtures from scripts/gen_augment_fixtures.py on PIL images), the draw
 * order and ranges, and determinism — the same seed gives the same batches,
 * whatever the worker count, and a resumed epoch repeats its draws; a fit
 * interrupted and resumed with augmentation ends bit-identical.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as torch from '../src/index.js';
import { nn } from '../src/index.js';
import { ArrayImageDataset } from '../src/data/dataset.js';
import { DataLoader } from '../src/data/dataloader.js';
import { Compose, Normalize, RandomCrop, RandomHorizontalFlip, RandomResizedCrop, Resize, ToTensor } from '../src/data/vision-transforms.js';
import { crop, hflip, pad, resizedCrop, resizedCropParams, applyStep } from '../src/data/augment.js';
import type { ImageU8 } from '../src/data/transforms.js';
import type { Generator } from '../src/random.js';
import { fit, type FitState } from '../src/train/fit.js';
import { RunDir } from '../src/train/run-dir.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
interface Img { height: number; width: number; channels?: number; data: number[] }
interface Case { name: string; op: string; params: Record<string, unknown>; input: Img & { channels: number }; output: Img }
const fixture = JSON.parse(readFileSync(path.join(root, 'test', 'fixtures', 'augment', 'torchvision.json'), 'utf8')) as { cases: Case[] };

const image = (i: Case['input']): ImageU8 => ({ data: Uint8Array.from(i.data), height: i.height, width: i.width, channels: i.channels });

/** A generator that returns the given uniform draws in order (and fails when asked for more). */
function draws(...values: number[]): Generator {
  let k = 0;
  return { uniform: () => {
    if (k >= values.length) throw new Error(`asked for draw ${k + 1}, only ${values.length} given`);
    return values[k++];
  } } as unknown as Generator;
}
/** The uniform draw that torch.randint(0, n) turns into `value`. */
const intDraw = (value: number, n: number): number => (value + 0.5) / n;

for (const c of fixture.cases) {
  test(`augment: ${c.name} gives torchvision's bytes`, () => {
    const img = image(c.input);
    const p = c.params as Record<string, number & number[]>;
    let out: ImageU8;
    if (c.op === 'randomCrop') {
      // Through the RandomCrop transform itself, with the draws that pick torchvision's offsets.
      const t = new RandomCrop(p.size as unknown as [number, number], { padding: p.padding as unknown as [number, number, number, number], fill: (p.fill as number | undefined) ?? 0 });
      const [l, top, r, b] = p.padding as unknown as number[];
      const g = draws(intDraw(p.top, img.height + top + b - p.size[0] + 1), intDraw(p.left, img.width + l + r - p.size[1] + 1));
      out = t.forward(img, g);
      assert.deepEqual(crop(pad(img, [l, top, r, b], (p.fill as number | undefined) ?? 0), p.top, p.left, p.size[0], p.size[1]).data, out.data);
    } else if (c.op === 'hflip') {
      out = new RandomHorizontalFlip(0.5).forward(img, draws(0.49));
      assert.deepEqual(out.data, hflip(img).data);
      assert.equal(new RandomHorizontalFlip(0.5).forward(img, draws(0.5)), img, 'a draw of p or more leaves the image');
    } else {
      out = resizedCrop(img, p.top, p.left, p.height, p.width, p.size as unknown as [number, number]);
    }
    assert.equal(out.height, c.output.height);
    assert.equal(out.width, c.output.width);
    assert.deepEqual([...out.data], c.output.data);
  });
}

test('augment: RandomResizedCrop draws area, then log-ratio, then offsets, and keeps crops inside the image', () => {
  // Area 0.5 of 28×28 at ratio 1 → a 20×20 crop (round(sqrt(392)) = 20), at top 8, left 3.
  const step = new RandomResizedCrop(14, { scale: [0.25, 0.75], ratio: [0.5, 2] }).step;
  const [top, left, h, w] = resizedCropParams(draws(0.5, 0.5, intDraw(8, 9), intDraw(3, 9)), 28, 28, [0.25, 0.75], [0.5, 2]);
  assert.deepEqual([top, left, h, w], [8, 3, 20, 20]);
  const img: ImageU8 = { data: new Uint8Array(28 * 28).map((_, i) => i % 251), height: 28, width: 28, channels: 1 };
  const out = applyStep(step, img, draws(0.5, 0.5, intDraw(8, 9), intDraw(3, 9)));
  assert.deepEqual(out.data, resizedCrop(img, 8, 3, 20, 20, [14, 14]).data);
  // Ten impossible tries (a crop wider than the image) fall back to the central crop.
  const tries = Array.from({ length: 10 }, () => [0.999, 0.999]).flat();
  // (10/28 is below the smallest ratio 3, so the crop is the full width and round(10 / 3) = 3 rows, centred.)
  assert.deepEqual(resizedCropParams(draws(...tries), 28, 10, [0.9, 1], [3, 4]), [12, 0, 3, 10]);
  // Real draws: always inside, always the asked size.
  const g = new torch.Generator(3);
  for (let i = 0; i < 500; i++) {
    const [t, l, ch, cw] = resizedCropParams(g, 28, 28, [0.08, 1], [3 / 4, 4 / 3]);
    assert.ok(t >= 0 && l >= 0 && ch >= 1 && cw >= 1 && t + ch <= 28 && l + cw <= 28, `${t},${l},${ch},${cw}`);
  }
});

test('augment: Compose builds the loader pipeline; misplaced transforms are named', () => {
  const c = new Compose([new Resize(32), new RandomCrop(28, { padding: 2 }), new RandomHorizontalFlip(), new ToTensor(), new Normalize([0.5], [0.25])]);
  assert.deepEqual(c.spec.resize, 32);
  assert.deepEqual(c.spec.augment?.map((s) => s.kind), ['randomCrop', 'randomHorizontalFlip']);
  assert.deepEqual(c.spec.normalize, { mean: [0.5], std: [0.25] });
  assert.throws(() => new Compose([new RandomHorizontalFlip(), new Resize(28)]), /transform 1 \(Resize\): Resize must come first/);
  assert.throws(() => new Compose([new ToTensor(), new RandomCrop(28)]), /transform 1 \(RandomCrop\): random image transforms go before ToTensor/);
  assert.throws(() => new RandomHorizontalFlip(2), /p must be in \[0, 1\], got 2/);
  assert.throws(() => new RandomResizedCrop(28, { scale: [0.5, 0.1] }), /scale must satisfy/);
  const tiny: ImageU8 = { data: new Uint8Array(16), height: 4, width: 4, channels: 1 };
  assert.throws(() => new RandomCrop(8).forward(tiny), /crop 8x8 is larger than the \(padded\) 4x4 image/);
  // torchvision pads both sides by the shortfall (4 → 12), then crops 8 at the drawn offsets.
  assert.equal(new RandomCrop(8, { padIfNeeded: true }).forward(tiny, draws(0, 0)).height, 8);
});

test('augment: a Compose with Normalize runs in the DataLoader: flipped, then (x / 255 − mean) / std', async () => {
  const images = Uint8Array.from({ length: 2 * 6 }, (_, i) => i * 20);
  const ds = new ArrayImageDataset(images, [0, 1], 2, 3);
  const loader = new DataLoader(ds, { batchSize: 2, transform: new Compose([new RandomHorizontalFlip(1), new ToTensor(), new Normalize([0.5], [0.25])]) });
  const [x] = (await loader.iterEpoch(0).next()).value as [torch.Tensor, torch.Tensor];
  const got = [...(await x.data())];
  const flippedRows = [2, 1, 0, 5, 4, 3, 8, 7, 6, 11, 10, 9];
  const want = flippedRows.map((i) => (Math.fround(images[i] / 255) - 0.5) / 0.25);
  got.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-6, `element ${i}: ${v}, want ${want[i]}`));
});

function dataset(n = 60): ArrayImageDataset {
  const images = new Uint8Array(n * 144).map((_, i) => (i * 31 + (i >> 4)) % 256);
  return new ArrayImageDataset(images, new Uint8Array(n).map((_, i) => i % 10), 12, 12);
}
const augment = (): Compose => new Compose([new RandomCrop(12, { padding: 2 }), new RandomHorizontalFlip(), new RandomResizedCrop(10, { scale: [0.5, 1] })]);

async function epochBatches(loader: DataLoader, epoch: number): Promise<number[][]> {
  const out: number[][] = [];
  for await (const [x] of loader.iterEpoch(epoch)) out.push([...(await x.data())]);
  return out;
}

test('augment: seeded per sample: same seed same batches, across worker counts and epochs resumed alone', async () => {
  const ds = dataset();
  const a = new DataLoader(ds, { batchSize: 16, shuffle: true, seed: 4, transform: augment() });
  const b = new DataLoader(ds, { batchSize: 16, shuffle: true, seed: 4, transform: augment(), workers: 2 });
  const c = new DataLoader(ds, { batchSize: 16, shuffle: true, seed: 5, transform: augment() });
  try {
    assert.deepEqual(a.sampleShape, [1, 10, 10]);
    const a0 = await epochBatches(a, 0);
    const a1 = await epochBatches(a, 1);
    assert.deepEqual(await epochBatches(b, 0), a0, 'two workers build the very batches the main thread builds');
    assert.deepEqual(await epochBatches(b, 1), a1, 'epoch 1 alone (as after a resume) repeats its draws');
    assert.notDeepEqual(a1, a0, 'a new epoch draws anew');
    assert.notDeepEqual(await epochBatches(c, 0), a0, 'another seed draws otherwise');
    // Augmentation really happened: unaugmented batches differ.
    const plain = new DataLoader(ds, { batchSize: 16, shuffle: true, seed: 4, transform: { resize: [10, 10] } });
    assert.notDeepEqual(await epochBatches(plain, 0), a0);
  } finally {
    await b.close();
  }
});

test('augment: a fit interrupted and resumed with augmentation ends bit-identical to an uninterrupted one', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'torchlet-augment-resume-'));
  const ds = dataset(80);
  const loaders = (): [DataLoader, DataLoader] => [
    new DataLoader(ds, { batchSize: 16, shuffle: true, seed: 9, transform: augment() }),
    new DataLoader(ds, { batchSize: 40, transform: { resize: [10, 10] } }),
  ];
  const net = (): nn.Module => new nn.Sequential(new nn.Flatten(), new nn.Linear(100, 10));
  const weights = async (m: nn.Module): Promise<number[][]> => Promise.all(m.parameters().map(async (p) => [...(await p.data())]));
  try {
    torch.manualSeed(1);
    const straight = net();
    const [tr1, te1] = loaders();
    await fit(straight, tr1, te1, { epochs: 2, lr: 0.1 });
    torch.manualSeed(1);
    const first = net();
    const opt1 = new torch.optim.SGD(first.parameters(), { lr: 0.1 });
    const run = new RunDir(dir);
    let n = 0;
    const [tr2, te2] = loaders();
    await fit(first, tr2, te2, { epochs: 2, optimizer: opt1, onEvent: (e) => { if (e.type === 'batch') n++; }, shouldStop: () => n >= 7, onCheckpoint: (s, o) => run.saveCheckpoint(first, o, s) });
    torch.manualSeed(77);
    const second = net();
    const opt2 = new torch.optim.SGD(second.parameters(), { lr: 0.1 });
    const state: FitState = new RunDir(dir).loadCheckpoint(second, opt2);
    const [tr3, te3] = loaders();
    await fit(second, tr3, te3, { epochs: 2, optimizer: opt2, resume: state });
    assert.deepEqual(await weights(second), await weights(straight));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
