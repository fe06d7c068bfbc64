/**
 * Device rules: tensors live on a device, ops refuse mixed devices, to() is
 * recorded for autograd, net.to() moves parameters in place, creation takes
 * { device }, and a device backend with an incomplete kernel table is refused.
 * The gpu here is a simulated device (helpers/sim-device.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../src/index.js';
import { createSimBackend, useSimGpu } from './helpers/sim-device.js';
import { assertClose } from './helpers/assert-close.js';

const { nn, optim } = torch;
const sim = useSimGpu({ syncRead: true });
const gpu = torch.device('gpu');

test('devices: names, tryGpu, and t.device', () => {
  assert.equal(torch.device('cpu'), torch.CPU);
  assert.equal(torch.device('cuda:0'), gpu, "seed code's 'cuda' means the gpu device");
  assert.equal(String(torch.device('gpu:1')), 'gpu:1');
  assert.throws(() => torch.device('tpu'), /unknown device 'tpu'; expected 'cpu' or 'gpu'/);
  assert.equal(torch.tryGpu(), gpu, 'a gpu backend is registered, so try_gpu finds it');
  assert.equal(torch.zeros([2]).device, torch.CPU);
});

test('devices: creation functions take { device }', async () => {
  const cases: Array<[string, torch.Tensor, number[]]> = [
    ['zeros', torch.zeros([2, 3], { device: 'gpu' }), [0, 0, 0, 0, 0, 0]],
    ['ones', torch.ones([2], { device: gpu }), [1, 1]],
    ['full', torch.full([3], 7, { device: 'gpu' }), [7, 7, 7]],
    ['tensor', torch.tensor([[1, 2], [3, 4]], { device: 'gpu' }), [1, 2, 3, 4]],
    ['arange', torch.arange(4, undefined, 1, { device: 'gpu' }), [0, 1, 2, 3]],
  ];
  for (const [name, t, want] of cases) {
    assert.equal(t.device, gpu, `${name} is on the gpu`);
    assert.equal(t.storage.backend, sim, `${name}: its storage is owned by the gpu backend`);
    assert.deepEqual([...(await t.data())], want, name);
  }
  torch.manualSeed(3);
  const a = await torch.randn([5], { device: 'gpu' }).data();
  torch.manualSeed(3);
  const b = await torch.randn([5]).data();
  assert.deepEqual(a, b, 'randn draws the same values whichever device it is made on');
  assert.equal(torch.zerosLike(torch.ones([2], { device: 'gpu' })).device, gpu, 'zerosLike keeps the device');
});

test('devices: an op on two devices names the op, both devices and the argument', () => {
  const a = torch.ones([2]);
  const b = torch.ones([2], { device: 'gpu' });
  assert.throws(() => a.add(b), (err: Error) => {
    assert.equal(err.message, "add: expected all tensors on one device, got cpu and gpu (argument 2); move them with .to(device) first");
    assert.ok(err instanceof torch.DeviceMismatchError);
    return true;
  });
  assert.throws(() => torch.matmul(b.reshape([1, 2]), a.reshape([2, 1])), /matmul: expected all tensors on one device, got gpu and cpu \(argument 2\)/);
  const conv = new nn.Conv2d(1, 2, 3);
  assert.throws(() => conv.forward(torch.ones([1, 1, 4, 4], { device: 'gpu' })), /conv2d: expected all tensors on one device, got gpu and cpu \(argument 2\)/);
});

test('devices: a plain number follows its tensor', async () => {
  const b = torch.tensor([1, 2], { device: 'gpu' });
  const y = b.mul(2).add(1);
  assert.equal(y.device, gpu);
  assert.deepEqual([...(await y.data())], [3, 5]);
  assert.deepEqual([...(await torch.sub(10, b).data())], [9, 8], 'a number on the left too');
});

test('devices: a to() round trip carries gradients back to the cpu leaf', async () => {
  const x = torch.tensor([1, -2, 3], { requiresGrad: true });
  const onGpu = x.to('gpu');
  assert.equal(onGpu.device, gpu);
  assert.equal(onGpu.gradFn?.name, 'ToCopy');
  const back = onGpu.mul(onGpu).mul(0.5).cpu();
  assert.equal(back.device, torch.CPU);
  back.sum().backward();
  assert.ok(x.grad, 'the cpu leaf has a gradient');
  assert.equal(x.grad.device, torch.CPU);
  assert.deepEqual([...(await x.grad.data())], [1, -2, 3], 'd/dx of x²/2 is x, across both copies');
  assert.equal(x.to('cpu'), x, 'to() the device it is on returns the tensor itself');
});

test('devices: net.to() moves parameters in place and an optimiser built before keeps working', async () => {
  torch.manualSeed(0);
  const make = (): torch.nn.Sequential => new nn.Sequential(new nn.Linear(4, 3), new nn.ReLU(), new nn.Linear(3, 2));
  const onCpu = make();
  const onGpu = make();
  onGpu.loadStateDict(onCpu.stateDict());
  const optCpu = new optim.SGD(onCpu.parameters(), { lr: 0.1, momentum: 0.9 });
  const params = onGpu.parameters();
  const optGpu = new optim.SGD(params, { lr: 0.1, momentum: 0.9 });
  onGpu.to('gpu');
  assert.deepEqual(onGpu.parameters(), params, 'the same Parameter objects');
  assert.ok(params.every((p) => p.device === gpu));
  const X = torch.randn([5, 4]);
  const y = torch.tensor([0, 1, 1, 0, 1], { dtype: 'int32' });
  for (let step = 0; step < 3; step++) {
    for (const [net, opt, dev] of [[onCpu, optCpu, torch.CPU], [onGpu, optGpu, gpu]] as const) {
      opt.zeroGrad();
      nn.functional.crossEntropy(net.forward(X.to(dev)), y.to(dev)).backward();
      opt.step();
    }
  }
  const cpuParams = onCpu.parameters();
  for (let i = 0; i < params.length; i++) {
    assert.equal(params[i].grad?.device, gpu, 'gradients are on the gpu');
    assertClose(await params[i].data(), await cpuParams[i].data(), { rtol: 1e-6, name: `parameter ${i} after 3 momentum steps` });
  }
  onGpu.to('cpu');
  assert.ok(params.every((p) => p.device === torch.CPU), 'and back');
});

test('devices: BatchNorm buffers move with the module and update on the gpu', async () => {
  const bn = new nn.BatchNorm2d(2).to('gpu');
  bn.forward(torch.randn([4, 2, 3, 3], { device: 'gpu' }));
  assert.equal(bn.running_mean?.device, gpu);
  assert.deepEqual([...(await (bn.num_batches_tracked as torch.Tensor).data())], [1]);
});

test('devices: reads from a device the host reads asynchronously', async () => {
  const asyncGpu = createSimBackend({ name: 'sim-async' });
  torch.registerBackend(asyncGpu);
  torch.setBackend('sim-async');
  try {
    const t = torch.tensor([1, 2, 3], { device: 'gpu' });
    assert.equal(t.storage.backend, asyncGpu);
    assert.throws(() => t.dataSync(), /dataSync\(\): tensor is on gpu, which is read asynchronously; use `await t.data\(\)`/);
    assert.throws(() => t.to('cpu'), /to\('cpu'\): the tensor is on gpu, which the host reads asynchronously; use `await t.toAsync\('cpu'\)`/);
    assert.deepEqual([...(await t.data())], [1, 2, 3]);
    assert.equal(await t.sum().item(), 6);
    const back = await t.toAsync('cpu');
    assert.deepEqual([...back.dataSync()], [1, 2, 3]);
    assert.match(String(t), /tensor\(<3 values on gpu; await t\.data\(\) to read>/);
  } finally {
    torch.setBackend(sim.name);
  }
});

test('devices: a device backend with an incomplete kernel table is refused', () => {
  const broken = createSimBackend({ name: 'broken', leaveOut: ['conv2d', 'adamStepInplace'] });
  assert.throws(() => torch.registerBackend(broken), (err: Error) => {
    assert.ok(err instanceof torch.KernelMissingError);
    assert.match(err.message, /backend 'broken' is missing kernels: conv2d, adamStepInplace; a device backend must implement every kernel/);
    return true;
  });
  assert.doesNotThrow(() => torch.registerBackend(createSimBackend({ name: 'complete' })), 'the full table is accepted');
});
