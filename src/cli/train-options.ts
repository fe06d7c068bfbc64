/**
 * The training flags beyond the book's (optimiser, scheduler, early stopping,
 * augmentation): parsing with messages that name the flag, and building the
 * objects fit() takes from a run's config.
 */
import { InvalidArgumentError } from 'commander';
import type { Parameter } from '../nn/parameter.js';
import type { Optimizer } from '../optim/optimizer.js';
import { SGD } from '../optim/sgd.js';
import { Adam, AdamW } from '../optim/adam.js';
import { CosineAnnealingLR, ExponentialLR, MultiStepLR, OneCycleLR, ReduceLROnPlateau, StepLR, type LRScheduler } from '../optim/lr-scheduler.js';
import type { EarlyStoppingOptions } from '../train/callbacks.js';
import type { Monitor } from '../train/fit.js';
import type { AugmentStep } from '../data/augment.js';
import { RandomCrop, RandomHorizontalFlip, RandomResizedCrop } from '../data/vision-transforms.js';

export const OPTIMIZERS = ['sgd', 'adam', 'adamw'] as const;
export type OptimizerName = (typeof OPTIMIZERS)[number];

export function optimizerArg(value: string): OptimizerName {
  const v = value.toLowerCase();
  if (!(OPTIMIZERS as readonly string[]).includes(v)) throw new InvalidArgumentError(`expected one of ${OPTIMIZERS.join(', ')}, got '${value}'`);
  return v as OptimizerName;
}

export function nonNegativeNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`expected a number ≥ 0, got '${value}'`);
  return n;
}

export const SCHEDULER_USAGE = 'step:EPOCHS[:GAMMA], multistep:E1,E2,…[:GAMMA], exp:GAMMA, cosine[:ETA_MIN], onecycle[:MAX_LR] or plateau[:PATIENCE[:FACTOR]]';

const num = (s: string | undefined, what: string, ok: (n: number) => boolean): number => {
  const n = Number(s);
  if (s === undefined || s.trim() === '' || !Number.isFinite(n) || !ok(n)) throw new InvalidArgumentError(`${what}: got '${s ?? ''}'; expected ${SCHEDULER_USAGE}`);
  return n;
};

/** Check a --scheduler spec (it is kept as text in config.json and built when the run starts). */
export function schedulerArg(value: string): string {
  const [kind, ...args] = value.split(':');
  const positive = (n: number): boolean => n > 0;
  const whole = (n: number): boolean => Number.isInteger(n) && n >= 1;
  switch (kind) {
    case 'step':
      num(args[0], 'step: its epochs', whole);
      if (args[1] !== undefined) num(args[1], 'step: its gamma', positive);
      break;
    case 'multistep':
      if (!args[0]) throw new InvalidArgumentError(`multistep needs its milestone epochs; expected ${SCHEDULER_USAGE}`);
      args[0].split(',').forEach((m) => num(m, 'multistep: a milestone', whole));
      if (args[1] !== undefined) num(args[1], 'multistep: its gamma', positive);
      break;
    case 'exp':
      num(args[0], 'exp: its gamma', positive);
      break;
    case 'cosine':
      if (args[0] !== undefined) num(args[0], 'cosine: its eta_min', (n) => n >= 0);
      break;
    case 'onecycle':
      if (args[0] !== undefined) num(args[0], 'onecycle: its max lr', positive);
      break;
    case 'plateau':
      if (args[0] !== undefined) num(args[0], 'plateau: its patience', (n) => Number.isInteger(n) && n >= 0);
      if (args[1] !== undefined) num(args[1], 'plateau: its factor', (n) => n > 0 && n < 1);
      break;
    default:
      throw new InvalidArgumentError(`unknown scheduler '${kind}'; expected ${SCHEDULER_USAGE}`);
  }
  return value;
}

export function buildOptimizer(name: OptimizerName, params: Iterable<Parameter>, h: { lr: number; momentum: number; weightDecay: number }): Optimizer {
  if (name === 'sgd') return new SGD(params, { lr: h.lr, momentum: h.momentum, weightDecay: h.weightDecay });
  if (h.momentum !== 0) throw new Error(`--momentum is SGD's; ${name} has its own betas (leave --momentum out)`);
  return name === 'adam' ? new Adam(params, { lr: h.lr, weightDecay: h.weightDecay }) : new AdamW(params, { lr: h.lr, weightDecay: h.weightDecay });
}

