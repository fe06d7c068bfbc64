/** A tiny Fashion-MNIST stand-in on disk (the real IDX .gz format), for CLI tests that train for real. */
import path from 'node:path';
import { writeIdxFile } from '../../src/data/idx.js';

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

