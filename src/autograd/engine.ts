/**
 * Reverse-mode autodiff over the graph recorded by ops (micrograd's algorithm:
 * topological order, then each node hands its output gradient to its inputs).
 *
 * Gradients made during the pass are freed as soon as they are consumed, so a
 * backward holds only the gradients still waiting for their node: a node's
 * temporaries go when its backward returns, and a node's incoming gradient
 * once its input gradients are made. Leaves get their .grad; nothing else the
 * pass made survives it.
 */
import type { Tensor } from '../tensor.js';
import { noGrad } from './grad-mode.js';
import { collectCreated, isGraphOwned, keep } from '../memory.js';
import { accumulateGrad } from '../ops/accumulate.js';

export interface GradFn {
  /** Op name, shown as grad_fn=<NameBackward0> when printing. */
  name: string;
  inputs: readonly Tensor[];
  /**
   * Given d(loss)/d(output), return d(loss)/d(input) for each input (null where not needed).
   * `gradIsSpare`: the pass made `grad` and nothing else reads it, so the backward may write over
   * its values (an activation's backward does, instead of making a second buffer of that size).
   */
  backward: (grad: Tensor, gradIsSpare: boolean) => ReadonlyArray<Tensor | null>;
  released?: boolean;
}

function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  // Iterative DFS: deep nets would overflow the JS stack with recursion.
  const stack: Array<[Tensor, boolean]> = [[root, false]];
  while (stack.length > 0) {
    const [t, expanded] = stack.pop() as [Tensor, boolean];
    if (expanded) {
      order.push(t);
      continue;
    }
    if (seen.has(t)) continue;
    seen.add(t);
    stack.push([t, true]);
    for (const input of t.gradFn?.inputs ?? []) {
      if (input.requiresGrad && !seen.has(input)) stack.push([input, false]);
    }
  }
  return order;
}

const NO_INPUTS: readonly Tensor[] = Object.freeze([]);
const NO_GRADS = (): ReadonlyArray<Tensor | null> => NO_INPUTS;

/**
 * What a node becomes after backward: its name only. Made out here, so the stub closes over
 * nothing — a closure made inside runBackward would keep the pass's whole graph reachable
 * from every tensor a caller still holds.
 */
function released(name: string): GradFn {
  return { name, inputs: NO_INPUTS, backward: NO_GRADS, released: true };
}

/** Gradients in flight: how many slots hold each, and which ones this pass made (and may free). */
class Pending {
  private readonly holds = new Map<Tensor, number>();
  private readonly made = new Set<Tensor>();

  own(ts: Iterable<unknown>): void {
    for (const t of ts) this.made.add(t as Tensor);
  }

  hold(t: Tensor): void {
    this.holds.set(t, (this.holds.get(t) ?? 0) + 1);
  }

  /** Whether t was made by this pass and is read by one slot only, through storage no other tensor shares. */
  spare(t: Tensor): boolean {
    return this.made.has(t) && this.holds.get(t) === 1 && !t.storage.shared;
  }

  /** Free t if this pass made it and no slot holds it (a gradient summed into another). */
  dropIfLoose(t: Tensor): void {
    if (this.made.has(t) && !this.holds.has(t)) {
      this.made.delete(t);
      t.dispose();
    }
  }

  /** One slot lets go of t; a gradient this pass made and nobody holds is freed. */
  drop(t: Tensor): void {
    const n = (this.holds.get(t) ?? 0) - 1;
    if (n > 0) {
      this.holds.set(t, n);
      return;
    }
    this.holds.delete(t);
    if (this.made.has(t)) {
      this.made.delete(t);
      t.dispose();
    }
  }
}

/** seedIsOwned: the seed was made by backward() itself (an implicit 1), so the pass may free it. */
export function runBackward(root: Tensor, seed: Tensor, seedIsOwned = false): void {
  const order = topoOrder(root);
  const grads = new Map<Tensor, Tensor>([[root, seed]]);
  // Constants only the graph holds (a dropout mask, batch statistics made inside a container's
  // forward) are freed once the last node reading them is done, rather than left to the GC:
  // on a GPU that is the difference between reusing their buffers next step and allocating anew.
  const constantUses = new Map<Tensor, number>();
  for (const t of order) {
    for (const input of t.gradFn?.inputs ?? []) {
      if (!input.gradFn && !input.requiresGrad && isGraphOwned(input)) constantUses.set(input, (constantUses.get(input) ?? 0) + 1);
    }
  }
  const doneWith = (fn: { inputs: readonly Tensor[] } | null | undefined): void => {
    for (const input of fn?.inputs ?? []) {
      const n = constantUses.get(input);
      if (n === undefined) continue;
      if (n > 1) constantUses.set(input, n - 1);
      else {
        constantUses.delete(input);
        input.dispose();
      }
    }
  };
  const pending = new Pending();
  if (seedIsOwned) pending.own([seed]);
  pending.hold(seed);
  // Gradients summed into another during the current node; freed once all its inputs have theirs
  // (one tensor may be handed to two inputs).
  const summed: Tensor[] = [];
  const accumulate = (input: Tensor, ig: Tensor): void => {
    const prev = grads.get(input);
    if (!prev) {
      grads.set(input, ig);
      pending.hold(ig);
      return;
    }
    const { result: sum, created } = collectCreated(() => accumulateGrad(prev, ig, pending.spare(prev)));
    summed.push(ig);
    if (sum === prev) return; // added in place: prev keeps its slot
    pending.own(created);
    grads.set(input, sum);
    pending.hold(sum);
    pending.drop(prev);
  };
  noGrad(() => {
    for (let i = order.length - 1; i >= 0; i--) {
      const t = order[i];
      const g = grads.get(t);
      grads.delete(t);
      if (!g) {
        if (isGraphOwned(t)) t.dispose();
        continue;
      }
      const fn = t.gradFn;
      if (!fn) {
        // Accumulate into .grad in place (the object a caller may hold sees the sum, as in PyTorch);
        // a first gradient becomes a tensor object of its own that outlives the pass and any scope.
        if (t.grad) {
          const sum = t.grad.add(g);
          t.grad.setStorage(sum.storage);
          sum.dispose();
        } else t.grad = keep(g.detach());
        pending.drop(g);
        continue;
      }
      if (fn.released) {
        throw new Error(`backward(): trying to backward through the graph a second time (at ${fn.name}); the saved tensors were freed after the first backward`);
      }
      const { result: inputGrads, created } = collectCreated(() => fn.backward(g, pending.spare(g)));
      const returned = new Set<Tensor>();
      fn.inputs.forEach((input, k) => {
        const ig = inputGrads[k];
        if (ig && input.requiresGrad) returned.add(ig);
      });
      // The node's temporaries: made in its backward and not handed on.
      for (const c of created) if (!returned.has(c as Tensor)) (c as Tensor).dispose();
      pending.own([...created].filter((c) => returned.has(c as Tensor)));
      fn.inputs.forEach((input, k) => {
        const ig = inputGrads[k];
        if (ig && input.requiresGrad) accumulate(input, ig);
      });
      for (const ig of summed) pending.dropIfLoose(ig);
      summed.length = 0;
      pending.drop(g);
      // Free saved activations now, as PyTorch does without retain_graph; a tensor only the
      // graph held (a container's intermediate) is disposed with them.
      t.gradFn = released(fn.name);
      doneWith(fn);
      if (isGraphOwned(t)) t.dispose();
    }
  });
}
