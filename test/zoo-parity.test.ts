/**
 * Zoo parity with PyTorch: every zoo network gets the same weights and input
 * in torchlet and PyTorch (the shared formula of test/helpers-zoo/formula.ts
 * and scripts/torch_zoo.py), runs forward and backward of
 * loss = sum(out * R), and its output, input gradient, every parameter
 * gradient and every buffer after the step (BatchNorm running statistics)
 * must match PyTorch elementwise within 1e-4 relative, with an absolute floor
 * of 1e-4 × max|expected| per tensor (float32 summation order differs).
 *
 * Mode: model.train() with every Dropout switched to eval (identity), in both
 * frameworks: BatchNorm normalises with batch statistics and updates its
 * running statistics, and the result is deterministic.
 *
 * PyTorch runs at test time (scripts/zoo_parity.py --serve on /usr/bin/python3)
 * one model ahead of torchlet, and hands results back as safetensors files
 * read with torchlet's own reader. Batch 2 at each model's input size, except
 * batch 1 for the 224×224 networks (AlexNet, VGG-11, VGG-11-small, NiN) to
 * keep the file fast. Big networks run on the default (fastest) backend; the
 * LeNets run on every backend that loads.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import '../src/index.js';
import { activeBackend, getBackend, listBackends, withBackend } from '../src/backend/registry.js';
import { createModel, getModelSpec, MODEL_NAMES } from '../src/models/index.js';
import type { Module } from '../src/nn/module.js';
import type { Tensor } from '../src/tensor.js';
import { loadSafetensors } from '../src/io/index.js';
import { closeStats, describeStats, type CloseStats } from './helpers-zoo/compare.js';
import { disableDropout, fillFormula, fingerprint, formulaTensor, SEED_INPUT, SEED_R } from './helpers-zoo/formula.js';
import { PyServer, torchUnavailable, type Reply } from './helpers-zoo/python.js';

const RTOL = 1e-4;

interface Case {
  name: string;
  batch: number;
  /** Run on every backend that loads (cheap models), else only the default one. */
  allBackends: boolean;
}

const CASES: Case[] = [
  { name: 'lenet', batch: 2, allBackends: true },
  { name: 'lenet-bn', batch: 2, allBackends: true },
  { name: 'lenet-bn-scratch', batch: 2, allBackends: true },
  { name: 'googlenet', batch: 2, allBackends: false },
  { name: 'resnet18', batch: 2, allBackends: false },
  { name: 'nin', batch: 1, allBackends: false },
  { name: 'alexnet', batch: 1, allBackends: false },
  { name: 'vgg11-small', batch: 1, allBackends: false },
  { name: 'vgg11', batch: 1, allBackends: false },
];

const skip = torchUnavailable();
let py: PyServer | null = null;
let dir = '';
const requests = new Map<string, Promise<Reply>>();

function resultFile(name: string): string {
  return path.join(dir, `${name}.safetensors`);
}

/** Ask PyTorch for case i (idempotent), so it can work while torchlet does. */
function requestCase(i: number): Promise<Reply> | undefined {
  const c = CASES[i];
  if (!c || !py) return undefined;
  let p = requests.get(c.name);
  if (!p) {
    p = py.request({ model: c.name, batch: c.batch, out: resultFile(c.name) });
    p.catch(() => {}); // observed by the test that awaits it
    requests.set(c.name, p);
  }
  return p;
}

function availableBackends(): string[] {
  return listBackends().filter((n) => {
    try {
      return getBackend(n) !== null;
    } catch {
      return false;
    }
  });
}

interface TorchletRun {
  model: Module;
  output: Tensor;
  inputGrad: Tensor;
  prints: Map<string, [number, number]>;
  ms: number;
}

function runTorchlet(c: Case): TorchletRun {
  const t0 = performance.now();
  const model = createModel(c.name);
  fillFormula(model);
  const prints = new Map<string, [number, number]>();
  for (const [k, v] of model.stateDict()) if (v.dtype === 'float32') prints.set(k, fingerprint(v));
  model.train();
  disableDropout(model);
  const x = formulaTensor([c.batch, ...getModelSpec(c.name).inputShape], SEED_INPUT).requiresGrad_();
  const output = model.forward(x);
  const r = formulaTensor(output.shape, SEED_R);
  output.mul(r).sum().backward();
  assert.ok(x.grad, `${c.name}: no input gradient`);
  return { model, output, inputGrad: x.grad, prints, ms: performance.now() - t0 };
}

