// Sequential fuses Conv2d + ReLU/Sigmoid/Tanh into one kernel; values and gradients must match the unfused layers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../src/index.js';
import { Sequential } from '../src/nn/layers/container.js';
import { listBackends, withBackend, getBackend, setKernelTableWrapper } from '../src/backend/registry.js';
import { assertClose } from './helpers/assert-close.js';

const { nn } = torch;

function run(net: torch.nn.Sequential, x: torch.Tensor, fused: boolean): Float32Array[] {
  Sequential.fuseActivations = fused;
  try {
    net.zeroGrad();
    const xi = x.detach().requiresGrad_();
    const y = net.forward(xi);
    y.mul(torch.arange(0, y.numel()).reshape([...y.shape]).mul(0.01)).sum().backward();
    return [y.hostView().slice(), (xi.grad as torch.Tensor).hostView().slice(), ...net.parameters().map((p) => (p.grad as torch.Tensor).hostView().slice())];
  } finally {
    Sequential.fuseActivations = true;
  }
}

/** Counts, per kernel name, the calls that ran (an optional kernel that declines returns null); setKernelTableWrapper(null) ends it. */
function countKernelCalls(): Map<string, number> {
  const calls = new Map<string, number>();
  setKernelTableWrapper((k) => Object.fromEntries(Object.entries(k).map(([name, f]) => [name, typeof f === 'function'
    ? (...a: unknown[]) => {
      const r = (f as (...args: unknown[]) => unknown)(...a);
      if (r !== null) calls.set(name, (calls.get(name) ?? 0) + 1);
      return r;
    }
    : f])) as typeof k);
  return calls;
}

for (const backend of listBackends().filter((b) => getBackend(b)?.device.type === 'cpu')) {
  test(`fused conv+activation equals conv then activation [${backend}]`, () => {
    withBackend(backend, () => {
      torch.manualSeed(3);
      const net = new nn.Sequential(
        new nn.Conv2d(2, 4, 3, { padding: 1 }), new nn.ReLU(),
        new nn.Conv2d(4, 4, 3, { stride: 2 }), new nn.Sigmoid(),
        new nn.Conv2d(4, 3, 1), new nn.Tanh(),
        new nn.Flatten(), new nn.Linear(3 * 4 * 4, 5),
      );
      const x = torch.randn([3, 2, 9, 9]);
      const fused = run(net, x, true);
      const plain = run(net, x, false);
      fused.forEach((f, i) => assertClose(f, plain[i], { rtol: 1e-5 }));
      const y = net.forward(x);
      assert.equal(y.gradFn?.name, 'Addmm');
    });
  });
}

for (const backend of listBackends().filter((b) => getBackend(b)?.device.type === 'cpu')) {
  test(`fused batch norm+activation equals batch norm then activation, training and eval [${backend}]`, () => {
    withBackend(backend, () => {
      torch.manualSeed(4);
      const net = new nn.Sequential(
        new nn.Conv2d(2, 6, 3), new nn.BatchNorm2d(6), new nn.Sigmoid(),
        new nn.Conv2d(6, 4, 3), new nn.BatchNorm2d(4), new nn.ReLU(),
        new nn.Flatten(), new nn.Linear(4 * 5 * 5, 7), new nn.BatchNorm1d(7), new nn.Tanh(),
        new nn.Linear(7, 3),
      );
      const x = torch.randn([4, 2, 9, 9]);
      for (const training of [true, false]) {
        net.train(training);
        // Running statistics move in training: give both runs the same starting state.
        const state = net.stateDict();
        const fused = run(net, x, true);
        net.loadStateDict(state);
        const plain = run(net, x, false);
        net.loadStateDict(state);
        fused.forEach((f, i) => assertClose(f, plain[i], { rtol: 1e-4, atol: 1e-5 }));
      }
      net.train();
      Sequential.fuseActivations = true;
      const y = net.forward(x);
      assert.equal(y.gradFn?.name, 'Addmm');
      const names = (y.gradFn?.inputs ?? []).map((t) => t.gradFn?.name);
      assert.ok(names.includes('NativeBatchNormTanh'), `the last batch norm runs fused with its Tanh (inputs: ${names.join(', ')})`);
    });
  });
}

