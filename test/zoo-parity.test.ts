/**
 * Zoo parity with PyTorch: every zoo network gets the same weights and input
 * in torchlet and PyTorch (the shared formula of test/helpers-zoo/formula.ts
 * and scripts/torch_zoo.py), runs forward and backward of
 * loss = sum(out * R), and its output, input gradient, every parameter
 * gradient and every buffer after the step (BatchNorm running statistics)
 * must match PyTorch elementwise within 1e-4 relative, with an absolute floor
 * of 1e-4 × max|expected| per tensor (float32 summation order differs).
 * Parameter counts and state_dict layouts (keys, order, shapes) must be equal.
 *
 * Mode: model.train() with every Dropout switched to eval (identity), in both
 * frameworks: BatchNorm normalises with batch statistics and updates its
 * running statistics, and the result is deterministic.
 *
 * Two float32 facts are handled explicitly rather than by loosening the tolerance:
 *  - The bias of a conv/linear feeding a training-mode BatchNorm has an exactly
 *    zero gradient; both sides return rounding noise there, so it is checked to
 *    be ~0 (helpers-zoo/zero-grads.ts) rather than compared elementwise.
 *  - ReLU inputs within float32 rounding of zero and max-pool windows with two
 *    inputs within rounding of each other are kinks that another correct
 *    implementation may decide the other way, moving the gradients below by far
 *    more than 1e-4 (seen: ResNet-18 on `cpu`, GoogLeNet on `reference`). PyTorch
 *    reports those elements (|x| or the gap <= 2e-5 · max|x|) with its decisions,
 *    and torchlet is put on PyTorch's branch only where it decided differently
 *    (helpers-zoo/kinks.ts); the diagnostics list every such alignment.
 *
 * Batches: 2 at each model's input size; 1 for the 224×224 networks (AlexNet,
 * VGG-11, VGG-11-small, NiN) to keep the file fast; 8 for the LeNets with
 * BatchNorm, because BatchNorm1d over a batch of 2 is so ill-conditioned that
 * PyTorch float32 itself misses its float64 result by 4× this tolerance.
 *
 * Backends: every network runs on every backend that loads (`reference`, and
 * `cpu` when the native addon is built), and on the `gpu` device when a GPU
 * opens (lavapipe in CI), where results are read back before comparing.
 *
 * PyTorch runs at test time (scripts/zoo_parity.py --serve on /usr/bin/python3),
 * working through all cases while torchlet computes, and hands results back as
 * safetensors files read with torchlet's own reader.
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
import { Sequential } from '../src/nn/layers/container.js';
import type { Tensor } from '../src/tensor.js';
import { loadSafetensors } from '../src/io/index.js';
import { openTestGpu, GPU } from './helpers/gpu.js';
import { CPU } from '../src/device.js';
import { closeStats, describeStats, type CloseStats } from './helpers-zoo/compare.js';
import { disableDropout, fillFormula, fingerprint, formulaTensor, SEED_INPUT, SEED_R } from './helpers-zoo/formula.js';
import { PyServer, torchUnavailable, type Reply } from './helpers-zoo/python.js';
import { biasesBeforeBatchNorm } from './helpers-zoo/zero-grads.js';
import { withKinkAlignment, type KinkReport, type PoolTies, type ReluKinks } from './helpers-zoo/kinks.js';

const RTOL = 1e-4;

interface Case {
  name: string;
  batch: number;
  /** 'all': every backend that loads; 'fastest': the default one (`cpu` when the native addon loads). */
  backends: 'all' | 'fastest';
}

const CASES: Case[] = [
  { name: 'lenet', batch: 2, backends: 'all' },
  { name: 'lenet-bn', batch: 8, backends: 'all' },
  { name: 'lenet-bn-scratch', batch: 8, backends: 'all' },
  { name: 'googlenet', batch: 2, backends: 'all' },
  { name: 'resnet18', batch: 2, backends: 'all' },
  { name: 'nin', batch: 1, backends: 'all' },
  { name: 'alexnet', batch: 1, backends: 'all' },
  { name: 'vgg11-small', batch: 1, backends: 'all' },
  { name: 'vgg11', batch: 1, backends: 'all' },
];

const skip = torchUnavailable();
let py: PyServer | null = null;
let dir = '';
const requests = new Map<string, Promise<Reply>>();

function resultFile(name: string): string {
  return path.join(dir, `${name}.safetensors`);
}

/** PyTorch's result for a case. The first call queues every case, so PyTorch works while torchlet does. */
function requestCase(c: Case): Promise<Reply> {
  if (!py) throw new Error('PyTorch worker not started');
  if (requests.size === 0) {
    for (const k of CASES) {
      const p = py.request({ model: k.name, batch: k.batch, out: resultFile(k.name) });
      p.catch(() => {}); // observed by the test that awaits it
      requests.set(k.name, p);
    }
  }
  return requests.get(c.name) as Promise<Reply>;
}

