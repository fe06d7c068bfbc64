/**
 * One forward pass of a module in eval mode, recorded op by op, each op
 * tagged with the module whose forward ran it. This is "trace the module
 * graph": whatever the forward does — layers, F.relu, cat, view, arithmetic —
 * is what gets recorded, so no zoo model is mapped by hand.
 */
import type { Tensor } from '../../tensor.js';
import type { Storage } from '../../backend/storage.js';
import type { Module } from '../../nn/module.js';
import { withForwardHooks, type ModuleCall } from '../../nn/hooks.js';
import { withTracer, type TracedOp } from '../../ops/trace.js';
import { noGrad } from '../../autograd/grad-mode.js';
import { collectCreated, keep } from '../../memory.js';

export interface LocatedOp extends TracedOp {
  /** The state_dict-style name of the innermost module running the op ('' for the root). */
  readonly where: string;
  readonly module: Module;
}

export interface ForwardTrace {
  readonly input: Tensor;
  readonly output: Tensor;
  readonly ops: readonly LocatedOp[];
  /** Parameters and buffers by tensor, named by their state_dict keys. */
  readonly stateNames: ReadonlyMap<Tensor, string>;
  /**
   * Tensors the forward read that no op made (scalars, constants it built), with their values
   * when the host could read them at once. Those on a device are kept alive for reading later;
   * release() lets them go.
   */
  readonly constants: ReadonlyMap<Tensor, Float32Array | null>;
  release(): void;
}

export class UntraceableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UntraceableError';
  }
}

export function describeWhere(module: Module, where: string): string {
  return `${module.describe()} at ${where === '' ? 'the top level' : `net.${where}`}`;
}

export function traceForward(net: Module, input: Tensor): ForwardTrace {
  const stateNames = new Map<Tensor, string>();
  for (const [name, t] of net.stateDict()) stateNames.set(t, name);
  const produced = new Set<Tensor>([input]);
  const producedStorage = new Map<Storage, Tensor>([[input.storage, input]]);
  const constants = new Map<Tensor, Float32Array | null>();
  const keptHere: Tensor[] = [];
  const ops: LocatedOp[] = [];
  const stack: ModuleCall[] = [];
  const modes = net.modules().map((m) => [m, m.training] as const);
  net.eval();
  const onOp = (op: TracedOp): void => {
    const call = stack[stack.length - 1];
    const located: LocatedOp = { ...op, where: call?.path ?? '', module: call?.module ?? net };
    for (const t of op.inputs) {
      if (produced.has(t) || stateNames.has(t)) continue;
      // A tensor sharing a traced value's storage was made from it by something the trace did
      // not see (a kernel called directly): baking it in as a constant would freeze its values.
      const source = producedStorage.get(t.storage);
      if (source && !source.isDisposed) {
        throw new UntraceableError(`${describeWhere(located.module, located.where)}: '${op.op}' reads a tensor derived from the input outside any traced op; express it with tensor ops`);
      }
      // Snapshot now: containers release what forward made as soon as they return.
      if (t.storage.backend.readSync) constants.set(t, t.dataSync());
      else {
        constants.set(t, null);
        keptHere.push(keep(t));
      }
      produced.add(t);
    }
    produced.add(op.output);
    producedStorage.set(op.output.storage, op.output);
    ops.push(located);
  };
  let created = new Set<unknown>();
  // Kept device constants made by this forward are disposed; the caller's own tensors never are.
  const release = (): void => {
    for (const t of keptHere) if (created.has(t)) t.dispose();
  };
  try {
    const run = collectCreated(() => noGrad(() => withForwardHooks(net, {
      before: (call) => stack.push(call),
      after: () => stack.pop(),
    }, () => withTracer(onOp, () => net.forward(input)))));
    created = run.created;
    const output = run.result;
    if (!produced.has(output) && !stateNames.has(output)) {
      throw new UntraceableError(`the model's output was not made by any traced op (did forward() build it from raw values?)`);
    }
    return { input, output, ops, stateNames, constants, release };
  } catch (err) {
    release();
    throw err;
  } finally {
    for (const [m, mode] of modes) m.training = mode;
  }
}
