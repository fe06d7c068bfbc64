/**
 * Module: the torch.nn.Module of torchlet.
 *
 * Children and parameters are found by looking at the module's own fields
 * (`this.conv1 = new Conv2d(...)`, `this.weight = new Parameter(...)`), in
 * assignment order, the way PyTorch's __setattr__ registers them — so custom
 * modules need no registration calls. Buffers (state that is saved but not
 * trained, like BatchNorm's running statistics) are declared with
 * registerBuffer, as in PyTorch.
 */
import { Tensor } from '../tensor.js';
import { Parameter, clearGrads } from './parameter.js';
import { keep } from '../memory.js';
import { LayerError } from './errors.js';
import { shapeStr } from '../shape.js';
import { CPU, device as toDevice, type Device, type DeviceLike } from '../device.js';

export type StateDict = Map<string, Tensor>;

export abstract class Module {
  training = true;
  private readonly bufferNames = new Set<string>();

  abstract forward(...inputs: Tensor[]): Tensor;

  /** Extra text inside the repr's parentheses (torch's extra_repr). */
  extraRepr(): string {
    return '';
  }

  /** Short description used in error messages, e.g. `Conv2d(6→16, k=5)`. */
  describe(): string {
    const extra = this.extraRepr();
    return `${this.constructor.name}(${extra})`;
  }

  // ---------- registration by field ----------

  protected registerBuffer(name: string, value: Tensor | null): void {
    this.bufferNames.add(name);
    (this as unknown as Record<string, unknown>)[name] = value ? keep(value) : value;
  }

  private fields(): Array<[string, unknown]> {
    return Object.entries(this).filter(([k]) => k !== 'bufferNames' && k !== 'training');
  }

  namedChildren(): Array<[string, Module]> {
    return this.fields().filter((e): e is [string, Module] => e[1] instanceof Module);
  }

  children(): Module[] {
    return this.namedChildren().map(([, m]) => m);
  }

  /** Every module in the tree, this one first (torch's named_modules). */
  namedModules(prefix = ''): Array<[string, Module]> {
    const out: Array<[string, Module]> = [[prefix, this]];
    for (const [name, child] of this.namedChildren()) {
      out.push(...child.namedModules(prefix ? `${prefix}.${name}` : name));
    }
    return out;
  }

  modules(): Module[] {
    return this.namedModules().map(([, m]) => m);
  }

  /** This module's own parameters, without children's. */
  ownParameters(): Array<[string, Parameter]> {
    return this.fields().filter((e): e is [string, Parameter] => e[1] instanceof Parameter);
  }

  namedParameters(prefix = ''): Array<[string, Parameter]> {
    const out: Array<[string, Parameter]> = [];
    const seen = new Set<Parameter>();
    for (const [modName, mod] of this.namedModules(prefix)) {
      for (const [name, p] of mod.ownParameters()) {
        if (seen.has(p)) continue;
        seen.add(p);
        out.push([modName ? `${modName}.${name}` : name, p]);
      }
    }
    return out;
  }

  parameters(): Parameter[] {
    return this.namedParameters().map(([, p]) => p);
  }

  namedBuffers(prefix = ''): Array<[string, Tensor]> {
    const out: Array<[string, Tensor]> = [];
    for (const [modName, mod] of this.namedModules(prefix)) {
      for (const name of mod.bufferNames) {
        const b = (mod as unknown as Record<string, unknown>)[name];
        if (b instanceof Tensor) out.push([modName ? `${modName}.${name}` : name, b]);
      }
    }
    return out;
  }

  // ---------- modes and utilities ----------

  /** Apply fn to every submodule (children first) and then this module, like torch's apply. */
  apply(fn: (m: Module) => void): this {
    for (const child of this.children()) child.apply(fn);
    fn(this);
    return this;
  }

  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Clear gradients (set to null, disposing the old ones; see clearGrads). */
  zeroGrad(): void {
    clearGrads(this.parameters());
  }

