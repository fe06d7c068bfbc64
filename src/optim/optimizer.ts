import type { Tensor } from '../tensor.js';
import type { Parameter } from '../nn/parameter.js';

/** Per-parameter optimiser state, as named tensors (e.g. momentum_buffer, exp_avg). */
export type ParamState = Record<string, Float32Array | number>;

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

  /** Clear gradients (set to null, torch's set_to_none=True default). */
  zeroGrad(): void {
    for (const p of this.params) p.grad = null;
  }

  protected abstract hyper(): Record<string, number | boolean>;

  stateDict(): OptimizerState {
    return {
      state: this.state.map((s) => (s ? Object.fromEntries(Object.entries(s).map(([k, v]) => [k, typeof v === 'number' ? v : v.slice()])) : null)),
      hyper: this.hyper(),
    };
  }

  loadStateDict(sd: OptimizerState): void {
    if (sd.state.length !== this.params.length) {
      throw new Error(`${this.constructor.name}.loadStateDict: state has ${sd.state.length} parameters, optimizer has ${this.params.length}`);
    }
    this.state = sd.state.map((s, i) => {
      if (!s) return null;
      for (const v of Object.values(s)) {
        if (typeof v !== 'number' && v.length !== this.params[i].numel()) {
          throw new Error(`${this.constructor.name}.loadStateDict: state of parameter ${i} has ${v.length} values, parameter has ${this.params[i].numel()}`);
        }
      }
      return { ...s };
    });
  }

  protected gradOf(p: Tensor, i: number): Float32Array | null {
    if (!p.grad) return null;
    if (p.grad.numel() !== p.numel()) throw new Error(`${this.constructor.name}: gradient of parameter ${i} has ${p.grad.numel()} values, parameter has ${p.numel()}`);
    return p.grad.storage;
  }
}
