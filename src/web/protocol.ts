/** Messages between the playground page and its training worker (structured-clone data only). */
import type { TrainPoint } from '../train/series.js';

export interface TrainSettings {
  model: string;
  epochs: number;
  lr: number;
  batchSize: number;
  /** Side of the square images the network sees (28 keeps Fashion-MNIST's size). */
  resize: number;
  /** 'gpu' (WebGPU) or 'reference' (plain TypeScript). */
  device: 'gpu' | 'reference';
  /** Training and test examples used (from the start of each split); 0 means all of it. */
  trainExamples: number;
  testExamples: number;
  seed: number;
}

export interface LayerRow {
  name: string;
  depth: number;
  outputShape: readonly number[];
  params: number;
}

export interface SamplePrediction {
  /** 28×28 grey pixels. */
  pixels: Uint8Array;
  label: string;
  predicted: string;
}

export type ToWorker =
  | { type: 'summary'; model: string; resize: number }
  | { type: 'train'; settings: TrainSettings }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'stop' }
  | { type: 'weights' };

export type FromWorker =
  | { type: 'summary'; model: string; inputShape: readonly number[]; rows: LayerRow[]; totalParams: number }
  | { type: 'backend'; label: string }
  | { type: 'status'; text: string }
  | { type: 'start'; settings: TrainSettings; numBatches: number }
  | { type: 'batch'; epoch: number; batch: number; numBatches: number; examplesPerSec: number }
  | { type: 'point'; point: TrainPoint; batchLoss: number | null }
  | { type: 'epoch'; epoch: number; trainLoss: number; trainAcc: number; testAcc: number; examplesPerSec: number; confusion: number[][]; samples: SamplePrediction[] }
  | { type: 'paused'; paused: boolean }
  | { type: 'done'; reason: string; trainLoss: number; trainAcc: number; testAcc: number; examplesPerSec: number }
  | { type: 'weights'; model: string; bytes: Uint8Array }
  | { type: 'error'; message: string };