function maxAbs(v: Float32Array): number {
  let m = 0;
  for (let i = 0; i < v.length; i++) m = Math.max(m, Math.abs(v[i]));
  return m;
}

function availableBackends(): string[] {
  // The cpu device's backends; the gpu device runs separately (it is read back asynchronously).
  return listBackends().filter((n) => {
    try {
      return getBackend(n)?.device.type === 'cpu';
    } catch {
      return false;
    }
  });
}

interface TorchletRun {
  model: Module;
  /** Everything compared, on the host: output, input.grad, grad/<param>, buffer/<name>. */
  values: Map<string, Tensor | null>;
  prints: Map<string, number[]>;
  kinks: KinkReport;
  ms: number;
}

const gpu = await openTestGpu();

/** Forward and backward on the current backend of `where` (cpu, or the gpu device). */
async function runTorchlet(c: Case, relu: ReluKinks, pool: PoolTies, where = CPU): Promise<TorchletRun> {
  const t0 = performance.now();
  const model = createModel(c.name);
  fillFormula(model);
  const prints = new Map<string, number[]>();
  for (const [k, v] of model.stateDict()) if (v.dtype === 'float32') prints.set(k, fingerprint(v));
  model.to(where);
  model.train();
  disableDropout(model);
  const x = formulaTensor([c.batch, ...getModelSpec(c.name).inputShape], SEED_INPUT).to(where).requiresGrad_();
  const { result: output, report } = withKinkAlignment(relu, pool, () => model.forward(x));
  const r = formulaTensor(output.shape, SEED_R).to(where);
  output.mul(r).sum().backward();
  assert.ok(x.grad, `${c.name}: no input gradient`);
  const onHost = async (t: Tensor | null): Promise<Tensor | null> => (t ? t.toAsync(CPU) : null);
  const values = new Map<string, Tensor | null>([['output', await onHost(output)], ['input.grad', await onHost(x.grad)]]);
  for (const [k, p] of model.namedParameters()) values.set(`grad/${k}`, await onHost(p.grad));
  for (const [k, b] of model.namedBuffers()) values.set(`buffer/${k}`, await onHost(b));
  return { model, values, prints, kinks: report, ms: performance.now() - t0 };
}

before(() => {
  // Kink alignment traces every relu call, so layers run unfused here; test/nn-fusion checks fused against unfused.
  Sequential.fuseActivations = false;
  if (skip) return;
  dir = mkdtempSync(path.join(tmpdir(), 'torchlet-zoo-parity-'));
  py = new PyServer('zoo_parity.py');
});

after(async () => {
  await py?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the parity cases cover the whole zoo', (t) => {
  assert.deepEqual([...CASES.map((c) => c.name)].sort(), [...MODEL_NAMES].sort());
  const missing = listBackends().filter((n) => !availableBackends().includes(n) && getBackend(n)?.device.type !== 'gpu');
  t.diagnostic(`backends: ${availableBackends().join(', ')} (fastest: ${activeBackend().name})${missing.length ? `; registered but not loading: ${missing.join(', ')}` : ''}`);
});

