/**
 * Kink alignment for parity tests of piecewise-linear networks.
 *
 * In a big ReLU network a few ReLU inputs lie within float32 rounding of zero,
 * and a few max-pool windows hold two inputs within rounding of each other.
 * Another correct implementation may decide such a kink the other way, which
 * moves the gradients below it by far more than 1e-4 (a whole upstream
 * gradient element is let through, blocked or sent elsewhere).
 *
 * scripts/zoo_parity.py records, per F.relu / F.max_pool2d call in forward
 * order, the elements within tau * max|x| of a kink and PyTorch's decision.
 * withKinkAlignment runs torchlet with Tensor.prototype.relu and
 * MaxPool2d.prototype.forward patched so that, only where torchlet's own
 * decision differs at one of those elements, a correction term puts the result
 * on PyTorch's branch:
 *   relu:    y = relu(x) + c * x, c = ±1 at the element, 0 elsewhere;
 *   maxpool: y = pool(x) + onehot(o) * (x[PyTorch's choice] - x[torchlet's choice]).
 * Value and gradient are then those of PyTorch's branch, while everywhere else
 * the real relu / max-pool kernels run, forward and backward, untouched.
 *
 * On a device the host cannot read synchronously (the gpu) the same terms are
 * built without reading values: the relu correction is
 *   c = P·[x ≤ 0] − N·[x > 0]
 * for one-hot masks P, N of the elements PyTorch put on the positive and the
 * negative side, and the max-pool correction is e_o·(x[PyTorch's choice] − y[o]),
 * whose value and gradient vanish where torchlet already chose the same input.
 * Which kinks were flipped is then not known, so `aligned` lists none for them.
 */
import { Tensor } from '../../src/tensor.js';
import { MaxPool2d } from '../../src/nn/layers/pool.js';

/** Per relu call: [flat indices, 1 if PyTorch's x > 0 else 0]. */
export type ReluKinks = Array<[number[], number[]]>;
/** Per max-pool call: [output index, input index PyTorch chose, candidate input indices in window order][]. */
export type PoolTies = Array<Array<[number, number, number[]]>>;

export interface KinkReport {
  reluCalls: number;
  poolCalls: number;
  /** Near-kink elements / near-tie windows PyTorch reported. */
  near: number;
  /** Where torchlet decided differently and was aligned. */
  aligned: string[];
  /** Near-kinks put on PyTorch's branch on a device, without knowing whether torchlet's decision differed. */
  onDevice?: number;
}

export function withKinkAlignment<T>(relu: ReluKinks, pool: PoolTies, fn: () => T): { result: T; report: KinkReport } {
  const tproto = Tensor.prototype as unknown as { relu: (this: Tensor) => Tensor };
  const pproto = MaxPool2d.prototype as unknown as { forward: (this: MaxPool2d, x: Tensor) => Tensor };
  const origRelu = tproto.relu;
  const origPool = pproto.forward;
  const near = relu.reduce((s, k) => s + k[0].length, 0) + pool.reduce((s, k) => s + k.length, 0);
  const report: KinkReport = { reluCalls: 0, poolCalls: 0, near, aligned: [] };

  tproto.relu = function patchedRelu(this: Tensor): Tensor {
    const y = origRelu.call(this);
    const call = report.reluCalls++;
    const k = relu[call];
    if (!k || k[0].length === 0) return y;
    if (!this.storage.backend.readSync) {
      const pos = new Float32Array(this.numel());
      const neg = new Float32Array(this.numel());
      k[0].forEach((idx, j) => ((k[1][j] === 1 ? pos : neg)[idx] = 1));
      const dev = this.device;
      const c = new Tensor(pos, this.shape).to(dev).mul(this.le(0)).sub(new Tensor(neg, this.shape).to(dev).mul(this.gt(0)));
      report.onDevice = (report.onDevice ?? 0) + k[0].length;
      return y.add(this.mul(c));
    }
    const x = this.hostView();
    let c: Float32Array | null = null;
    k[0].forEach((idx, j) => {
      const torchPositive = k[1][j] === 1;
      if (torchPositive !== x[idx] > 0) {
        c ??= new Float32Array(x.length);
        c[idx] = torchPositive ? 1 : -1;
        report.aligned.push(`relu call ${call} element ${idx} (x = ${x[idx].toExponential(2)})`);
      }
    });
    return c ? y.add(this.mul(new Tensor(c, this.shape))) : y;
  };

  pproto.forward = function patchedPool(this: MaxPool2d, x: Tensor): Tensor {
    const y = origPool.call(this, x);
    const call = report.poolCalls++;
    const ties = pool[call];
    if (!ties || ties.length === 0) return y;
    if (!x.storage.backend.readSync) {
      let out = y;
      const dev = x.device;
      for (const [o, choice] of ties) {
        const m = new Float32Array(x.numel());
        m[choice] = 1;
        const e = new Float32Array(y.numel());
        e[o] = 1;
        const eo = new Tensor(e, y.shape).to(dev);
        out = out.add(x.mul(new Tensor(m, x.shape).to(dev)).sum().sub(y.mul(eo).sum()).mul(eo));
      }
      report.onDevice = (report.onDevice ?? 0) + ties.length;
      return out;
    }
    const xs = x.hostView();
    let out = y;
    for (const [o, choice, cands] of ties) {
      // torchlet's choice: the first maximum in window order, as its kernels (and PyTorch's) break ties.
      let ours = -1;
      for (const j of cands) if (ours < 0 || xs[j] > xs[ours]) ours = j;
      if (y.hostView()[o] !== xs[ours]) {
        throw new Error(`max-pool call ${call}, output ${o}: torchlet's maximum ${y.hostView()[o]} is not among PyTorch's near-tie candidates ${JSON.stringify(cands)} — the inputs differ by more than the kink tolerance`);
      }
      if (ours === choice) continue;
      const m = new Float32Array(xs.length);
      m[choice] = 1;
      m[ours] = -1;
      const e = new Float32Array(y.numel());
      e[o] = 1;
      out = out.add(x.mul(new Tensor(m, x.shape)).sum().mul(new Tensor(e, y.shape)));
      report.aligned.push(`max-pool call ${call} output ${o} (${xs[choice]} vs ${xs[ours]})`);
    }
    return out;
  };

  try {
    return { result: fn(), report };
  } finally {
    tproto.relu = origRelu;
    pproto.forward = origPool;
  }
}
