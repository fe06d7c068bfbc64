/**
 * nn.Module mechanics: registration order, PyTorch key names for
 * namedParameters / namedBuffers / stateDict of a nested model with
 * BatchNorm (nn.json), loadStateDict (strict and not), train()/eval()
 * propagation, apply(), zeroGrad, Sequential iteration and indexing, module
 * printing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../src/tensor.js';
import * as nn from '../src/nn/index.js';
import { noGrad } from '../src/autograd/grad-mode.js';
import { manualSeed } from '../src/random.js';
import { fill } from './helpers/fill.js';
import { assertClose } from './helpers/assert-close.js';
import { loadFixture, type NnFixture } from './helpers/fixtures.js';
import { Net } from './helpers/models.js';

const fx = loadFixture<NnFixture>('nn.json');

class Custom extends nn.Module {
  first = new nn.Linear(4, 3);
  scale = new nn.Parameter(new Tensor(new Float32Array([2]), [1]));
  notAModule = 42;
  act = new nn.ReLU();
  nested = new nn.Sequential(new nn.Linear(3, 3), new nn.Tanh());
  last = new nn.Linear(3, 2, false);
  forward(x: Tensor): Tensor {
    return this.last.forward(this.nested.forward(this.act.forward(this.first.forward(x).mul(this.scale))));
  }
}

test('Module: children and parameters register in assignment order', () => {
  const m = new Custom();
  assert.deepEqual(m.namedChildren().map(([k]) => k), ['first', 'act', 'nested', 'last']);
  assert.deepEqual(m.namedParameters().map(([k]) => k),
    ['scale', 'first.weight', 'first.bias', 'nested.0.weight', 'nested.0.bias', 'last.weight']);
  assert.deepEqual(m.namedModules().map(([k]) => k), ['', 'first', 'act', 'nested', 'nested.0', 'nested.1', 'last']);
  // Reassigning a field keeps its place, like PyTorch's _modules dict.
  m.first = new nn.Linear(4, 3);
  assert.deepEqual(m.namedChildren().map(([k]) => k), ['first', 'act', 'nested', 'last']);
  assert.equal(m.parameters().length, 6);
  assert.ok(m.parameters().every((p) => p.requiresGrad && p.isLeaf));
});

test('Module: a shared parameter is listed once', () => {
  class Tied extends nn.Module {
    a = new nn.Linear(3, 3);
    b = new nn.Linear(3, 3);
    constructor() {
      super();
      this.b.weight = this.a.weight;
    }
    forward(x: Tensor): Tensor {
      return this.b.forward(this.a.forward(x));
    }
  }
  assert.deepEqual(new Tied().namedParameters().map(([k]) => k), ['a.weight', 'a.bias', 'b.bias']);
});

test('Module: state_dict / named_parameters / named_buffers keys and shapes equal PyTorch for a nested model', () => {
  const net = new Net();
  const sd = net.stateDict();
  assert.deepEqual([...sd.keys()], fx.state_dict.map((e) => e.key));
  for (const e of fx.state_dict) {
    const t = sd.get(e.key)!;
    assert.deepEqual([...t.shape], e.shape, `shape of ${e.key}`);
    assert.equal(t.dtype, e.dtype === 'float32' ? 'float32' : 'int32', `dtype of ${e.key}`);
  }
  assert.deepEqual(net.namedParameters().map(([k]) => k), fx.named_parameters);
  assert.deepEqual(net.namedBuffers().map(([k]) => k), fx.named_buffers);
  assert.deepEqual(net.namedModules().map(([k, m]) => [k, m.constructor.name]), fx.named_modules);
});

test('Module: apply() visits children first, then the module (torch order)', () => {
  const order: string[] = [];
  const net = new Net();
  const ret = net.apply((m) => order.push(m.constructor.name));
  assert.equal(ret, net);
  assert.deepEqual(order, fx.apply_order);
  // Typical use: re-initialise every Linear.
  net.apply((m) => {
    if (m instanceof nn.Linear) nn.init.zeros_(m.weight);
  });
  assert.ok((net.head[0] as nn.Linear).weight.dataSync().every((v) => v === 0));
  assert.ok((net.head[4] as nn.Linear).weight.dataSync().every((v) => v === 0));
});

test('Module: train()/eval() propagate to every submodule and return the module', () => {
  const net = new Net();
  assert.ok(net.modules().every((m) => m.training));
  assert.equal(net.eval(), net);
  assert.ok(net.modules().every((m) => !m.training));
  net.head.train();
  assert.ok(net.head.modules().every((m) => m.training));
  assert.ok(!net.features.training && !net.training);
  net.train();
  assert.ok(net.modules().every((m) => m.training));
  net.train(false);
  assert.ok(net.modules().every((m) => !m.training));
});

test('Module: eval() changes behaviour — Dropout is identity, BatchNorm uses and keeps running stats', () => {
  manualSeed(3);
  const drop = new nn.Dropout(0.5);
  const x = fill([4, 50], [1, 0.1, 2]);
  const yTrain = drop.forward(x).dataSync();
  const zeros = yTrain.filter((v) => v === 0).length;
  assert.ok(zeros > 50 && zeros < 150, `about half dropped, got ${zeros} of 200`);
  const xs = x.dataSync();
  yTrain.forEach((v, i) => assert.ok(v === 0 || Math.abs(v - 2 * xs[i]) < 1e-6, 'kept values are scaled by 1/(1-p)'));
  drop.eval();
  assert.deepEqual(drop.forward(x).dataSync(), xs);

  const bn = new nn.BatchNorm1d(3);
  bn.eval();
  const before = bn.running_mean!.dataSync();
  const y = bn.forward(fill([4, 3], [1, 0.1, 5]));
  assert.deepEqual(bn.running_mean!.dataSync(), before, 'eval forward must not update running stats');
  assert.equal(bn.num_batches_tracked!.itemSync(), 0);
  // Fresh running stats (0, 1): y = x / sqrt(1 + eps).
  const xv = fill([4, 3], [1, 0.1, 5]).dataSync();
  y.dataSync().forEach((v, i) => assert.ok(Math.abs(v - xv[i] / Math.sqrt(1 + 1e-5)) < 1e-5));
  bn.train();
  bn.forward(fill([4, 3], [1, 0.1, 5]));
  bn.forward(fill([4, 3], [1, 0.1, 5]));
  assert.equal(bn.num_batches_tracked!.itemSync(), 2);
});

test('Module: zeroGrad sets every parameter gradient to null', () => {
  const net = new Net(0);
  net.forward(fill([2, 3, 4, 4], [1, 0.1, 0])).sum().backward();
  assert.ok(net.parameters().every((p) => p.grad !== null));
  net.zeroGrad();
  assert.ok(net.parameters().every((p) => p.grad === null));
});

test('Module: gradients accumulate across backward calls until zeroGrad', () => {
  const lin = new nn.Linear(3, 2);
  const x = fill([4, 3], [1, 0.1, 0]);
  lin.forward(x).sum().backward();
  const g1 = lin.weight.grad!.dataSync();
  lin.forward(x).sum().backward();
  const g2 = lin.weight.grad!.dataSync();
  g2.forEach((v, i) => assert.ok(Math.abs(v - 2 * g1[i]) < 1e-5));
});

test('loadStateDict: round trip copies values (no aliasing) and reproduces outputs', () => {
  manualSeed(1);
  const a = new Net();
  manualSeed(2);
  const b = new Net();
  const x = fill([2, 3, 4, 4], [1, 0.1, 0]);
  a.eval();
  b.eval();
  const ya = noGrad(() => a.forward(x)).dataSync();
  assert.notDeepEqual(noGrad(() => b.forward(x)).dataSync(), ya);
  const res = b.loadStateDict(a.stateDict());
  assert.deepEqual(res, { missingKeys: [], unexpectedKeys: [] });
  // Close, not bitwise: native kernels may sum in an order that depends on buffer alignment.
  assertClose(noGrad(() => b.forward(x)), ya, { rtol: 1e-6 });
  // b owns its copies: changing a afterwards does not change b.
  (a.head[0] as nn.Linear).weight.hostView().fill(0);
  assertClose(noGrad(() => b.forward(x)), ya, { rtol: 1e-6 });
  // A plain object works too.
  const obj = Object.fromEntries(b.stateDict());
  assert.doesNotThrow(() => a.loadStateDict(obj));
});

test('loadStateDict strict: missing, unexpected and mis-shaped keys are errors that name them', () => {
  const net = new Net();
  const sd = new Map(net.stateDict());
  sd.delete('features.0.bn.running_var');
  sd.delete('head.4.bias');
  sd.set('head.9.weight', new Tensor(new Float32Array(1), [1]));
  assert.throws(() => new Net().loadStateDict(sd), (err: Error) => {
    assert.match(err.message, /missing keys: features\.0\.bn\.running_var, head\.4\.bias/);
    assert.match(err.message, /unexpected keys: head\.9\.weight/);
    return true;
  });
  const bad = new Map(net.stateDict());
  bad.set('head.0.weight', new Tensor(new Float32Array(8 * 7), [7, 8]));
  assert.throws(() => new Net().loadStateDict(bad), /size mismatch for head\.0\.weight: checkpoint has \[7,8\], model has \[6,8\]/);
  // Non-strict: reports the mismatch and loads what matches.
  const target = new Net();
  const res = target.loadStateDict(sd, false);
  assert.deepEqual(res.missingKeys, ['features.0.bn.running_var', 'head.4.bias']);
  assert.deepEqual(res.unexpectedKeys, ['head.9.weight']);
  assert.deepEqual(target.stateDict().get('head.0.weight')!.dataSync(), net.stateDict().get('head.0.weight')!.dataSync());
});

test('Sequential: indexing, at(), length, iteration, push, forward order', () => {
  const l0 = new nn.Linear(4, 3);
  const l2 = new nn.Linear(3, 2);
  const seq = new nn.Sequential(l0, new nn.ReLU(), l2);
  assert.equal(seq.length, 3);
  assert.equal(seq[0], l0);
  assert.equal(seq[2], l2);
  assert.equal(seq.at(-1), l2);
  assert.equal(seq.at(0), l0);
  assert.throws(() => seq.at(3), /index 3 is out of range for 3 layers/);
  assert.deepEqual([...seq].map((m) => m.constructor.name), ['Linear', 'ReLU', 'Linear']);
  assert.deepEqual(seq.namedChildren().map(([k]) => k), ['0', '1', '2']);
  seq.push(new nn.Sigmoid());
  assert.equal(seq.length, 4);
  assert.ok(seq[3] instanceof nn.Sigmoid);
  const x = fill([2, 4], [1, 0.1, 0]);
  const manual = l2.forward(l0.forward(x).relu()).sigmoid().dataSync();
  assertClose(seq.forward(x), manual, { rtol: 1e-6 });
  assert.throws(() => new nn.Sequential(new nn.ReLU(), {} as nn.Module), /argument 1 is not a Module/);
  const list = new nn.ModuleList([new nn.ReLU(), new nn.Tanh()]);
  assert.equal(list.length, 2);
  assert.deepEqual([...list].map((m) => m.constructor.name), ['ReLU', 'Tanh']);
});

test('Module printing matches torch for common layers', () => {
  const made: Record<string, nn.Module> = {
    Linear: new nn.Linear(8, 6),
    Conv2d: new nn.Conv2d(3, 4, 3, { padding: 1 }),
    Conv2d_nobias_stride: new nn.Conv2d(4, 8, 1, { stride: 2, bias: false }),
    BatchNorm2d: new nn.BatchNorm2d(4),
    MaxPool2d: new nn.MaxPool2d(3, 2, 1),
    Flatten: new nn.Flatten(),
    Dropout: new nn.Dropout(0.5),
    Sequential: new nn.Sequential(new nn.Linear(8, 6), new nn.ReLU(), new nn.Linear(6, 3)),
  };
  for (const [k, expected] of Object.entries(fx.repr)) assert.equal(made[k].toString(), expected, k);
});
