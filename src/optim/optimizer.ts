import { Tensor } from '../tensor.js';
import { clearGrads, type Parameter } from '../nn/parameter.js';
import type { Storage } from '../backend/storage.js';
import { fullOn } from '../ops/creation-on.js';
import { noGrad } from '../autograd/grad-mode.js';
import { keep } from '../memory.js';

/** Per-parameter optimiser state: named tensors on the parameter's device (momentum_buffer, exp_avg) and numbers (step). */
export type ParamState = Record<string, Tensor | number>;

export interface OptimizerState {
  /** State per parameter, in the order the parameters were given. */
  state: Array<ParamState | null>;
  hyper: Record<string, number | boolean>;
}

/** Base class: holds the parameters and their state; subclasses define the update. */
export abstract class Optimizer {
  readonly params: Parameter[];
  protected state: Array<ParamState | null>;

  constructor(params: Iterable<Parameter>) {
    this.params = [...params];
    if (this.params.length === 0) throw new Error(`${this.constructor.name}: got an empty parameter list`);
    this.state = this.params.map(() => null);
  }

  abstract step(): void;

  /** Clear gradients (set to null, disposing the old ones; see clearGrads). */
  zeroGrad(): void {
    clearGrads(this.params);
  }

  protected abstract hyper(): Record<string, number | boolean>;

  stateDict(): OptimizerState {
    return {
      state: this.state.map((s) => (s ? Object.fromEntries(Object.entries(s).map(([k, v]) => [k, typeof v === 'number' ? v : noGrad(() => v.clone())])) : null)),
      hyper: this.hyper(),
    };
  }

  /** Copy state in; tensors (from any device) are copied onto each parameter's device. */
  loadStateDict(sd: OptimizerState): void {
    if (sd.state.length !== this.params.length) {
      throw new Error(`${this.constructor.name}.loadStateDict: state has ${sd.state.length} parameters, optimizer has ${this.params.length}`);
    }
    this.state = sd.state.map((s, i) => {
      if (!s) return null;
      const p = this.params[i];
      for (const [k, v] of Object.entries(s)) {
        if (typeof v !== 'number' && v.numel() !== p.numel()) {
          throw new Error(`${this.constructor.name}.loadStateDict: state '${k}' of parameter ${i} has ${v.numel()} values, parameter has ${p.numel()}`);
        }
      }
      return Object.fromEntries(Object.entries(s).map(([k, v]) => [k, typeof v === 'number' ? v : this.stateTensor(p, 0).copy_(v)]));
    });
  }

  /** A state tensor beside p (same device), filled with value, that outlives any tidy() scope. */
  protected stateTensor(p: Tensor, value: number): Tensor {
    return keep(fullOn(p.shape, value, p));
  }

  /** State tensor `name` of parameter i, moved to the parameter's device if the module moved since. */
  protected stateOn(p: Tensor, st: ParamState, name: string): Storage {
    const t = st[name] as Tensor;
    if (t.device !== p.device) t.moveTo_(p.device);
    return t.storage;
  }

  protected gradOf(p: Tensor, i: number): Storage | null {
    if (!p.grad) return null;
    if (p.grad.numel() !== p.numel()) throw new Error(`${this.constructor.name}: gradient of parameter ${i} has ${p.grad.numel()} values, parameter has ${p.numel()}`);
    if (p.grad.device !== p.device) throw new Error(`${this.constructor.name}: gradient of parameter ${i} is on ${p.grad.device}, parameter on ${p.device}`);
    return p.grad.storage;
  }
}
