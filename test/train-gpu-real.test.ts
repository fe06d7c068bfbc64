/**
 * The seed's LeNet-BN for one epoch on real Fashion-MNIST, trained by the CLI
 * on `cpu` and on `gpu` (lavapipe in CI): the gpu run must finish with a train
 * loss within 2% of the cpu run's and a train accuracy within 0.01. Same seed,
 * same data order, so the runs differ only by float summation order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { openTestGpu } from './helpers/gpu.js';

const run = promisify(execFile);
const DATA = '/usr/share/datasets/fashion-mnist';
// Only to learn whether a GPU opens here (the CLI runs open their own); closed when the file ends.
const gpu = await openTestGpu();
const skip = gpu.skip || (existsSync(path.join(DATA, 'train-images-idx3-ubyte.gz')) ? false : `${DATA} not present (apt-get install dataset-fashion-mnist)`);

interface EpochRecord { trainLoss: number; trainAcc: number; testAcc: number; examplesPerSec: number }

async function trainOneEpoch(device: string, dir: string): Promise<EpochRecord> {
  const out = path.join(dir, device);
  await run(process.execPath, ['bin/torchlet.js', 'train', 'lenet-bn', '--device', device, '--epochs', '1', '--out', out, '--data-dir', DATA], { timeout: 15 * 60 * 1000, maxBuffer: 64 * 1024 * 1024 });
  const lines = readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { kind: string } & EpochRecord);
  const epoch = lines.filter((l) => l.kind === 'epoch').pop();
  assert.ok(epoch, `${device}: no epoch record in metrics.jsonl`);
  return epoch;
}

test('train lenet-bn --device gpu --epochs 1 on real Fashion-MNIST matches the cpu run', { skip, timeout: 20 * 60 * 1000 }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'torchlet-gpu-real-'));
  try {
    const cpu = await trainOneEpoch('cpu', dir);
    const g = await trainOneEpoch('gpu', dir);
    t.diagnostic(`cpu: loss ${cpu.trainLoss.toFixed(6)}, train acc ${cpu.trainAcc.toFixed(4)}, test acc ${cpu.testAcc.toFixed(4)}, ${cpu.examplesPerSec.toFixed(0)} examples/sec`);
    t.diagnostic(`gpu: loss ${g.trainLoss.toFixed(6)}, train acc ${g.trainAcc.toFixed(4)}, test acc ${g.testAcc.toFixed(4)}, ${g.examplesPerSec.toFixed(0)} examples/sec`);
    assert.ok(Math.abs(g.trainLoss - cpu.trainLoss) <= 0.02 * cpu.trainLoss, `train loss ${g.trainLoss} on gpu vs ${cpu.trainLoss} on cpu`);
    assert.ok(Math.abs(g.trainAcc - cpu.trainAcc) <= 0.01, `train acc ${g.trainAcc} on gpu vs ${cpu.trainAcc} on cpu`);
    assert.ok(g.testAcc > 0.7, `gpu test acc ${g.testAcc}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
