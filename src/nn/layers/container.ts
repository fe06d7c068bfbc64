/** Containers: Sequential (iterable and indexable like torch's) and ModuleList. */
import type { Tensor } from '../../tensor.js';
import { Module, callChild } from '../module.js';

export class Sequential extends Module {
  /** Children are stored under "0", "1", … exactly as torch names them in state_dict keys. */
  [index: number]: Module;

  constructor(...layers: Module[]) {
    super();
    layers.forEach((layer, i) => this.append(layer, i));
  }

  private append(layer: Module, i: number): void {
    if (!(layer instanceof Module)) throw new Error(`Sequential: argument ${i} is not a Module`);
    (this as unknown as Record<string, Module>)[String(i)] = layer;
  }

  get length(): number {
    return this.children().length;
  }

  /** net.at(-1) for the last layer, like Python's net[-1]. */
  at(i: number): Module {
    const list = this.children();
    const m = list[i < 0 ? i + list.length : i];
    if (!m) throw new Error(`Sequential: index ${i} is out of range for ${list.length} layers`);
    return m;
  }

  push(layer: Module): this {
    this.append(layer, this.length);
    return this;
  }

  [Symbol.iterator](): Iterator<Module> {
    return this.children()[Symbol.iterator]();
  }

  forward(x: Tensor): Tensor {
    let out = x;
    this.children().forEach((layer, i) => {
      out = callChild(layer, `[${i}]`, out);
    });
    return out;
  }
}

export class ModuleList extends Module {
  [index: number]: Module;

  constructor(modules: Module[] = []) {
    super();
    modules.forEach((m, i) => ((this as unknown as Record<string, Module>)[String(i)] = m));
  }

  get length(): number {
    return this.children().length;
  }

  [Symbol.iterator](): Iterator<Module> {
    return this.children()[Symbol.iterator]();
  }

  forward(): Tensor {
    throw new Error('ModuleList has no forward(); iterate over it and call each module');
  }
}
