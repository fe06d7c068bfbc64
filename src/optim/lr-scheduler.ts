/**
 * torch.optim.lr_scheduler: the same names, arguments and step semantics, and
 * the same arithmetic (PyTorch's recursive "chainable" forms, in doubles), so
 * the learning rates match PyTorch's step for step.
 *
 * As in PyTorch, constructing a scheduler performs its first step (epoch 0),
 * and `step()` is called after `optimizer.step()`: once per epoch for the
 * epoch-based ones, once per batch for OneCycleLR.
 */
import type { Optimizer } from './optimizer.js';

/** What a scheduler drives: the optimiser's lr, and its momentum (SGD) or beta1 (Adam) for OneCycleLR. */
interface Tunable {
  lr: number;
  momentum?: number;
  betas?: [number, number];
}

export type SchedulerState = Record<string, number | number[] | string | boolean | null>;

function tunable(optimizer: Optimizer): Tunable {
  const t = optimizer as unknown as Tunable;
  if (typeof t.lr !== 'number') throw new Error(`${optimizer.constructor.name} has no learning rate to schedule`);
  return t;
}

function check(cond: boolean, message: string): void {
  if (!cond) throw new Error(message);
}

export abstract class LRScheduler {
  lastEpoch = -1;
  readonly baseLr: number;
  protected readonly opt: Tunable;
  private lastLr: number;
  /** PyTorch's _step_count: how many times step() ran, the constructor's included. */
  protected stepCount = 0;

  constructor(readonly optimizer: Optimizer) {
    this.opt = tunable(optimizer);
    this.baseLr = this.opt.lr;
    this.lastLr = this.opt.lr;
  }

  /** Subclasses call this at the end of their constructor: PyTorch's initial step. */
  protected start(): void {
    this.step();
  }

  /** The lr for the new lastEpoch, from the optimiser's current lr (PyTorch's get_lr). */
  protected abstract computeLr(): number;

  step(): void {
    this.stepCount++;
    this.lastEpoch++;
    this.opt.lr = this.computeLr();
    this.lastLr = this.opt.lr;
  }

  /** torch's get_last_lr(), one value per parameter group (torchlet optimisers have one). */
  getLastLr(): number[] {
    return [this.lastLr];
  }

  stateDict(): SchedulerState {
    return { lastEpoch: this.lastEpoch, stepCount: this.stepCount, lastLr: this.lastLr, ...this.extraState() };
  }

  loadStateDict(s: SchedulerState): void {
    const num = (k: string): number => {
      const v = s[k];
      check(typeof v === 'number' && Number.isFinite(v), `${this.constructor.name}.loadStateDict: '${k}' must be a number, got ${JSON.stringify(v)}`);
      return v as number;
    };
    this.lastEpoch = num('lastEpoch');
    this.stepCount = num('stepCount');
    this.lastLr = num('lastLr');
    this.opt.lr = this.lastLr;
    this.loadExtra(s);
  }

  protected extraState(): SchedulerState {
    return {};
  }

  protected loadExtra(_s: SchedulerState): void {}
}

/** Multiply the lr by gamma every stepSize epochs. */
export class StepLR extends LRScheduler {
  constructor(optimizer: Optimizer, readonly stepSize: number, readonly gamma = 0.1) {
    super(optimizer);
    check(Number.isInteger(stepSize) && stepSize >= 1, `StepLR: stepSize must be a positive whole number, got ${stepSize}`);
    this.start();
  }
  protected computeLr(): number {
    if (this.lastEpoch === 0 || this.lastEpoch % this.stepSize !== 0) return this.opt.lr;
    return this.opt.lr * this.gamma;
  }
}