  /**
   * Move every parameter and buffer to a device in place (torch's module.to): the Parameter
   * objects stay the same, so an optimiser built before the move keeps working.
   */
  to(where: DeviceLike): this {
    const dev = toDevice(where);
    for (const p of this.parameters()) {
      p.moveTo_(dev);
      p.grad?.moveTo_(dev);
    }
    for (const [, b] of this.namedBuffers()) b.moveTo_(dev);
    return this;
  }

  /** The device of the first parameter (cpu for a module without any). */
  get device(): Device {
    return this.parameters()[0]?.device ?? CPU;
  }

  // ---------- state dict (PyTorch key names) ----------

  stateDict(): StateDict {
    const out: StateDict = new Map();
    const params = new Map(this.namedParameters());
    const buffers = new Map(this.namedBuffers());
    // Match torch's order: per module, parameters then buffers.
    for (const [modName] of this.namedModules()) {
      const pre = modName ? `${modName}.` : '';
      for (const [k, v] of params) if (k.startsWith(pre) && !k.slice(pre.length).includes('.')) out.set(k, v);
      for (const [k, v] of buffers) if (k.startsWith(pre) && !k.slice(pre.length).includes('.')) out.set(k, v);
    }
    return out;
  }

  /**
   * Copy values in by name. With strict (the default) missing or unexpected
   * keys are an error listing them, and every shape must match.
   */
  loadStateDict(state: ReadonlyMap<string, Tensor> | Record<string, Tensor>, strict = true): { missingKeys: string[]; unexpectedKeys: string[] } {
    const entries: ReadonlyMap<string, Tensor> = isMapLike(state) ? state : new Map(Object.entries(state));
    const own = this.stateDict();
    const missingKeys = [...own.keys()].filter((k) => !entries.has(k));
    const unexpectedKeys = [...entries.keys()].filter((k) => !own.has(k));
    if (strict && (missingKeys.length > 0 || unexpectedKeys.length > 0)) {
      const parts: string[] = [];
      if (missingKeys.length) parts.push(`missing keys: ${missingKeys.join(', ')}`);
      if (unexpectedKeys.length) parts.push(`unexpected keys: ${unexpectedKeys.join(', ')}`);
      throw new Error(`loadStateDict (${this.constructor.name}): ${parts.join('; ')}`);
    }
    for (const [k, target] of own) {
      const src = entries.get(k);
      if (!src) continue;
      if (src.numel() !== target.numel() || src.ndim !== target.ndim || src.shape.some((d, i) => d !== target.shape[i])) {
        throw new Error(`loadStateDict: size mismatch for ${k}: checkpoint has ${shapeStr(src.shape)}, model has ${shapeStr(target.shape)}`);
      }
      target.copy_(src);
    }
    return { missingKeys, unexpectedKeys };
  }

  // ---------- printing ----------

  toString(): string {
    const children = this.namedChildren();
    const extra = this.extraRepr();
    if (children.length === 0) return `${this.constructor.name}(${extra})`;
    const lines = children.map(([name, m]) => `  (${name}): ${m.toString().split('\n').join('\n  ')}`);
    return `${this.constructor.name}(${extra ? `\n  ${extra}` : ''}\n${lines.join('\n')}\n)`;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }
}

function isMapLike(x: unknown): x is ReadonlyMap<string, Tensor> {
  return x instanceof Map;
}

/** Call child(x), attributing any error to the child's place in the tree. */
export function callChild(child: Module, segment: string, ...inputs: Tensor[]): Tensor {
  return withLocation(child, segment, () => child.forward(...inputs));
}

/** Run fn on behalf of child; errors it raises name the child and its place (e.g. `Conv2d(6→16, k=5) at net[3]: …`). */
export function withLocation<T>(child: Module, segment: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof LayerError) throw err.within(segment);
    if (err instanceof Error) {
      const e = new LayerError(child.describe(), err.message, [segment]);
      e.stack = err.stack;
      throw e;
    }
    throw err;
  }
}
