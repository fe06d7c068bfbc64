/**
 * summary(): torchinfo's table. The fixtures come from the zoo's PyTorch twins
 * (scripts/gen_summary_fixtures.py, forward hooks counting as torchinfo
 * counts): every row's depth, class, output shape, parameters and mult-adds,
 * and the totals torchinfo prints, must agree for every zoo network.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as torch from '../src/index.js';
import { nn, rand, manualSeed, type Tensor } from '../src/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

interface FixtureRow { depth: number; name: string; leaf: boolean; output: number[]; params: number; trainable: number; macs: number }
interface Fixture {
  input: number[];
  rows: FixtureRow[];
  totalParams: number;
  trainableParams: number;
  totalMacs: number;
  forwardBackwardBytes: number;
  paramBytes: number;
}
const fixtures = JSON.parse(readFileSync(path.join(root, 'test', 'fixtures', 'summary', 'torchinfo.json'), 'utf8')) as Record<string, Fixture>;

for (const name of torch.MODEL_NAMES) {
  test(`summary: ${name} matches torchinfo's rows and totals (params, trainable, mult-adds, memory)`, () => {
    const want = fixtures[name];
    const s = torch.summary(torch.createModel(name), want.input, { depth: 10 });
    const got = s.rows.map((r) => ({ depth: r.depth, name: r.name, leaf: r.leaf, output: [...r.outputShape], params: r.params, trainable: r.trainableParams, macs: r.leaf ? r.macs : 0 }));
    const expected = want.rows.map((r) => ({ depth: r.depth, name: r.name, leaf: r.leaf, output: r.output, params: r.params, trainable: r.trainable, macs: r.macs }));
    assert.deepEqual(got, expected);
    assert.equal(s.totalParams, want.totalParams);
    assert.equal(s.trainableParams, want.trainableParams);
    assert.equal(s.totalMacs, want.totalMacs);
    assert.equal(s.forwardBackwardBytes, want.forwardBackwardBytes);
    assert.equal(s.paramBytes, want.paramBytes);
    assert.equal(s.inputBytes, 4 * want.input.reduce((a, b) => a * b, 1));
  });
}

test('summary --table: AlexNet and GoogLeNet print torchinfo\'s totals, nested rows and the memory estimate', () => {
  const run = (args: string[]): string => {
    const r = spawnSync(process.execPath, [path.join(root, 'bin', 'torchlet.js'), ...args], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout;
  };
  for (const name of ['alexnet', 'googlenet']) {
    const want = fixtures[name];
    const out = run(['summary', name, '--table']);
    assert.match(out, new RegExp(`Total params: ${want.totalParams.toLocaleString('en-US')}\n`));
    assert.match(out, new RegExp(`Trainable params: ${want.trainableParams.toLocaleString('en-US')}\n`));
    assert.match(out, /Non-trainable params: 0\n/);
    assert.match(out, new RegExp(`Total mult-adds \\(M\\): ${(want.totalMacs / 1e6).toFixed(2)}\n`));
    assert.match(out, new RegExp(`Input shape: \\[${want.input.join(', ')}\\]`));
    assert.match(out, new RegExp(`Forward/backward pass size \\(MB\\): ${(want.forwardBackwardBytes / 1e6).toFixed(2)}\n`));
    assert.match(out, new RegExp(`Params size \\(MB\\): ${(want.paramBytes / 1e6).toFixed(2)}\n`));
    assert.match(out, /Estimated Total Size \(MB\): \d+\.\d\d\n/);
  }
  const google = run(['summary', 'googlenet', '--table']);
  assert.match(google, /│    └─Inception: 2-9 +\[1, 256, 12, 12\]/);
  assert.match(google, /│    │    └─Conv2d: 3-1 +\[1, 64, 12, 12\] +12,352 +1,778,688/);
  // Depth 1: the stages fold their contents into one row each, with the stage's parameters.
  const shallow = run(['summary', 'googlenet', '--table', '--depth', '1']);
  assert.doesNotMatch(shallow, /Inception/);
  assert.match(shallow, /├─Sequential: 1-1 +\[1, 64, 24, 24\] +3,200 +7,372,800/);
  // The plain listing stays the book's.
  const plain = run(['summary', 'lenet']);
  assert.match(plain, /^Reshape output shape:\t\[1, 1, 28, 28\]\nConv2d output shape:\t\[1, 6, 28, 28\]\n/);
  assert.doesNotMatch(plain, /Total params/);
});

test('summary: frozen parameters are non-trainable; a shared layer shows (recursive) and counts once', () => {
  manualSeed(1);
  const shared = new nn.Linear(4, 4);
  class Twice extends nn.Module {
    a = shared;
    head = new nn.Linear(4, 2);
    scale = new nn.Parameter(rand([2]));
    forward(x: Tensor): Tensor {
      return this.head.forward(this.a.forward(this.a.forward(x)).relu()).mul(this.scale);
    }
  }
  const net = new Twice();
  net.head.weight.requiresGrad = false;
  const s = torch.summary(net, [3, 4]);
  assert.equal(s.totalParams, 20 + 10 + 2);
  assert.equal(s.trainableParams, 20 + 2 + 2);
  assert.equal(s.nonTrainableParams, 8);
  assert.deepEqual(s.rows.map((r) => [r.name, r.recursive, r.params]), [['Twice', false, 2], ['Linear', false, 20], ['Linear', true, 0], ['Linear', false, 10]]);
  // Both calls of the shared layer did their work: 3 rows × 20 weights and biases, twice.
  assert.equal(s.totalMacs, 2 * 3 * 20 + 3 * 10);
  const text = s.toString();
  assert.match(text, /├─Linear: 1-2 +\[3, 4\] +\(recursive\)/);
  assert.match(text, /Non-trainable params: 8\n/);
  assert.ok(net.training, 'summary left the model in eval mode');
});

test('summary: bad arguments are named', () => {
  const net = torch.createModel('lenet');
  assert.throws(() => torch.summary(net, [1, 1, 28, 28], { depth: -1 }), /depth must be a whole number/);
  assert.throws(() => torch.summary(net, [0, 28]), /inputSize must be the input's shape with the batch first/);
  assert.throws(() => torch.summary(torch.createModel('alexnet'), [1, 3, 224, 224]), /Conv2d.*expected 1 input channels, got 3/);
});
