/**
 * ONNX export, checked by the two readers that matter: onnxruntime-node runs
 * each exported model and must give torchlet's logits (within 1e-4, relative
 * to the logits' scale), and the `onnx` package's checker (Debian's
 * python3-onnx) must accept each file with full_check, which also runs ONNX's
 * shape inference over the graph.
 *
 * Every zoo network is exported with a dynamic batch from a batch-1 example and
 * then run at batch 1 and batch 7. Weights are Xavier-initialised and BatchNorm
 * layers get one training-mode forward first, so running statistics are not
 * the defaults and the BatchNormalization nodes are really exercised.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import * as torch from '../src/index.js';
import { nn, noGrad, rand, manualSeed, type Tensor } from '../src/index.js';
import { initWeightsXavier } from '../src/train/fit.js';
import { saveModel } from '../src/io/index.js';
import { closeStats, describeStats } from './helpers-zoo/compare.js';

const { onnx } = onnxProto;
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = path.join(root, 'bin', 'torchlet.js');
let work = '';

before(() => {
  work = mkdtempSync(path.join(tmpdir(), 'torchlet-onnx-'));
});
after(() => rmSync(work, { recursive: true, force: true }));

/** onnx.checker.check_model(full_check=True) on each file; returns the checker's complaint or ''. */
function onnxCheck(...files: string[]): string {
  const script = 'import sys, onnx\nfor p in sys.argv[1:]:\n    onnx.checker.check_model(onnx.load(p), full_check=True)\nprint("ok")';
  const r = spawnSync('/usr/bin/python3', ['-c', script, ...files], { encoding: 'utf8' });
  if (r.error) return `cannot run /usr/bin/python3: ${r.error.message}`;
  if (r.status !== 0) {
    const err = r.stderr.trim().split('\n').slice(-3).join('\n');
    return /No module named 'onnx'/.test(err) ? 'python3-onnx is not installed (apt-get install python3-onnx)' : err;
  }
  return r.stdout.trim() === 'ok' ? '' : r.stdout;
}

async function runOnnx(bytes: Uint8Array, x: Tensor, inputName = 'input', outputName = 'output'): Promise<{ data: Float32Array; dims: readonly number[] }> {
  const session = await ort.InferenceSession.create(bytes);
  const out = await session.run({ [inputName]: new ort.Tensor('float32', await x.data(), [...x.shape]) });
  const y = out[outputName];
  return { data: y.data as Float32Array, dims: y.dims };
}

async function assertSameLogits(what: string, net: nn.Module, bytes: Uint8Array, x: Tensor, inputName?: string, outputName?: string): Promise<void> {
  net.eval();
  const want = await noGrad(() => net.forward(x)).data();
  const got = await runOnnx(bytes, x, inputName, outputName);
  const s = closeStats(what, got.data, want, 1e-4);
  assert.ok(s.worstRatio <= 1, describeStats(s));
  assert.ok(s.maxAbsExpected > 1e-3, `${what}: logits are all near zero (${s.maxAbsExpected}), so the comparison would prove little`);
}

/** The zoo network with Xavier weights and BatchNorm statistics moved off their defaults. */
function preparedModel(name: string): nn.Module {
  manualSeed(7);
  const spec = torch.getModelSpec(name);
  const net = spec.create();
  initWeightsXavier(net);
  if (net.modules().some((m) => m.constructor.name.includes('BatchNorm'))) {
    net.train();
    net.forward(rand([4, ...spec.inputShape]));
  }
  net.eval();
  return net;
}

for (const name of torch.MODEL_NAMES) {
  test(`onnx: ${name} exports with a dynamic batch; onnxruntime matches torchlet at batch 1 and 7; the checker accepts it`, async () => {
    const spec = torch.getModelSpec(name);
    const net = preparedModel(name);
    const bytes = await torch.onnx.exportBytes(net, rand([1, ...spec.inputShape]), { dynamicBatch: true });
    for (const batch of [1, 7]) {
      await assertSameLogits(`${name} at batch ${batch}`, net, bytes, rand([batch, ...spec.inputShape]));
    }
    const file = path.join(work, `${name}.onnx`);
    writeFileSync(file, bytes);
    try {
      assert.equal(onnxCheck(file), '', `${name}.onnx fails the ONNX checker`);
    } finally {
      rmSync(file, { force: true });
    }
  });
}

