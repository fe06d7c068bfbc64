/**
 * Learning-rate schedulers against PyTorch: the lr (and the momentum or beta1
 * OneCycleLR cycles) after construction and after every step, for the
 * settings in scripts/gen_scheduler_fixtures.py, to 1e-12 relative. Then each
 * scheduler's state_dict, saved midway through JSON and loaded into a fresh
 * optimiser and scheduler, must continue the very same sequence.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { nn, optim, zeros } from '../src/index.js';
import type { Optimizer } from '../src/optim/optimizer.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
interface Case { name: string; lrs: number[]; momenta: Array<number | null>; metrics: number[] | null }
const fixture = JSON.parse(readFileSync(path.join(root, 'test', 'fixtures', 'schedulers', 'torch.json'), 'utf8')) as { cases: Case[] };

type Sched = optim.LRScheduler | optim.ReduceLROnPlateau;
interface Setup { optimizer: () => Optimizer; scheduler: (o: Optimizer) => Sched }

const param = (): nn.Parameter => new nn.Parameter(zeros([1]));
const sgd = (lr: number, momentum = 0) => (): Optimizer => new optim.SGD([param()], { lr, momentum });

const setups: Record<string, Setup> = {
  'StepLR(stepSize=3, gamma=0.5)': { optimizer: sgd(0.1), scheduler: (o) => new optim.StepLR(o, 3, 0.5) },
  'MultiStepLR([2, 5, 5, 9], gamma=0.3)': { optimizer: sgd(0.2), scheduler: (o) => new optim.MultiStepLR(o, [2, 5, 5, 9], 0.3) },
  'ExponentialLR(gamma=0.9)': { optimizer: sgd(0.05), scheduler: (o) => new optim.ExponentialLR(o, 0.9) },
  'CosineAnnealingLR(tMax=10)': { optimizer: sgd(0.1), scheduler: (o) => new optim.CosineAnnealingLR(o, 10) },
  'CosineAnnealingLR(tMax=4, etaMin=0.01) past tMax': { optimizer: sgd(0.1), scheduler: (o) => new optim.CosineAnnealingLR(o, 4, 0.01) },
  'OneCycleLR(maxLr=0.5, totalSteps=20) on SGD': { optimizer: sgd(0.1, 0.9), scheduler: (o) => new optim.OneCycleLR(o, 0.5, { totalSteps: 20 }) },
  'OneCycleLR(maxLr=1, epochs=3, stepsPerEpoch=7, linear, pctStart=0.25, threePhase)': {
    optimizer: sgd(0.1, 0.9),
    scheduler: (o) => new optim.OneCycleLR(o, 1, { epochs: 3, stepsPerEpoch: 7, annealStrategy: 'linear', pctStart: 0.25, threePhase: true }),
  },
  'OneCycleLR(maxLr=0.01, totalSteps=15) on Adam': { optimizer: () => new optim.Adam([param()], { lr: 1e-3 }), scheduler: (o) => new optim.OneCycleLR(o, 0.01, { totalSteps: 15 }) },
  'OneCycleLR(maxLr=0.3, totalSteps=10, cycleMomentum=false)': { optimizer: sgd(0.1), scheduler: (o) => new optim.OneCycleLR(o, 0.3, { totalSteps: 10, cycleMomentum: false }) },
  'ReduceLROnPlateau(patience=2)': { optimizer: sgd(0.1), scheduler: (o) => new optim.ReduceLROnPlateau(o, { patience: 2 }) },
  'ReduceLROnPlateau(mode=max, factor=0.5, patience=1, cooldown=2, thresholdMode=abs, threshold=0.005, minLr=0.02)': {
    optimizer: sgd(0.1),
    scheduler: (o) => new optim.ReduceLROnPlateau(o, { mode: 'max', factor: 0.5, patience: 1, cooldown: 2, thresholdMode: 'abs', threshold: 0.005, minLr: 0.02 }),
  },
};

function momentumOf(o: Optimizer): number | null {
  const t = o as unknown as { momentum?: number; betas?: [number, number] };
  return t.betas ? t.betas[0] : t.momentum ?? null;
}

function lrOf(o: Optimizer): number {
  return (o as unknown as { lr: number }).lr;
}

function stepOnce(s: Sched, c: Case, i: number): void {
  if (s instanceof optim.ReduceLROnPlateau) s.step((c.metrics as number[])[i]);
  else s.step();
}

function assertSeq(what: string, got: ReadonlyArray<number | null>, want: ReadonlyArray<number | null>): void {
  assert.equal(got.length, want.length, `${what}: ${got.length} values, PyTorch has ${want.length}`);
  got.forEach((g, i) => {
    const w = want[i];
    if (w === null || g === null) {
      assert.equal(g, w, `${what}[${i}]`);
      return;
    }
    assert.ok(Math.abs(g - w) <= 1e-12 * Math.max(Math.abs(w), 1e-300), `${what}[${i}]: ${g}, PyTorch ${w}\n got  ${got.join(', ')}\n want ${want.join(', ')}`);
  });
}

test('scheduler fixtures cover every case set up here', () => {
  assert.deepEqual(fixture.cases.map((c) => c.name).sort(), Object.keys(setups).sort());
});

for (const c of fixture.cases) {
  const setup = setups[c.name];
  test(`${c.name}: the lr${c.momenta.some((m) => m !== null && m !== c.momenta[0]) ? ' and momentum' : ''} at every step match PyTorch`, () => {
    const o = setup.optimizer();
    const s = setup.scheduler(o);
    const lrs = [lrOf(o)];
    const moms = [momentumOf(o)];
    for (let i = 0; i < c.lrs.length - 1; i++) {
      stepOnce(s, c, i);
      lrs.push(lrOf(o));
      moms.push(momentumOf(o));
    }
    assertSeq('lr', lrs, c.lrs);
    assertSeq('momentum', moms, c.momenta);
    assert.deepEqual(s.getLastLr(), [lrs[lrs.length - 1]]);
  });

  test(`${c.name}: a state_dict saved midway (through JSON) continues the same sequence`, () => {
    const half = Math.floor((c.lrs.length - 1) / 2);
    const a = setup.optimizer();
    const sa = setup.scheduler(a);
    for (let i = 0; i < half; i++) stepOnce(sa, c, i);
    const saved = JSON.parse(JSON.stringify(sa.stateDict())) as optim.SchedulerState;
    const b = setup.optimizer();
    const sb = setup.scheduler(b);
    sb.loadStateDict(saved);
    const lrs = [lrOf(b)];
    for (let i = half; i < c.lrs.length - 1; i++) {
      stepOnce(sb, c, i);
      lrs.push(lrOf(b));
    }
    assertSeq('lr after resume', lrs, c.lrs.slice(half));
    assert.equal(momentumOf(b), c.momenta[c.momenta.length - 1]);
  });
}

test('schedulers reject settings PyTorch rejects, naming them', () => {
  const o = sgd(0.1)();
  assert.throws(() => new optim.StepLR(o, 0), /stepSize must be a positive whole number, got 0/);
  assert.throws(() => new optim.OneCycleLR(o, 0.1), /give totalSteps, or epochs and stepsPerEpoch/);
  assert.throws(() => new optim.ReduceLROnPlateau(o, { factor: 1 }), /factor should be below 1/);
  const one = new optim.OneCycleLR(sgd(0.1, 0.9)(), 0.1, { totalSteps: 2 });
  one.step();
  one.step();
  assert.throws(() => one.step(), /stepped 3 times, more than totalSteps \(2\)/);
  assert.throws(() => new optim.ReduceLROnPlateau(o).step(Number.NaN), /expected the monitored metric as a number/);
});