for (const backend of listBackends().filter((b) => getBackend(b)?.device.type === 'cpu')) {
  test(`fused conv+activation+average pool equals the three layers, gradients included [${backend}]`, () => {
    withBackend(backend, () => {
      torch.manualSeed(5);
      // LeNet's 2x2 stride-2 pools (the cpu backend's one-pass kernel; an odd plane leaves a
      // column and a row no window covers), a 3x3 stride-2 pool (the two-kernel fallback), and
      // each activation.
      const net = new nn.Sequential(
        new nn.Conv2d(1, 6, 5, { padding: 2 }), new nn.Sigmoid(), new nn.AvgPool2d(2, 2),
        new nn.Conv2d(6, 16, 5), new nn.ReLU(), new nn.AvgPool2d(2, 2),
        new nn.Conv2d(16, 4, 2), new nn.Tanh(), new nn.AvgPool2d(3, 2),
        new nn.Flatten(), new nn.Linear(4, 3),
      );
      for (const n of [3, 17]) {
        const x = torch.randn([n, 1, 29, 29]);
        const fused = run(net, x, true);
        const plain = run(net, x, false);
        fused.forEach((f, i) => assertClose(f, plain[i], { rtol: 1e-4, atol: 1e-6 }));
      }
      const y = net.forward(torch.randn([2, 1, 29, 29]));
      const chain: string[] = [];
      for (let t: torch.Tensor | undefined = y; t?.gradFn; t = t.gradFn.inputs.find((i) => i.gradFn)) chain.push(t.gradFn.name);
      assert.deepEqual(chain.filter((c) => c.includes('Pool')), ['ConvolutionTanhAvgPool2D', 'ConvolutionReluAvgPool2D', 'ConvolutionSigmoidAvgPool2D']);
      // Under no_grad the pool's input is not kept.
      const x2 = torch.randn([2, 1, 29, 29]);
      const before = torch.memoryStats().liveCount;
      torch.noGrad(() => net.forward(x2).dispose());
      assert.equal(torch.memoryStats().liveCount, before, 'no storage outlives the forward');
    });
  });
}

