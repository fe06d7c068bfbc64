/**
 * Error messages: a layer's error names the layer, its place in the model and
 * both shapes; op errors name the op and the shapes involved.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../src/tensor.js';
import * as nn from '../src/nn/index.js';
import { callChild } from '../src/nn/module.js';
import { cat } from '../src/ops/movement.js';
import { matmul } from '../src/ops/matmul.js';
import { crossEntropy } from '../src/ops/softmax.js';
import { fill } from './helpers/fill.js';
import * as torch from '../src/index.js';

const x28 = (): Tensor => fill([1, 1, 28, 28], [1, 0.1, 0]);

test('errors: wrong channel count names the layer, its index and both shapes', () => {
  const net = new nn.Sequential(new nn.ReLU(), new nn.Identity(), new nn.Sigmoid(), new nn.Conv2d(6, 16, 5));
  assert.throws(() => net.forward(x28()), (err: Error) => {
    assert.ok(err instanceof nn.LayerError);
    assert.equal(err.message, 'Conv2d(6→16, k=5) at net[3]: expected 6 input channels, got 1 (input [1,1,28,28])');
    return true;
  });
  const lenet = new nn.Sequential(new nn.Conv2d(3, 6, 5, { padding: 2 }), new nn.Sigmoid());
  assert.throws(() => lenet.forward(x28()), {
    message: 'Conv2d(3→6, k=5, p=2) at net[0]: expected 3 input channels, got 1 (input [1,1,28,28])',
  });
});

test('errors: nested containers and named children extend the path', () => {
  const net = new nn.Sequential(new nn.ReLU(), new nn.Sequential(new nn.Flatten(), new nn.Linear(10, 4)));
  assert.throws(() => net.forward(x28()), {
    message: 'Linear(10→4) at net[1][1]: expected input with 10 features in the last dim, got shape [1,784]',
  });
  class Inception extends nn.Module {
    p1_1 = new nn.Conv2d(3, 4, 1);
    forward(x: Tensor): Tensor {
      return callChild(this.p1_1, '.p1_1', x);
    }
  }
  const model = new nn.Sequential(new nn.Identity(), new Inception());
  assert.throws(() => model.forward(x28()), {
    message: 'Conv2d(3→4, k=1) at net[1].p1_1: expected 3 input channels, got 1 (input [1,1,28,28])',
  });
});

test('errors: plain errors inside a child are attributed to it', () => {
  const net = new nn.Sequential(new nn.Lambda((x) => x.view(-1, 3, 5, 5), 'Reshape'), new nn.ReLU());
  assert.throws(() => net.forward(x28()), (err: Error) => {
    assert.ok(err instanceof nn.LayerError);
    assert.match(err.message, /^Reshape\(\) at net\[0\]: view: shape \[-1,3,5,5\] is invalid for input of size 784/);
    return true;
  });
});

test('errors: layer input checks', () => {
  assert.throws(() => new nn.Conv2d(1, 2, 3).forward(fill([1, 28, 28], [1, 0, 0])), /Conv2d\(1→2, k=3\): expected a 4-D input \[N,C,H,W\], got \[1,28,28\]/);
  assert.throws(() => new nn.Conv2d(1, 2, 5).forward(fill([1, 1, 3, 3], [1, 0, 0])), /input 3x3 \(padded 3x3\) is smaller than the 5x5 kernel/);
  assert.throws(() => new nn.MaxPool2d(3).forward(fill([1, 1, 2, 2], [1, 0, 0])), /MaxPool2d\(k=3, s=3\): input 2x2 is smaller than the 3x3 window/);
  assert.throws(() => new nn.BatchNorm2d(4).forward(fill([2, 3, 2, 2], [1, 0, 0])), /BatchNorm2d\(4\): expected 4 channels in dim 1, got 3 \(input \[2,3,2,2\]\)/);
  assert.throws(() => new nn.BatchNorm2d(3).forward(fill([2, 3, 2], [1, 0, 0])), /BatchNorm2d\(3\): expected 4-D input/);
  assert.throws(() => new nn.BatchNorm1d(3).forward(fill([1, 3], [1, 0, 0])), /expected more than 1 value per channel when training, got input \[1,3\]/);
  assert.doesNotThrow(() => new nn.BatchNorm1d(3).eval().forward(fill([1, 3], [1, 0, 0])));
  assert.throws(() => new nn.Dropout(1.5), /between 0 and 1, but got 1.5/);
});

test('errors: op shape errors name the op and both shapes', () => {
  const a = fill([2, 3], [1, 0, 0]);
  const b = fill([4], [1, 0, 0]);
  assert.throws(() => a.add(b), /add: shapes \[2,3\] and \[4\] cannot be broadcast/);
  assert.throws(() => matmul(a, fill([4, 2], [1, 0, 0])), /matmul: shapes \[2,3\] and \[4,2\] cannot be multiplied \(2x3 and 4x2\)/);
  assert.throws(() => a.view(4, -1), /view: shape \[4,-1\] is invalid for input of size 6/);
  assert.throws(() => a.view(-1, -1), /only one dimension can be -1/);
  assert.throws(() => cat([a, fill([2, 4], [1, 0, 0])], 0), /cat: tensor 1 has shape \[2,4\], expected \[2,3\] except in dim 0/);
  assert.throws(() => a.sum(2), /sum: dim 2 is out of range for a tensor of rank 2/);
  assert.throws(() => a.permute(0, 0), /permute: repeated dim/);
  assert.throws(() => a.index(5), /index 5 is out of bounds for dimension 0 with size 2/);
  assert.throws(() => a.itemSync(), /item\(\): tensor has 6 elements/);
  assert.throws(() => a.expand(3, 3), /expand: cannot expand \[2,3\] to \[3,3\]/);
  const target = new Tensor(new Float32Array([0, 3]), [2], { dtype: 'int32' });
  assert.throws(() => crossEntropy(a, target), /target\[1\] = 3 is not a class index in \[0, 3\)/);
  assert.throws(() => crossEntropy(a, new Tensor(new Float32Array(3), [3], { dtype: 'int32' })), /expected target of shape \[2\]/);
  assert.throws(() => new Tensor(new Float32Array(5), [2, 3]), /data has 5 elements but shape \[2,3\] needs 6/);
});

test('errors: a shape too large for one tensor says so instead of a typed-array error', () => {
  assert.throws(() => torch.rand([1e6, 1e6]), /rand: shape \[1000000,1000000\] has 1\.00e\+12 elements, more than one tensor can hold \(2147483647, 8 GiB of float32\); use a smaller shape/);
  assert.throws(() => torch.zeros([65536, 65536]), /full: shape \[65536,65536\] has 4\.29e\+9 elements/);
});

test('argmax: NaN is the maximum, as in PyTorch (the first NaN wins)', () => {
  const x = torch.tensor([[1, NaN, 3, NaN], [2, 5, 5, 1], [-Infinity, -Infinity, -Infinity, -Infinity]]);
  assert.deepEqual([...x.argmax(1).dataSync()], [1, 1, 0]);
  assert.deepEqual([...torch.tensor([NaN, 1]).argmax().dataSync()], [0]);
});