/** The scheduler of a --scheduler spec for a run of `epochs` epochs of `stepsPerEpoch` batches. */
export function buildScheduler(spec: string, optimizer: Optimizer, lr: number, epochs: number, stepsPerEpoch: number): LRScheduler | ReduceLROnPlateau {
  const [kind, a, b] = spec.split(':');
  switch (kind) {
    case 'step': return new StepLR(optimizer, Number(a), b === undefined ? 0.1 : Number(b));
    case 'multistep': return new MultiStepLR(optimizer, a.split(',').map(Number), b === undefined ? 0.1 : Number(b));
    case 'exp': return new ExponentialLR(optimizer, Number(a));
    case 'cosine': return new CosineAnnealingLR(optimizer, epochs, a === undefined ? 0 : Number(a));
    case 'onecycle': return new OneCycleLR(optimizer, a === undefined ? lr : Number(a), { epochs, stepsPerEpoch, cycleMomentum: !(optimizer instanceof SGD) || optimizer.momentum > 0 });
    case 'plateau': return new ReduceLROnPlateau(optimizer, { patience: a === undefined ? 10 : Number(a), factor: b === undefined ? 0.1 : Number(b) });
    default: throw new Error(`--scheduler: unknown scheduler '${kind}'; expected ${SCHEDULER_USAGE}`);
  }
}

const MONITOR_FLAGS: Record<string, Monitor> = { 'train-loss': 'trainLoss', 'train-acc': 'trainAcc', 'test-acc': 'testAcc' };

/** --early-stop PATIENCE or MONITOR:PATIENCE (monitor train-loss, train-acc or test-acc; default test-acc). */
export function earlyStopArg(value: string): string {
  parseEarlyStop(value);
  return value;
}

export function parseEarlyStop(value: string): EarlyStoppingOptions {
  const parts = value.split(':');
  const [monitorText, patienceText] = parts.length === 2 ? parts : ['test-acc', parts[0]];
  const monitor = MONITOR_FLAGS[monitorText];
  const patience = Number(patienceText);
  if (parts.length > 2 || !monitor || patienceText.trim() === '' || !Number.isInteger(patience) || patience < 1) {
    throw new InvalidArgumentError(`expected PATIENCE or MONITOR:PATIENCE with MONITOR one of ${Object.keys(MONITOR_FLAGS).join(', ')} and PATIENCE a whole number of epochs ≥ 1, got '${value}'`);
  }
  return { monitor, patience };
}

export const AUGMENT_USAGE = 'a comma-separated list of crop[:PADDING], flip and resized-crop[:MIN_SCALE]';

/** Check an --augment list (kept as text in config.json). */
export function augmentArg(value: string): string {
  buildAugment(value, 28);
  return value;
}

/** The augmentation steps of an --augment list for images of side `side` (after any resize). */
export function buildAugment(value: string, side: number): AugmentStep[] {
  const items = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) throw new InvalidArgumentError(`expected ${AUGMENT_USAGE}, got '${value}'`);
  return items.map((item) => {
    const [name, arg] = item.split(':');
    const n = arg === undefined ? undefined : Number(arg);
    if (name === 'flip' && arg === undefined) return new RandomHorizontalFlip().step;
    if (name === 'crop' && (n === undefined || (Number.isInteger(n) && n >= 0))) {
      // Default padding: 4 px at Fashion-MNIST's 28 (CIFAR's usual 4 at 32), scaled with the side.
      return new RandomCrop(side, { padding: n ?? Math.max(1, Math.round(side / 7)) }).step;
    }
    if (name === 'resized-crop' && (n === undefined || (n > 0 && n <= 1))) return new RandomResizedCrop(side, { scale: [n ?? 0.5, 1] }).step;
    throw new InvalidArgumentError(`'${item}' is not an augmentation; expected ${AUGMENT_USAGE}`);
  });
}
