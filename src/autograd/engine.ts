/**
 * Reverse-mode autodiff over the graph recorded by ops (micrograd's algorithm:
 * topological order, then each node hands its output gradient to its inputs).
 */
import type { Tensor } from '../tensor.js';
import { noGrad } from './grad-mode.js';

export interface GradFn {
  /** Op name, shown as grad_fn=<NameBackward0> when printing. */
  name: string;
  inputs: readonly Tensor[];
  /** Given d(loss)/d(output), return d(loss)/d(input) for each input (null where not needed). */
  backward: (grad: Tensor) => ReadonlyArray<Tensor | null>;
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

export function runBackward(root: Tensor, seed: Tensor): void {
  const order = topoOrder(root);
  const grads = new Map<Tensor, Tensor>([[root, seed]]);
  noGrad(() => {
    for (let i = order.length - 1; i >= 0; i--) {
      const t = order[i];
      const g = grads.get(t);
      grads.delete(t);
      if (!g) continue;
      const fn = t.gradFn;
      if (!fn) {
        t.grad = t.grad ? t.grad.add(g) : g;
        continue;
      }
      if (fn.released) {
        throw new Error(`backward(): trying to backward through the graph a second time (at ${fn.name}); the saved tensors were freed after the first backward`);
      }
      const inputGrads = fn.backward(g);
      fn.inputs.forEach((input, k) => {
        const ig = inputGrads[k];
        if (!ig || !input.requiresGrad) return;
        const prev = grads.get(input);
        grads.set(input, prev ? prev.add(ig) : ig);
      });
      // Free saved activations now, as PyTorch does without retain_graph.
      t.gradFn = { name: fn.name, inputs: [], backward: () => [], released: true };
    }
  });
}