/** Multiply the lr by gamma at each milestone epoch. */
export class MultiStepLR extends LRScheduler {
  readonly milestones: readonly number[];
  constructor(optimizer: Optimizer, milestones: readonly number[], readonly gamma = 0.1) {
    super(optimizer);
    check(milestones.every((m) => Number.isInteger(m) && m >= 0), `MultiStepLR: milestones must be whole epoch numbers, got [${milestones.join(', ')}]`);
    this.milestones = [...milestones].sort((a, b) => a - b);
    this.start();
  }
  protected computeLr(): number {
    // A milestone listed twice decays twice, as PyTorch's Counter makes it.
    const hits = this.milestones.filter((m) => m === this.lastEpoch).length;
    return hits === 0 ? this.opt.lr : this.opt.lr * this.gamma ** hits;
  }
}

/** Multiply the lr by gamma every epoch. */
export class ExponentialLR extends LRScheduler {
  constructor(optimizer: Optimizer, readonly gamma: number) {
    super(optimizer);
    this.start();
  }
  protected computeLr(): number {
    return this.lastEpoch === 0 ? this.opt.lr : this.opt.lr * this.gamma;
  }
}

/** Cosine annealing from the initial lr to etaMin over tMax epochs (SGDR without restarts). */
export class CosineAnnealingLR extends LRScheduler {
  constructor(optimizer: Optimizer, readonly tMax: number, readonly etaMin = 0) {
    super(optimizer);
    check(tMax > 0, `CosineAnnealingLR: tMax must be positive, got ${tMax}`);
    this.start();
  }
  protected computeLr(): number {
    const { lastEpoch: e, tMax: T, etaMin } = this;
    const lr = this.opt.lr;
    if (e === 0) return lr;
    if (this.stepCount === 1 && e > 0) return etaMin + ((this.baseLr - etaMin) * (1 + Math.cos((e * Math.PI) / T))) / 2;
    if ((e - 1 - T) % (2 * T) === 0) return lr + ((this.baseLr - etaMin) * (1 - Math.cos(Math.PI / T))) / 2;
    return ((1 + Math.cos((Math.PI * e) / T)) / (1 + Math.cos((Math.PI * (e - 1)) / T))) * (lr - etaMin) + etaMin;
  }
}

export interface OneCycleOptions {
  /** The number of steps in the cycle; or give epochs and stepsPerEpoch. */
  totalSteps?: number;
  epochs?: number;
  stepsPerEpoch?: number;
  /** Fraction of the cycle spent raising the lr (default 0.3). */
  pctStart?: number;
  annealStrategy?: 'cos' | 'linear';
  /** Cycle SGD's momentum (Adam's beta1) inversely to the lr, between these (default true, 0.85–0.95). */
  cycleMomentum?: boolean;
  baseMomentum?: number;
  maxMomentum?: number;
  /** initial lr = maxLr / divFactor (25); final lr = initial lr / finalDivFactor (1e4). */
  divFactor?: number;
  finalDivFactor?: number;
  threePhase?: boolean;
}

interface Phase {
  endStep: number;
  startLr: 'initial' | 'max' | 'min';
  endLr: 'initial' | 'max' | 'min';
  startMomentum: 'max' | 'base';
  endMomentum: 'max' | 'base';
}

/** The 1cycle policy (Smith & Topin), stepped once per batch. */
export class OneCycleLR extends LRScheduler {
  readonly totalSteps: number;
  readonly maxLr: number;
  private readonly lrs: { initial: number; max: number; min: number };
  private readonly moms: { base: number; max: number };
  private readonly phases: Phase[];
  private readonly anneal: (start: number, end: number, pct: number) => number;
  private readonly cycleMomentum: boolean;

