/**
 * Two `cpu` runs with the same seed give bit-identical weights. The addon
 * decides each convolution shape's plan before computing anything with it and
 * the decisions are kept per machine (backend/cpu/plan-cache.ts), so the race
 * between plans can no longer make runs differ in their last bits.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { writeTinyFashionMNIST } from './helpers/tiny-data.js';
import { loadNative } from '../src/backend/cpu/index.js';

let work = '';
let dataDir = '';
const skip = loadNative() ? false : 'native cpu addon not built';

before(() => {
  work = mkdtempSync(path.join(tmpdir(), 'torchlet-determinism-'));
  dataDir = path.join(work, 'data');
  mkdirSync(dataDir, { recursive: true });
  writeTinyFashionMNIST(dataDir, 400, 100);
});

after(() => rmSync(work, { recursive: true, force: true }));

function train(out: string, cache: string, extraEnv: Record<string, string> = {}): Buffer {
  const r = spawnSync(process.execPath, ['bin/torchlet.js', 'train', 'lenet-bn', '--epochs', '1', '--batch-size', '50', '--data-dir', dataDir, '--out', out, '--seed', '3'], {
    encoding: 'utf8', env: { ...process.env, TORCHLET_BACKEND: 'cpu', TORCHLET_CACHE_DIR: cache, ...extraEnv },
  });
  assert.equal(r.status, 0, r.stderr);
  const b = readFileSync(path.join(out, 'model.safetensors'));
  return b.subarray(8 + Number(b.readBigUInt64LE(0)));
}

test('two cpu runs with the same seed give bit-identical weights', { skip }, () => {
  const cache = path.join(work, 'cache');
  const a = train(path.join(work, 'a'), cache);
  assert.ok(existsSync(path.join(cache, 'conv-plans.json')), 'the plan decisions were saved');
  const plans = JSON.parse(readFileSync(path.join(cache, 'conv-plans.json'), 'utf8')) as { machines: Record<string, Record<string, string>> };
  const decided = Object.values(plans.machines).reduce((n, m) => n + Object.keys(m).length, 0);
  assert.ok(decided >= 6, `LeNet-BN's convolutions have their plans saved (${decided})`);
  const b = train(path.join(work, 'b'), cache);
  assert.ok(a.equals(b), 'the second run ends with the same weights, bit for bit');
});