test('onnx: the zoo exports the operators the issue lists, with state_dict names on the weights', async () => {
  const ops = new Set<string>();
  let lenetBnInits: string[] = [];
  for (const name of ['lenet', 'lenet-bn', 'nin', 'googlenet', 'resnet18']) {
    const spec = torch.getModelSpec(name);
    const model = onnx.ModelProto.decode(await torch.onnx.exportBytes(preparedModel(name), rand([1, ...spec.inputShape])));
    assert.equal(Number(model.opsetImport[0].version), 13);
    for (const n of model.graph?.node ?? []) ops.add(String(n.opType));
    if (name === 'lenet-bn') lenetBnInits = (model.graph?.initializer ?? []).map((t) => String(t.name));
  }
  assert.deepEqual([...ops].sort(), ['Add', 'AveragePool', 'BatchNormalization', 'Concat', 'Conv', 'Flatten', 'Gemm', 'GlobalAveragePool', 'MaxPool', 'Relu', 'Sigmoid']);
  // Every initializer is a parameter or buffer under its PyTorch state_dict key (num_batches_tracked is not read).
  const keys = [...torch.createModel('lenet-bn').stateDict().keys()].filter((k) => !k.endsWith('num_batches_tracked'));
  assert.deepEqual([...lenetBnInits].sort(), keys.sort());
});

/** Tensor code in forward, beyond the zoo's layers: each op must survive the trip. */
class Mixed extends nn.Module {
  fc = new nn.Linear(6, 5);
  proj = new nn.Parameter(rand([5, 4]));
  forward(x: Tensor): Tensor {
    const [n] = x.size();
    const h = this.fc.forward(x.reshape(n, 2, 6)); // linear on a 3-D input
    const parts = torch.cat([h.slice(1, 0, 1), h.slice(1, 1, 2).mul(2)], 2); // [n, 1, 10]
    const m = parts.reshape(-1, 10).sub(parts.reshape(-1, 10).mean(1, true)).clamp(-1.5, 1.5);
    const g = torch.matmul(m.slice(1, 0, 5).tanh(), this.proj).exp().sqrt().neg().abs(); // [n, 4]
    const picked = torch.where(g.gt(1), g, g.square());
    return nn.functional.softmax(picked.permute(1, 0), 0).permute(1, 0).add(picked.sigmoid().log().max(1, true));
  }
}

test('onnx: tensor code in forward (reshape, slice, cat, mean, clamp, matmul, where, softmax, permute, …) matches onnxruntime', async () => {
  manualSeed(3);
  const net = new Mixed();
  const bytes = await torch.onnx.exportBytes(net, rand([3, 12]).mul(2), { dynamicBatch: true });
  await assertSameLogits('Mixed at batch 3', net, bytes, rand([3, 12]).mul(2));
  await assertSameLogits('Mixed at batch 5', net, bytes, rand([5, 12]).mul(2));
  const file = path.join(work, 'mixed.onnx');
  writeFileSync(file, bytes);
  assert.equal(onnxCheck(file), '');
});

test('onnx: an op without an ONNX form names the op, the module and where it sits', async () => {
  class Picker extends nn.Module {
    forward(x: Tensor): Tensor {
      return x.argmax(1).float();
    }
  }
  const net = new nn.Sequential(new nn.Linear(4, 3), new Picker());
  await assert.rejects(torch.onnx.exportBytes(net, rand([2, 4])), (err: Error) => {
    assert.match(err.message, /Picker\(\) at net\.1/);
    assert.match(err.message, /argmax/);
    return true;
  });
  class WithLoss extends nn.Module {
    forward(x: Tensor): Tensor {
      return nn.functional.crossEntropy(x, torch.tensor([0, 1]));
    }
  }
  await assert.rejects(torch.onnx.exportBytes(new WithLoss(), rand([2, 4])), /WithLoss\(\) at the top level: a loss is not part of an exported model/);
});

