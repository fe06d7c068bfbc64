/**
 * Forward hooks on a whole module tree for the length of one call: what
 * torch's register_forward_pre_hook / register_forward_hook give torchinfo and
 * torch.onnx. Parents call their children's forward() directly (there is no
 * __call__ to hook), so each module's forward is wrapped while fn runs and
 * restored after. Fused Conv/BatchNorm + activation pairs run as separate
 * layers meanwhile, so every module is seen.
 */
import type { Tensor } from '../tensor.js';
import type { Module } from './module.js';
import { Sequential } from './layers/container.js';

export interface ModuleCall {
  /** The module's name in the tree, as in state_dict keys ('' for the root, '2.0.p1_1' inside). */
  readonly path: string;
  readonly module: Module;
  /** 0 for the root, 1 for its children, … */
  readonly depth: number;
  readonly inputs: readonly Tensor[];
}

export interface ForwardHooks {
  before?(call: ModuleCall): void;
  after?(call: ModuleCall, output: Tensor): void;
}

type Forward = (...inputs: Tensor[]) => Tensor;

export function withForwardHooks<T>(root: Module, hooks: ForwardHooks, fn: () => T): T {
  const restore: Array<() => void> = [];
  const seen = new Set<Module>();
  for (const [path, module] of root.namedModules()) {
    // A module shared by two parents is wrapped once, under its first name (as torch names it).
    if (seen.has(module)) continue;
    seen.add(module);
    const depth = path === '' ? 0 : path.split('.').length;
    const original = module.forward;
    const wrapped: Forward = (...inputs) => {
      const call: ModuleCall = { path, module, depth, inputs };
      hooks.before?.(call);
      const output = original.apply(module, inputs);
      hooks.after?.(call, output);
      return output;
    };
    const own = Object.getOwnPropertyDescriptor(module, 'forward');
    // Not enumerable: the module's fields are its children and parameters, and stay so.
    Object.defineProperty(module, 'forward', { value: wrapped, configurable: true, writable: true, enumerable: false });
    restore.push(() => {
      if (own) Object.defineProperty(module, 'forward', own);
      else delete (module as { forward?: Forward }).forward;
    });
  }
  const fuse = Sequential.fuseActivations;
  Sequential.fuseActivations = false;
  try {
    return fn();
  } finally {
    Sequential.fuseActivations = fuse;
    for (const undo of restore) undo();
  }
}