CASES.forEach((c) => {
  test(`${c.name} matches PyTorch: output, input grad, parameter grads, buffers (batch ${c.batch})`, { skip: skip ?? false }, async (t) => {
    const reply = await requestCase(c);
    const { tensors: ref, metadata } = loadSafetensors(resultFile(c.name));
    unlinkSync(resultFile(c.name));
    const relu = JSON.parse(metadata.relu_kinks) as ReluKinks;
    const pool = JSON.parse(metadata.pool_ties) as PoolTies;
    const backends = c.backends === 'all' ? availableBackends() : [activeBackend().name];
    const runs: Array<readonly [string, TorchletRun]> = [];
    // runTorchlet computes before its first await, so all of it runs inside withBackend's scope.
    for (const b of backends) runs.push([b, await withBackend(b, () => runTorchlet(c, relu, pool))]);
    if (gpu.backend) runs.push(['gpu', await runTorchlet(c, relu, pool, GPU)]);
    else t.diagnostic(`gpu not compared: ${gpu.skip}`);

    // Same architecture: parameter count, state_dict keys, order, shapes and dtypes.
    const model0 = runs[0][1].model;
    const numParams = model0.parameters().reduce((s, p) => s + p.numel(), 0);
    assert.equal(numParams, Number(metadata.num_params), `${c.name}: parameter count`);
    const torchLayout = JSON.parse(metadata.state_dict) as Array<[string, number[], string]>;
    const ourLayout = [...model0.stateDict()].map(([k, v]) => [k, [...v.shape], v.dtype === 'int32' ? 'int64' : 'float32']);
    assert.deepEqual(ourLayout, torchLayout, `${c.name}: state_dict keys, order, shapes, dtypes`);

    // Same weights: the formula must give identical values on both sides.
    const torchPrints = JSON.parse(metadata.fingerprints) as Record<string, number[]>;
    for (const [k, [sum, ...samples]] of runs[0][1].prints) {
      const [tsum, ...tsamples] = torchPrints[k];
      assert.deepEqual(samples, tsamples, `${c.name}: formula weights differ for ${k} (sampled values)`);
      assert.ok(Math.abs(sum - tsum) <= 1e-9 * (1 + Math.abs(tsum)), `${c.name}: formula weights differ for ${k}: sum ${sum} vs PyTorch ${tsum}`);
    }

    for (const [backend, run] of runs) {
      assert.equal(run.kinks.reluCalls, relu.length, `${c.name} [${backend}]: torchlet made ${run.kinks.reluCalls} relu calls, PyTorch ${relu.length}`);
      assert.equal(run.kinks.poolCalls, pool.length, `${c.name} [${backend}]: torchlet made ${run.kinks.poolCalls} max-pool calls, PyTorch ${pool.length}`);
      const stats: CloseStats[] = [];
      let zeroChecked = 0;
      let zeroWorst = 0;
      const check = (name: string, key: string) => {
        const actual = run.values.get(key);
        const expected = ref.get(key);
        assert.ok(expected, `${c.name}: PyTorch result lacks ${key}`);
        assert.ok(actual, `${c.name} [${backend}]: torchlet has no ${name}`);
        assert.deepEqual([...actual.shape], [...expected.shape], `${c.name} [${backend}]: shape of ${name}`);
        stats.push(closeStats(name, actual.hostView(), expected.hostView(), RTOL));
      };
      check('output', 'output');
      check('input.grad', 'input.grad');
      const zeroGrads = biasesBeforeBatchNorm(run.model);
      const params = new Map(run.model.namedParameters());
      for (const [k, p] of params) {
        const weightKey = zeroGrads.get(k);
        if (weightKey === undefined) {
          check(`grad ${k}`, `grad/${k}`);
          continue;
        }
        // Exactly zero in exact arithmetic: both sides must be ~0 on the scale of the layer's weight gradient.
        const scale = maxAbs((ref.get(`grad/${weightKey}`) as Tensor).hostView());
        const noise = Math.max(maxAbs((run.values.get(`grad/${k}`) as Tensor).hostView()), maxAbs((ref.get(`grad/${k}`) as Tensor).hostView()));
        zeroChecked++;
        assert.ok(noise <= RTOL * scale, `${c.name} [${backend}]: grad ${k} should be ~0 (its layer feeds a training-mode BatchNorm) but reaches ${noise}, against ${RTOL} × ${scale} for grad ${weightKey}`);
        zeroWorst = Math.max(zeroWorst, noise / (RTOL * scale));
      }
      for (const [k] of run.model.namedBuffers()) check(`buffer ${k}`, `buffer/${k}`);
      const worst = stats.reduce((w, s) => (s.worstRatio > w.worstRatio ? s : w));
      const maxRel = stats.reduce((m, s) => Math.max(m, s.relErr), 0);
      const kinkNote = relu.length + pool.length ? `; ${run.kinks.near} near-kinks (tau ${metadata.kink_tau}), ${run.kinks.aligned.length} aligned to PyTorch's branch${run.kinks.onDevice ? ` (${run.kinks.onDevice} put on it on the device)` : ''}${run.kinks.aligned.length ? ` [${run.kinks.aligned.slice(0, 3).join('; ')}]` : ''}` : '';
      const zeroNote = zeroChecked ? `; ${zeroChecked} zero-gradient biases at most ${zeroWorst.toFixed(3)}× their bound` : '';
      t.diagnostic(`${c.name} [${backend}, batch ${c.batch}]: ${stats.length} tensors compared; max err/max|expected| ${maxRel.toExponential(2)}; worst ${worst.worstRatio.toFixed(3)}× tolerance (${worst.name})${zeroNote}${kinkNote}; torchlet ${run.ms.toFixed(0)} ms, PyTorch ${Math.round(Number(reply.seconds) * 1000)} ms`);
      const failures = stats.filter((s) => !(s.worstRatio <= 1));
      assert.equal(failures.length, 0, `${c.name} [${backend}]: ${failures.length} of ${stats.length} tensors differ from PyTorch:\n${failures.slice(0, 10).map(describeStats).join('\n')}`);
    }
  });
});
