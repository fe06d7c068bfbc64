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