  constructor(optimizer: Optimizer, maxLr: number, opts: OneCycleOptions = {}) {
    super(optimizer);
    if (opts.totalSteps !== undefined) {
      check(Number.isInteger(opts.totalSteps) && opts.totalSteps > 0, `OneCycleLR: totalSteps must be a positive whole number, got ${opts.totalSteps}`);
      this.totalSteps = opts.totalSteps;
    } else {
      check(Number.isInteger(opts.epochs) && (opts.epochs as number) > 0 && Number.isInteger(opts.stepsPerEpoch) && (opts.stepsPerEpoch as number) > 0,
        'OneCycleLR: give totalSteps, or epochs and stepsPerEpoch (positive whole numbers)');
      this.totalSteps = (opts.epochs as number) * (opts.stepsPerEpoch as number);
    }
    const pct = opts.pctStart ?? 0.3;
    check(pct >= 0 && pct <= 1, `OneCycleLR: pctStart must be between 0 and 1, got ${pct}`);
    this.maxLr = maxLr;
    const initial = maxLr / (opts.divFactor ?? 25);
    this.lrs = { initial, max: maxLr, min: initial / (opts.finalDivFactor ?? 1e4) };
    const T = this.totalSteps;
    this.phases = opts.threePhase
      ? [
        { endStep: pct * T - 1, startLr: 'initial', endLr: 'max', startMomentum: 'max', endMomentum: 'base' },
        { endStep: 2 * pct * T - 2, startLr: 'max', endLr: 'initial', startMomentum: 'base', endMomentum: 'max' },
        { endStep: T - 1, startLr: 'initial', endLr: 'min', startMomentum: 'max', endMomentum: 'max' },
      ]
      : [
        { endStep: pct * T - 1, startLr: 'initial', endLr: 'max', startMomentum: 'max', endMomentum: 'base' },
        { endStep: T - 1, startLr: 'max', endLr: 'min', startMomentum: 'base', endMomentum: 'max' },
      ];
    this.anneal = (opts.annealStrategy ?? 'cos') === 'cos'
      ? (start, end, p) => end + ((start - end) / 2) * (Math.cos(Math.PI * p) + 1)
      : (start, end, p) => (end - start) * p + start;
    this.cycleMomentum = opts.cycleMomentum ?? true;
    this.moms = { base: opts.baseMomentum ?? 0.85, max: opts.maxMomentum ?? 0.95 };
    if (this.cycleMomentum) {
      check(typeof this.opt.momentum === 'number' || Array.isArray(this.opt.betas), `OneCycleLR: ${optimizer.constructor.name} has no momentum to cycle; pass cycleMomentum: false`);
      this.setMomentum(this.moms.max);
    }
    this.opt.lr = initial;
    this.start();
  }

  private setMomentum(m: number): void {
    if (this.opt.betas) this.opt.betas[0] = m;
    else this.opt.momentum = m;
  }

  protected computeLr(): number {
    const step = this.lastEpoch;
    check(step <= this.totalSteps, `OneCycleLR: stepped ${step} times, more than totalSteps (${this.totalSteps})`);
    let startStep = 0;
    for (let i = 0; i < this.phases.length; i++) {
      const ph = this.phases[i];
      if (step <= ph.endStep || i === this.phases.length - 1) {
        const pct = (step - startStep) / (ph.endStep - startStep);
        if (this.cycleMomentum) this.setMomentum(this.anneal(this.moms[ph.startMomentum], this.moms[ph.endMomentum], pct));
        return this.anneal(this.lrs[ph.startLr], this.lrs[ph.endLr], pct);
      }
      startStep = ph.endStep;
    }
    return this.opt.lr;
  }

  /** The momentum (or Adam's beta1) now in use. */
  get momentum(): number | undefined {
    return this.opt.betas ? this.opt.betas[0] : this.opt.momentum;
  }

  protected override extraState(): SchedulerState {
    return { momentum: this.momentum ?? null };
  }

  protected override loadExtra(s: SchedulerState): void {
    if (this.cycleMomentum && typeof s.momentum === 'number') this.setMomentum(s.momentum);
  }
}

export interface ReduceLROnPlateauOptions {
  mode?: 'min' | 'max';
  factor?: number;
  patience?: number;
  threshold?: number;
  thresholdMode?: 'rel' | 'abs';
  cooldown?: number;
  minLr?: number;
  eps?: number;
}

