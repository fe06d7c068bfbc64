/** In-place SGD and Adam updates in one native pass over each parameter. */
import type { Kernels } from '../kernels.js';
import { referenceKernels as ref } from '../reference/index.js';
import { rowMajor, type HostStorage } from '../host.js';
import { SMALL, type CpuContext } from './common.js';

export function optimKernels(ctx: CpuContext): Partial<Kernels<HostStorage>> {
  const { nat } = ctx;
  return {
    sgdStepInplace(ps, gs, ms, d) {
      const [p, g] = [rowMajor(ps), rowMajor(gs)];
      const m = ms ? rowMajor(ms) : null;
      if (p.length < SMALL) return ref.sgdStepInplace(p, g, m, d);
      nat.sgdStep(p, g, m, d.lr, d.momentum, d.dampening, d.weightDecay, d.nesterov, Boolean(d.maximize));
    },

    adamStepInplace(ps, gs, ms, vs, d) {
      const [p, g, m, v] = [ps, gs, ms, vs].map(rowMajor);
      if (p.length < SMALL) return ref.adamStepInplace(p, g, m, v, d);
      nat.adamStep(p, g, m, v, d.lr, d.beta1, d.beta2, d.eps, d.weightDecay, d.decoupled, d.step);
    },
  };
}