before(() => {
  if (skip) return;
  dir = mkdtempSync(path.join(tmpdir(), 'torchlet-zoo-parity-'));
  py = new PyServer('zoo_parity.py');
});

after(async () => {
  await py?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the parity cases cover the whole zoo', () => {
  assert.deepEqual([...CASES.map((c) => c.name)].sort(), [...MODEL_NAMES].sort());
});

CASES.forEach((c, i) => {
  test(`${c.name} matches PyTorch: output, input grad, parameter grads, buffers (batch ${c.batch})`, { skip: skip ?? false }, async (t) => {
    const pending = requestCase(i) as Promise<Reply>;
    const backends = c.allBackends ? availableBackends() : [activeBackend().name];
    const runs = backends.map((b) => [b, withBackend(b, () => runTorchlet(c))] as const);
    const reply = await pending;
    requestCase(i + 1);
    const { tensors: ref, metadata } = loadSafetensors(resultFile(c.name));
    unlinkSync(resultFile(c.name));

    // Same architecture: parameter count, state_dict keys, order, shapes and dtypes.
    const model0 = runs[0][1].model;
    const numParams = model0.parameters().reduce((s, p) => s + p.numel(), 0);
    assert.equal(numParams, Number(metadata.num_params), `${c.name}: parameter count`);
    const torchLayout = JSON.parse(metadata.state_dict) as Array<[string, number[], string]>;
    const ourLayout = [...model0.stateDict()].map(([k, v]) => [k, [...v.shape], v.dtype === 'int32' ? 'int64' : 'float32']);
    assert.deepEqual(ourLayout, torchLayout, `${c.name}: state_dict keys, order, shapes, dtypes`);

    // Same weights: the formula must give identical values on both sides.
    const torchPrints = JSON.parse(metadata.fingerprints) as Record<string, [number, number]>;
    for (const [k, [a, b]] of runs[0][1].prints) {
      const [ta, tb] = torchPrints[k];
      assert.ok(Math.abs(a - ta) <= 1e-9 * (1 + Math.abs(ta)) && Math.abs(b - tb) <= 1e-9 * (1 + Math.abs(tb)), `${c.name}: formula weights differ for ${k}: [${a}, ${b}] vs PyTorch [${ta}, ${tb}]`);
    }

    for (const [backend, run] of runs) {
      const stats: CloseStats[] = [];
      const check = (name: string, actual: Tensor | null | undefined, key: string) => {
        const expected = ref.get(key);
        assert.ok(expected, `${c.name}: PyTorch result lacks ${key}`);
        assert.ok(actual, `${c.name} [${backend}]: torchlet has no ${name}`);
        assert.deepEqual([...actual.shape], [...expected.shape], `${c.name} [${backend}]: shape of ${name}`);
        stats.push(closeStats(name, actual.storage, expected.storage, RTOL));
      };
      check('output', run.output, 'output');
      check('input.grad', run.inputGrad, 'input.grad');
      for (const [k, p] of run.model.namedParameters()) check(`grad ${k}`, p.grad, `grad/${k}`);
      for (const [k, b] of run.model.namedBuffers()) check(`buffer ${k}`, b, `buffer/${k}`);
      const worst = stats.reduce((w, s) => (s.worstRatio > w.worstRatio ? s : w));
      const maxRel = stats.reduce((m, s) => Math.max(m, s.relErr), 0);
      t.diagnostic(`${c.name} [${backend}]: ${stats.length} tensors; max err/max|expected| ${maxRel.toExponential(2)}; worst ${worst.worstRatio.toFixed(3)}× tolerance (${worst.name}); torchlet ${run.ms.toFixed(0)} ms, PyTorch ${Number(reply.seconds) * 1000} ms`);
      const failures = stats.filter((s) => !(s.worstRatio <= 1));
      assert.equal(failures.length, 0, `${c.name} [${backend}]: ${failures.length} of ${stats.length} tensors differ from PyTorch:\n${failures.slice(0, 10).map(describeStats).join('\n')}`);
    }
  });
});