test('onnx: a forward that writes the batch size as a number exports with a fixed batch, and refuses a dynamic one', async () => {
  class Baked extends nn.Module {
    fc = new nn.Linear(8, 2);
    forward(x: Tensor): Tensor {
      return this.fc.forward(x.reshape(2, 8)); // the batch written as a literal 2
    }
  }
  const net = new Baked();
  const fixed = await torch.onnx.exportBytes(net, rand([2, 2, 4]));
  await assertSameLogits('Baked', net, fixed, rand([2, 2, 4]));
  await assert.rejects(torch.onnx.exportBytes(net, rand([2, 2, 4]), { dynamicBatch: true }), /batch cannot be dynamic.*-1/);
});

test('onnx: bad arguments get clear errors; the module is left in its own mode and the random stream untouched', async () => {
  const net = torch.createModel('lenet');
  await assert.rejects(torch.onnx.exportBytes({} as nn.Module, rand([1, 1, 28, 28])), /first argument must be an nn.Module/);
  await assert.rejects(torch.onnx.exportBytes(net, [1, 2] as unknown as Tensor), /example input tensor/);
  await assert.rejects(torch.onnx.exportBytes(net, rand([1, 1, 28, 28]), { inputName: 'x', outputName: 'x' }), /different names/);
  await assert.rejects(torch.onnx.exportBytes(torch.createModel('lenet-bn'), rand([1, 3, 28, 28])), /Conv2d.*at net\[0\].*expected 1 input channels, got 3/);
  net.train();
  const example = rand([1, 1, 28, 28]);
  manualSeed(11);
  await torch.onnx.exportBytes(net, example, { dynamicBatch: true });
  const afterExport = rand([3]).dataSync();
  manualSeed(11);
  assert.deepEqual(afterExport, rand([3]).dataSync(), 'export drew from the default random generator');
  assert.ok(net.modules().every((m) => m.training), 'export put the model in eval mode and left it there');
  assert.ok(net.modules().every((m) => !Object.prototype.hasOwnProperty.call(m, 'forward')), 'export left its forward hooks on the modules');
});

test('onnx: torch.onnx.export writes the file; names are torch\'s input_names/output_names', async () => {
  const net = preparedModel('lenet-bn');
  const file = path.join(work, 'lenet-bn.onnx');
  await torch.onnx.export(net, rand([1, 1, 28, 28]), file, { dynamicBatch: true, inputName: 'images', outputName: 'logits' });
  assert.ok(statSync(file).size > 100_000);
  await assertSameLogits('lenet-bn from file', net, readFileSync(file), rand([4, 1, 28, 28]), 'images', 'logits');
  assert.equal(onnxCheck(file), '');
  await assert.rejects(torch.onnx.export(net, rand([1, 1, 28, 28]), path.join(work, 'no', 'such', 'dir.onnx')), /cannot write .*dir\.onnx/);
  assert.ok(!existsSync(path.join(work, 'no')));
});

test('onnx CLI: torchlet export writes a checked model from saved weights, with a dynamic or a fixed batch', async () => {
  const net = preparedModel('lenet');
  const weights = path.join(work, 'lenet.safetensors');
  saveModel(net, weights);
  const out = path.join(work, 'cli-lenet.onnx');
  const run = (args: string[]): { code: number; out: string; err: string } => {
    const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });
    return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
  };
  const r = run(['export', 'lenet', '--weights', weights, '--onnx', out]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /wrote .*cli-lenet\.onnx .*input \[batch, 1, 28, 28\]/);
  await assertSameLogits('CLI lenet at batch 5', net, readFileSync(out), rand([5, 1, 28, 28]));
  const fixed = path.join(work, 'cli-lenet-3.onnx');
  assert.equal(run(['export', 'lenet', '--weights', weights, '--onnx', fixed, '--batch', '3']).code, 0);
  await assertSameLogits('CLI lenet fixed batch 3', net, readFileSync(fixed), rand([3, 1, 28, 28]));
  await assert.rejects(runOnnx(readFileSync(fixed), rand([2, 1, 28, 28])), /dimension|dims|Got: 2/i);
  assert.equal(onnxCheck(out, fixed), '');
  const bad = run(['export', 'lenet', '--weights', weights, '--onnx', out, '--batch', 'many']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.err, /--batch.*expected 'dynamic' or a positive integer, got 'many'/);
  const wrong = run(['export', 'alexnet', '--weights', weights, '--onnx', path.join(work, 'x.onnx')]);
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.err, /does not fit model 'alexnet'/);
  assert.ok(!existsSync(path.join(work, 'x.onnx')));
});
