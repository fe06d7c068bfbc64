/**
 * PyTorch interop through safetensors checkpoints with PyTorch state_dict keys.
 *
 * (a) torchlet → PyTorch: for every zoo network, torchlet initialises it with
 *     its own init, runs one training-mode forward when it has BatchNorm (so the
 *     running statistics are not the defaults), saves a checkpoint with
 *     io.saveModel, and scripts/torch_interop.py loads it into the PyTorch twin
 *     with load_state_dict(strict=True); the twin's eval-mode logits on the same
 *     input must match torchlet's within 1e-4 relative (floor 1e-4 × max|expected|).
 * (b) PyTorch → torchlet: the twin is initialised by PyTorch (torch.manual_seed),
 *     trained one forward when it has BatchNorm, and saved by the script's own
 *     safetensors writer (int64 num_batches_tracked included); torchlet loads it
 *     with io.loadModel (strict) and must reproduce PyTorch's eval-mode logits.
 *
 * Batch 2; eval mode in both (BatchNorm on running statistics, Dropout off;
 * the seed's from-scratch BatchNorm decides by grad mode, so inference runs
 * under noGrad / torch.no_grad()). Runs on the default (fastest) backend.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { manualSeed, noGrad, rand } from '../src/index.js';
import { activeBackend } from '../src/backend/registry.js';
import { createModel, getModelSpec, MODEL_NAMES } from '../src/models/index.js';
import type { Module } from '../src/nn/module.js';
import type { Tensor } from '../src/tensor.js';
import { loadModel, loadSafetensors, saveModel, saveSafetensors } from '../src/io/index.js';
import { closeStats, describeStats } from './helpers-zoo/compare.js';
import { PyServer, torchUnavailable, type Reply } from './helpers-zoo/python.js';

const RTOL = 1e-4;
const skip = torchUnavailable();
let py: PyServer | null = null;
let dir = '';
const exports = new Map<string, Promise<Reply>>();

function file(name: string, what: string): string {
  return path.join(dir, `${name}.${what}.safetensors`);
}

/** PyTorch's export for (b); requested early so it overlaps torchlet's work in (a). */
function exportFor(name: string): Promise<Reply> {
  let p = exports.get(name);
  if (!p) {
    if (!py) throw new Error('PyTorch worker not started');
    p = py.request({ cmd: 'export', model: name, checkpoint: file(name, 'torch-ckpt'), io: file(name, 'torch-io'), batch: 2, seed: MODEL_NAMES.indexOf(name) });
    p.catch(() => {});
    exports.set(name, p);
  }
  return p;
}

function hasBatchNorm(m: Module): boolean {
  return [...m.stateDict().keys()].some((k) => /(running|moving)_mean$/.test(k));
}

function removeFiles(name: string): void {
  for (const f of readdirSync(dir)) if (f.startsWith(`${name}.`)) rmSync(path.join(dir, f), { force: true });
}

function assertLogitsClose(label: string, actual: Tensor, expected: Tensor): string {
  assert.deepEqual([...actual.shape], [...expected.shape], `${label}: logits shape`);
  const s = closeStats(`${label} logits`, actual.hostView(), expected.hostView(), RTOL);
  assert.ok(s.worstRatio <= 1, describeStats(s));
  return `max err/max|expected| ${s.relErr.toExponential(2)} (${s.worstRatio.toFixed(3)}× tolerance)`;
}

before(() => {
  if (skip) return;
  dir = mkdtempSync(path.join(tmpdir(), 'torchlet-zoo-interop-'));
  py = new PyServer('torch_interop.py');
});

after(async () => {
  await py?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

MODEL_NAMES.forEach((name, idx) => {
  const shape = getModelSpec(name).inputShape;

  test(`${name}: torchlet checkpoint loads into PyTorch (strict) with the same eval logits`, { skip: skip ?? false }, async (t) => {
    exportFor(name);
    const t0 = performance.now();
    manualSeed(1000 + idx);
    const model = createModel(name);
    const bn = hasBatchNorm(model);
    if (bn) {
      model.train();
      model.forward(rand([4, ...shape]));
      const stats = [...model.stateDict()].filter(([k]) => /(running|moving)_mean$/.test(k));
      assert.ok(stats.every(([, v]) => v.hostView().some((e) => e !== 0)), 'a training forward should move every running mean');
    }
    model.eval();
    const x = rand([2, ...shape]);
    const logits = noGrad(() => model.forward(x));
    saveModel(model, file(name, 'ckpt'), { format: 'pt', model: name });
    saveSafetensors(file(name, 'input'), new Map([['input', x]]));
    const ms = performance.now() - t0;
    const reply = await py!.request({ cmd: 'load', model: name, checkpoint: file(name, 'ckpt'), input: file(name, 'input'), out: file(name, 'out') });
    const theirs = loadSafetensors(file(name, 'out')).tensors.get('logits');
    assert.ok(theirs, 'PyTorch wrote no logits');
    assert.deepEqual(reply.metadata, { format: 'pt', model: name });
    if (name === 'lenet-bn' || name === 'resnet18') {
      assert.deepEqual(reply.num_batches_tracked_dtypes, ['int64'], 'num_batches_tracked should load as int64');
      assert.ok((reply.file_dtypes as string[]).includes('int64'), 'num_batches_tracked should be stored as I64');
    }
    const note = assertLogitsClose(name, logits, theirs);
    t.diagnostic(`${name} [${activeBackend().name}] torchlet→PyTorch: ${note}; torchlet ${ms.toFixed(0)} ms, PyTorch ${Math.round(Number(reply.seconds) * 1000)} ms`);
    rmSync(file(name, 'ckpt'));
  });

  test(`${name}: PyTorch checkpoint loads into torchlet (strict) with the same eval logits`, { skip: skip ?? false }, async (t) => {
    try {
      const reply = await exportFor(name);
      const t0 = performance.now();
      const model = createModel(name);
      const { metadata } = loadModel(model, file(name, 'torch-ckpt'));
      assert.deepEqual(metadata, { format: 'pt', model: name });
      if (hasBatchNorm(model)) {
        for (const [k, v] of model.stateDict()) {
          if (!k.endsWith('num_batches_tracked')) continue;
          assert.equal(v.dtype, 'int32', `${k} dtype`);
          assert.equal(v.itemSync(), 1, `${k} after one training forward`);
        }
      }
      model.eval();
      const { tensors } = loadSafetensors(file(name, 'torch-io'));
      const x = tensors.get('input') as Tensor;
      const logits = noGrad(() => model.forward(x));
      const ms = performance.now() - t0;
      const note = assertLogitsClose(name, logits, tensors.get('logits') as Tensor);
      t.diagnostic(`${name} [${activeBackend().name}] PyTorch→torchlet: ${note}; torchlet ${ms.toFixed(0)} ms, PyTorch ${Math.round(Number(reply.seconds) * 1000)} ms`);
    } finally {
      removeFiles(name);
    }
  });
});
