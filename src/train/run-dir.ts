/**
 * A run directory (runs/<model>-<timestamp>/): config, metrics, weights,
 * optimiser state and the resume point. Every file is written atomically, and
 * the weights and optimiser files carry the same checkpoint id so a resume
 * can tell that they belong together.
 */
import { existsSync, readFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { Tensor } from '../tensor.js';
import type { Module } from '../nn/module.js';
import type { Optimizer, OptimizerState } from '../optim/optimizer.js';
import { saveSafetensors, loadSafetensors } from '../io/safetensors-file.js';
import { CPU } from '../device.js';
import { atomicWriteFileSync } from '../util/atomic-write.js';
import type { FitState } from './fit.js';

export interface RunConfig {
  model: string;
  epochs: number;
  lr: number;
  batchSize: number;
  resize: number | null;
  device: string;
  seed: number;
  threads: number | null;
  dataDir: string | null;
  startedAt: string;
}

export const RUN_FILES = {
  config: 'config.json',
  metrics: 'metrics.jsonl',
  model: 'model.safetensors',
  optimizer: 'optimizer.safetensors',
} as const;

export function defaultRunDir(model: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[:]/g, '-').replace(/\..+$/, '');
  return path.join('runs', `${model}-${stamp}`);
}

export class RunDir {
  private metricsLines: string[] = [];

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    const metricsPath = this.file('metrics');
    if (existsSync(metricsPath)) this.metricsLines = readFileSync(metricsPath, 'utf8').split('\n').filter((l) => l.length > 0);
  }

  file(name: keyof typeof RUN_FILES): string {
    return path.join(this.dir, RUN_FILES[name]);
  }

  writeConfig(config: RunConfig): void {
    atomicWriteFileSync(this.file('config'), JSON.stringify(config, null, 2) + '\n');
  }

  readConfig(): RunConfig {
    const p = this.file('config');
    if (!existsSync(p)) throw new Error(`--resume ${this.dir}: no ${RUN_FILES.config} there; is it a torchlet run directory?`);
    return JSON.parse(readFileSync(p, 'utf8')) as RunConfig;
  }

  /** Append a JSON record to metrics.jsonl (the whole file is rewritten atomically; it stays small). */
  appendMetric(record: Record<string, unknown>): void {
    this.metricsLines.push(JSON.stringify(record));
    atomicWriteFileSync(this.file('metrics'), this.metricsLines.join('\n') + '\n');
  }

  /** Drop records written after the resume point (global step), so a resumed run's file matches an uninterrupted one. */
  truncateMetricsAfter(step: number): void {
    this.metricsLines = this.metricsLines.filter((line) => ((JSON.parse(line) as { step?: number }).step ?? 0) <= step);
    atomicWriteFileSync(this.file('metrics'), this.metricsLines.length ? this.metricsLines.join('\n') + '\n' : '');
  }

  /** Save weights, optimiser state and the fit state under one checkpoint id. */
  async saveCheckpoint(net: Module, optimizer: Optimizer, state: FitState): Promise<void> {
    const id = `${state.epoch}:${state.batch}:${Date.now()}`;
    const opt = optimizer.stateDict();
    const tensors = new Map<string, Tensor>();
    opt.state.forEach((s, i) => {
      if (!s) return;
      for (const [k, v] of Object.entries(s)) {
        if (typeof v !== 'number') tensors.set(`state.${i}.${k}`, v.reshape([v.numel()]));
      }
    });
    // Values on a GPU are read back first (files are written from host memory).
    const onHost = async (m: Map<string, Tensor>): Promise<Map<string, Tensor>> =>
      new Map(await Promise.all([...m].map(async ([k, v]) => [k, await v.toAsync(CPU)] as const)));
    const optTensors = await onHost(tensors);
    const weights = await onHost(net.stateDict());
    const scalars = opt.state.map((s) => (s ? Object.fromEntries(Object.entries(s).filter(([, v]) => typeof v === 'number')) : null));
    // Optimiser first: a crash between the two writes leaves ids that differ, which resume reports.
    saveSafetensors(this.file('optimizer'), optTensors, {
      checkpoint_id: id,
      hyper: JSON.stringify(opt.hyper),
      scalars: JSON.stringify(scalars),
      params: String(opt.state.length),
      fit_state: JSON.stringify(state),
    });
    saveSafetensors(this.file('model'), weights, { checkpoint_id: id, format: 'pt' });
  }

  hasCheckpoint(): boolean {
    return existsSync(this.file('model')) && existsSync(this.file('optimizer'));
  }

  /** Load weights and optimiser state into net/optimizer; returns the fit state to resume from. */
  loadCheckpoint(net: Module, optimizer: Optimizer): FitState {
    if (!this.hasCheckpoint()) throw new Error(`--resume ${this.dir}: no checkpoint yet (${RUN_FILES.model} and ${RUN_FILES.optimizer} are written at the end of each epoch and on Ctrl-C)`);
    const model = loadSafetensors(this.file('model'));
    const opt = loadSafetensors(this.file('optimizer'));
    const idModel = model.metadata.checkpoint_id;
    const idOpt = opt.metadata.checkpoint_id;
    if (!idModel || idModel !== idOpt) {
      throw new Error(`--resume ${this.dir}: ${RUN_FILES.model} (checkpoint ${idModel ?? '?'}) and ${RUN_FILES.optimizer} (checkpoint ${idOpt ?? '?'}) are from different checkpoints; the run was interrupted while saving`);
    }
    net.loadStateDict(model.tensors);
    const n = Number(opt.metadata.params);
    const scalars = JSON.parse(opt.metadata.scalars ?? '[]') as Array<Record<string, number> | null>;
    const state: OptimizerState['state'] = Array.from({ length: n }, (_, i) => {
      const s: Record<string, Tensor | number> = { ...(scalars[i] ?? {}) };
      for (const [key, t] of opt.tensors) {
        const prefix = `state.${i}.`;
        if (key.startsWith(prefix)) s[key.slice(prefix.length)] = t;
      }
      return Object.keys(s).length ? s : null;
    });
    optimizer.loadStateDict({ state, hyper: JSON.parse(opt.metadata.hyper ?? '{}') as Record<string, number | boolean> });
    return JSON.parse(opt.metadata.fit_state) as FitState;
  }
}