for (const backend of listBackends().filter((b) => getBackend(b)?.device.type === 'cpu')) {
  test(`fused conv+activation+max pool equals the three layers, gradients included [${backend}]`, () => {
    const ran: string[] = [];
    setKernelTableWrapper((k) => Object.fromEntries(Object.entries(k).map(([name, f]) => [name, typeof f === 'function' && name === 'maxPoolActivationBackward'
      ? (...a: unknown[]) => {
        const r = (f as (...args: unknown[]) => unknown)(...a);
        ran.push(r === null ? 'declined' : 'ran');
        return r;
      }
      : f])) as typeof k);
    try {
      withBackend(backend, () => {
        torch.manualSeed(8);
        // AlexNet's overlapping 3x3 stride-2 pool after a ReLU (16 channels: a blocked layout on
        // the cpu backend), a padded one on 8 channels, and a Tanh (the cpu kernel declines it)
        // whose pool's output a Flatten reads.
        const net = new nn.Sequential(
          new nn.Conv2d(2, 16, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(3, 2),
          new nn.Conv2d(16, 8, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2, { stride: 2, padding: 1 }),
          new nn.Conv2d(8, 4, 1), new nn.Tanh(), new nn.MaxPool2d(2),
          new nn.Flatten(), new nn.Linear(4 * 2 * 2, 3),
        );
        for (const n of [2, 5]) {
          const x = torch.randn([n, 2, 19, 19]);
          const fused = run(net, x, true);
          const plain = run(net, x, false);
          fused.forEach((f, i) => assertClose(f, plain[i], { rtol: 1e-4, atol: 1e-6 }));
        }
        const y = net.forward(torch.randn([2, 2, 19, 19]));
        const chain: string[] = [];
        for (let t: torch.Tensor | undefined = y; t?.gradFn; t = t.gradFn.inputs.find((i) => i.gradFn)) chain.push(t.gradFn.name);
        assert.deepEqual(chain.filter((c) => c.includes('Pool')), ['ConvolutionTanhMaxPool2D', 'ConvolutionReluMaxPool2D', 'ConvolutionReluMaxPool2D']);
      });
      if (backend === 'cpu') {
        assert.ok(ran.filter((r) => r === 'ran').length >= 4, `the ReLU pools' gradients ran as one kernel (${ran.join(', ')})`);
        assert.ok(ran.includes('declined'), 'the Tanh pool\'s was declined');
      }
    } finally {
      setKernelTableWrapper(null);
    }
  });
}

test('a nested Sequential ending in Conv2d + ReLU fuses with the MaxPool2d after it (NiN\'s blocks), values, gradients and error locations as the layers\'', () => {
  torch.manualSeed(9);
  const block = (cin: number, cout: number): torch.nn.Sequential => new nn.Sequential(
    new nn.Conv2d(cin, cout, 3, { padding: 1 }), new nn.ReLU(), new nn.Conv2d(cout, cout, 1), new nn.ReLU());
  const net = new nn.Sequential(block(1, 16), new nn.MaxPool2d(3, 2), block(16, 8), new nn.AvgPool2d(2), new nn.Flatten(), new nn.Linear(8 * 3 * 3, 3));
  const x = torch.randn([3, 1, 13, 13]);
  const fused = run(net, x, true);
  const plain = run(net, x, false);
  fused.forEach((f, i) => assertClose(f, plain[i], { rtol: 1e-4, atol: 1e-6 }));
  const y = net.forward(x);
  const chain: string[] = [];
  for (let t: torch.Tensor | undefined = y; t?.gradFn; t = t.gradFn.inputs.find((i) => i.gradFn)) chain.push(t.gradFn.name);
  assert.deepEqual(chain.filter((c) => c.includes('Pool')), ['ConvolutionReluAvgPool2D', 'ConvolutionReluMaxPool2D']);
  assert.throws(() => net.forward(torch.rand([1, 2, 13, 13])), /^LayerError: Conv2d\(1→16, k=3, p=1\) at net\[0\]\[0\]: expected 1 input channels, got 2/);
  // A pool the block's last convolution cannot take runs after the block as a layer of its own.
  const tooSmall = new nn.Sequential(block(1, 2), new nn.MaxPool2d(5));
  assert.throws(() => tooSmall.forward(torch.rand([1, 1, 4, 4])), /MaxPool2d\(k=5, s=5\) at net\[1\]/);
});

test('LeNet\'s first block on the cpu backend: conv + sigmoid + pool run as one kernel each way once the plan is decided, with the layers\' values', { skip: getBackend('cpu') ? false : 'native cpu addon not available' }, () => {
  const calls = countKernelCalls();
  try {
    torch.manualSeed(6);
    const net = new nn.Sequential(new nn.Conv2d(1, 6, 5, { padding: 2 }), new nn.Sigmoid(), new nn.AvgPool2d(2, 2), new nn.Flatten(), new nn.Linear(6 * 14 * 14, 3));
    const x = torch.randn([9, 1, 28, 28]);
    // The input needs no gradient, as a network's input: the weight gradient comes from the pooled one.
    const step = (fused: boolean): Float32Array[] => {
      Sequential.fuseActivations = fused;
      try {
        net.zeroGrad();
        const y = net.forward(x);
        y.mul(torch.arange(0, y.numel()).reshape([...y.shape]).mul(0.01)).sum().backward();
        return [y.hostView().slice(), ...net.parameters().map((p) => (p.grad as torch.Tensor).hostView().slice())];
      } finally {
        Sequential.fuseActivations = true;
      }
    };
    const want = withBackend('reference', () => step(false));
    withBackend('cpu', () => {
      for (let i = 0; i < 3; i++) step(true).forEach((g, j) => assertClose(g, want[j], { rtol: 1e-4, atol: 1e-6 }));
      step(false).forEach((g, j) => assertClose(g, want[j], { rtol: 1e-4, atol: 1e-6 }));
    });
    // The first call decides the convolution's plan (direct, for 1 -> 6 channels) through the separate kernels.
    assert.ok((calls.get('conv2dAvgPool') ?? 0) >= 1, `the fused forward ran (${JSON.stringify([...calls])})`);
    assert.ok((calls.get('conv2dAvgPoolBackwardWeight') ?? 0) >= 1, 'the fused weight gradient ran');
  } finally {
    setKernelTableWrapper(null);
  }
});

for (const backend of listBackends().filter((b) => getBackend(b)?.device.type === 'cpu')) {
  test(`fused batch norm+activation+average pool equals the three layers: values, gradients, running statistics, eval [${backend}]`, () => {
    withBackend(backend, () => {
      torch.manualSeed(8);
      // LeNet-BN's blocks (24x24 planes: the cpu backend's fused passes; 8x8: its separate kernels),
      // an odd plane with ReLU, and a 3x3 pool (the layers' ops inside the node).
      const net = new nn.Sequential(
        new nn.Conv2d(1, 6, 5), new nn.BatchNorm2d(6), new nn.Sigmoid(), new nn.AvgPool2d(2, { stride: 2 }),
        new nn.Conv2d(6, 16, 5), new nn.BatchNorm2d(16), new nn.Sigmoid(), new nn.AvgPool2d(2, { stride: 2 }),
        new nn.Conv2d(16, 4, 1), new nn.BatchNorm2d(4), new nn.ReLU(), new nn.AvgPool2d(3, 1),
        new nn.Flatten(), new nn.Linear(4 * 2 * 2, 3),
      );
      const x = torch.randn([5, 1, 28, 28]);
      for (const training of [true, false]) {
        net.train(training);
        const snapshot = (): Map<string, Float32Array> => new Map([...net.stateDict()].map(([k, t]) => [k, t.hostView().slice()]));
        // The state dict holds the module's own tensors: keep a copy to start both runs from.
        const state = new Map([...net.stateDict()].map(([k, t]) => [k, t.clone()]));
        const fused = run(net, x, true);
        const after = snapshot();
        net.loadStateDict(state);
        const plain = run(net, x, false);
        fused.forEach((f, i) => assertClose(f, plain[i], { rtol: 1e-4, atol: 1e-5 }));
        for (const [key, v] of snapshot()) assertClose(after.get(key) as Float32Array, v, { rtol: 1e-5, atol: 1e-7 });
      }
      net.train();
      const y = net.forward(x);
      const chain: string[] = [];
      for (let t: torch.Tensor | undefined = y; t?.gradFn; t = t.gradFn.inputs.find((i) => i.gradFn)) chain.push(t.gradFn.name);
      // Only the cpu backend has the fused kernels, and they take the 24x24 planes alone; where they
      // decline, the node is the layers' own ops.
      const first = backend === 'cpu' ? 'NativeBatchNormSigmoidAvgPool2D' : 'AvgPool2D';
      assert.deepEqual(chain.filter((c) => c.includes('Pool')), ['AvgPool2D', 'AvgPool2D', first]);
      net.eval();
      const ye = net.forward(x);
      const evalChain: string[] = [];
      for (let t: torch.Tensor | undefined = ye; t?.gradFn; t = t.gradFn.inputs.find((i) => i.gradFn)) evalChain.push(t.gradFn.name);
      assert.ok(!evalChain.some((c) => c.includes('NativeBatchNorm') && c.includes('Pool')), `eval runs the layers (${evalChain.join(', ')})`);
    });
  });
}

test('LeNet-BN\'s first batch norm on the cpu backend runs its pool in the same kernel each way', { skip: getBackend('cpu') ? false : 'native cpu addon not available' }, () => {
  const calls = countKernelCalls();
  try {
    torch.manualSeed(10);
    const net = torch.models.lenetBN();
    const x = torch.randn([7, 1, 28, 28]);
    const want = withBackend('reference', () => run(net, x, false));
    const state = net.stateDict();
    withBackend('cpu', () => {
      net.loadStateDict(state);
      run(net, x, true).forEach((g, j) => assertClose(g, want[j], { rtol: 1e-4, atol: 1e-5 }));
    });
    assert.equal(calls.get('batchNormAvgPoolTrain'), 1, `one fused forward (${JSON.stringify([...calls])})`);
    assert.equal(calls.get('batchNormAvgPoolBackward'), 1, 'one fused backward');
  } finally {
    setKernelTableWrapper(null);
  }
});

test('a pool the fused node cannot take (padded, or larger than the convolution\'s output) runs as the layers do', () => {
  const net = new nn.Sequential(new nn.Conv2d(1, 2, 3), new nn.Sigmoid(), new nn.AvgPool2d(2, { stride: 2, padding: 1 }));
  const y = net.forward(torch.rand([1, 1, 8, 8]));
  assert.equal(y.gradFn?.name, 'AvgPool2D');
  const small = new nn.Sequential(new nn.Conv2d(1, 2, 3), new nn.ReLU(), new nn.AvgPool2d(4));
  assert.throws(() => small.forward(torch.rand([1, 1, 5, 5])), /AvgPool2d/);
});

test('fusion does not change what iterating the layers sees, nor error locations', () => {
  const net = new nn.Sequential(new nn.Conv2d(1, 2, 3), new nn.ReLU(), new nn.Conv2d(3, 2, 3), new nn.Sigmoid());
  assert.deepEqual([...net].map((l) => l.constructor.name), ['Conv2d', 'ReLU', 'Conv2d', 'Sigmoid']);
  assert.throws(() => net.forward(torch.rand([1, 1, 8, 8])), /^LayerError: Conv2d\(3→2, k=3\) at net\[2\]: expected 3 input channels, got 2/);
});