/** Cut the lr by factor when a metric has stopped improving for patience epochs: step(metric). */
export class ReduceLROnPlateau {
  lastEpoch = 0;
  best: number;
  numBadEpochs = 0;
  cooldownCounter = 0;
  readonly mode: 'min' | 'max';
  readonly factor: number;
  readonly patience: number;
  readonly threshold: number;
  readonly thresholdMode: 'rel' | 'abs';
  readonly cooldown: number;
  readonly minLr: number;
  readonly eps: number;
  private readonly opt: Tunable;

  constructor(readonly optimizer: Optimizer, opts: ReduceLROnPlateauOptions = {}) {
    this.opt = tunable(optimizer);
    this.mode = opts.mode ?? 'min';
    this.factor = opts.factor ?? 0.1;
    check(this.factor < 1, `ReduceLROnPlateau: factor should be below 1, got ${this.factor}`);
    this.patience = opts.patience ?? 10;
    this.threshold = opts.threshold ?? 1e-4;
    this.thresholdMode = opts.thresholdMode ?? 'rel';
    this.cooldown = opts.cooldown ?? 0;
    this.minLr = opts.minLr ?? 0;
    this.eps = opts.eps ?? 1e-8;
    check(this.mode === 'min' || this.mode === 'max', `ReduceLROnPlateau: mode must be 'min' or 'max', got '${String(this.mode)}'`);
    this.best = this.mode === 'min' ? Infinity : -Infinity;
  }

  private isBetter(a: number): boolean {
    const { best, threshold: t } = this;
    if (this.mode === 'min') return this.thresholdMode === 'rel' ? a < best * (1 - t) : a < best - t;
    return this.thresholdMode === 'rel' ? a > best * (t + 1) : a > best + t;
  }

  step(metric: number): void {
    check(typeof metric === 'number' && !Number.isNaN(metric), `ReduceLROnPlateau.step: expected the monitored metric as a number, got ${metric}`);
    this.lastEpoch++;
    if (this.isBetter(metric)) {
      this.best = metric;
      this.numBadEpochs = 0;
    } else this.numBadEpochs++;
    if (this.cooldownCounter > 0) {
      this.cooldownCounter--;
      this.numBadEpochs = 0;
    }
    if (this.numBadEpochs > this.patience) {
      const old = this.opt.lr;
      const next = Math.max(old * this.factor, this.minLr);
      if (old - next > this.eps) this.opt.lr = next;
      this.cooldownCounter = this.cooldown;
      this.numBadEpochs = 0;
    }
  }

  getLastLr(): number[] {
    return [this.opt.lr];
  }

  stateDict(): SchedulerState {
    return { lastEpoch: this.lastEpoch, best: this.best, numBadEpochs: this.numBadEpochs, cooldownCounter: this.cooldownCounter, lr: this.opt.lr };
  }

  loadStateDict(s: SchedulerState): void {
    for (const k of ['lastEpoch', 'numBadEpochs', 'cooldownCounter', 'lr']) {
      check(typeof s[k] === 'number', `ReduceLROnPlateau.loadStateDict: '${k}' must be a number, got ${JSON.stringify(s[k])}`);
    }
    // No metric seen yet: best is ±Infinity, which JSON stores as null.
    check(typeof s.best === 'number' || s.best === null, `ReduceLROnPlateau.loadStateDict: 'best' must be a number, got ${JSON.stringify(s.best)}`);
    this.lastEpoch = s.lastEpoch as number;
    this.best = typeof s.best === 'number' ? s.best : this.mode === 'min' ? Infinity : -Infinity;
    this.numBadEpochs = s.numBadEpochs as number;
    this.cooldownCounter = s.cooldownCounter as number;
    this.opt.lr = s.lr as number;
  }
}
