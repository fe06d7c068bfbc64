/** A tiny Fashion-MNIST stand-in on disk (the real IDX .gz format), for CLI tests that train for real. */
import path from 'node:path';
import { writeIdxFile } from '../../src/data/idx.js';
import { ArrayImageDataset } from '../../src/data/dataset.js';
import { Generator } from '../../src/random.js';

/** 10 classes of 12×12 images in memory: class k lights up a bar at row k + 1 (plus noise), deterministic. */
export function tinyDataset(n: number, seed: number): ArrayImageDataset {
  const g = new Generator(seed);
  const images = new Uint8Array(n * 144);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const k = i % 10;
    labels[i] = k;
    for (let p = 0; p < 144; p++) images[i * 144 + p] = Math.floor(g.uniform() * 60);
    for (let x = 0; x < 12; x++) images[i * 144 + (k + 1) * 12 + x] = 200 + Math.floor(g.uniform() * 55);
  }
  return new ArrayImageDataset(images, labels, 12, 12);
}

/** Deterministic 28×28 images: class k has a bright horizontal band at rows 2k..2k+4. */
export function writeTinyFashionMNIST(dir: string, nTrain: number, nTest: number): void {
  const make = (n: number, salt: number): [Uint8Array, Uint8Array] => {
    const images = new Uint8Array(n * 784);
    const labels = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const k = (i * 7 + salt) % 10;
      labels[i] = k;
      for (let p = 0; p < 784; p++) images[i * 784 + p] = ((i * 31 + p * 17 + salt) % 50);
      for (let r = 2 * k; r < 2 * k + 5; r++) for (let c = 4; c < 24; c++) images[i * 784 + r * 28 + c] = 220;
    }
    return [images, labels];
  };
  const [trX, trY] = make(nTrain, 1);
  const [teX, teY] = make(nTest, 2);
  writeIdxFile(path.join(dir, 'train-images-idx3-ubyte.gz'), trX, [nTrain, 28, 28]);
  writeIdxFile(path.join(dir, 'train-labels-idx1-ubyte.gz'), trY, [nTrain]);
  writeIdxFile(path.join(dir, 't10k-images-idx3-ubyte.gz'), teX, [nTest, 28, 28]);
  writeIdxFile(path.join(dir, 't10k-labels-idx1-ubyte.gz'), teY, [nTest]);
}

