/**
 * A run directory (runs/<model>-<timestamp>/): config, metrics, weights,
 * optimiser state and the resume point.
 *
 * A checkpoint is one unit. Its weights and optimiser state are written into a
 * temporary directory, which is renamed to checkpoints/<generation>/ only when
 * both files are complete; then checkpoint.json, the manifest naming the
 * current generation, is replaced atomically; then model.safetensors at the top
 * (what users and PyTorch load) is re-linked to the new weights. A crash or a
 * full disk at any point leaves the previous generation whole and named by the
 * manifest, so a run can always be resumed. The newest two generations are kept.
 */
import { existsSync, readFileSync, mkdirSync, readdirSync, renameSync, rmSync, linkSync, copyFileSync, openSync, fsyncSync, closeSync, accessSync, statSync, constants as fsConstants } from 'node:fs';
import path from 'node:path';
import { Tensor } from '../tensor.js';
import type { Module } from '../nn/module.js';
import type { Optimizer, OptimizerState } from '../optim/optimizer.js';
import { saveSafetensors, loadSafetensors } from '../io/safetensors-file.js';
import { CPU } from '../device.js';
import { atomicWriteFileSync, fsyncDir } from '../util/atomic-write.js';
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
  /** Added after the first runs: absent in their config.json (then SGD without momentum, no schedule). */
  optimizer?: 'sgd' | 'adam' | 'adamw';
  momentum?: number;
  weightDecay?: number;
  /** The --scheduler, --early-stop and --augment values as given. */
  scheduler?: string | null;
  earlyStop?: string | null;
  augment?: string | null;
  keepBest?: boolean;
  startedAt: string;
}

export const RUN_FILES = {
  config: 'config.json',
  metrics: 'metrics.jsonl',
  model: 'model.safetensors',
  optimizer: 'optimizer.safetensors',
  manifest: 'checkpoint.json',
} as const;

const CHECKPOINTS = 'checkpoints';
/** Generations kept: the current one and the one before it. */
const KEEP_GENERATIONS = 2;

interface Manifest {
  generation: string;
  checkpointId: string;
  epoch: number;
  batch: number;
}

/** The real reason a directory cannot be made: the nearest existing ancestor that refuses writes, not a bare ENOENT. */
function whyNotWritable(dir: string, err: unknown): string {
  let p = path.resolve(dir);
  while (!existsSync(p) && path.dirname(p) !== p) p = path.dirname(p);
  try {
    accessSync(p, fsConstants.W_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return `${p} is not writable (${code === 'EROFS' ? 'a read-only file system' : code === 'EACCES' ? 'permission denied' : code ?? 'refused'})`;
  }
  if (existsSync(p) && !statSync(p).isDirectory()) return `${p} is a file, not a directory`;
  return (err as Error).message;
}


/** A file-system failure while saving, said plainly: what failed, that the last checkpoint is intact, what to do. */
function savingError(dir: string, err: unknown, previous: string | null): Error {
  const e = err as NodeJS.ErrnoException;
  const code = e.code ?? (e.cause as NodeJS.ErrnoException | undefined)?.code ?? /\b(ENOSPC|EROFS|EACCES|EPERM|EDQUOT)\b/.exec(e.message)?.[1];
  const cause = code === 'ENOSPC' || code === 'EDQUOT' ? 'the disk is full' : code === 'EROFS' ? 'the file system is read-only' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : e.message;
  const kept = previous ? `the previous checkpoint (${previous}) is intact` : 'no earlier checkpoint exists';
  return new Error(`saving a checkpoint in ${dir} failed: ${cause}; ${kept}. Free space or fix the directory, then continue with --resume ${dir}`, { cause: err });
}

export function defaultRunDir(model: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[:]/g, '-').replace(/\..+$/, '');
  return path.join('runs', `${model}-${stamp}`);
}

export class RunDir {
  private metricsLines: string[] = [];

  constructor(readonly dir: string) {
    try {
      mkdirSync(dir, { recursive: true });
    } catch (err) {
      throw new Error(`cannot create the run directory ${dir}: ${whyNotWritable(dir, err)}; choose another --out`, { cause: err });
    }
    this.removeStaleTemporaries();
    this.repairTopLevelWeights();
    const metricsPath = this.file('metrics');
    if (existsSync(metricsPath)) this.metricsLines = readFileSync(metricsPath, 'utf8').split('\n').filter((l) => l.length > 0);
  }

  /** Temporary files and directories a killed process left behind (never a complete checkpoint). */
  private removeStaleTemporaries(): void {
    const stale = (n: string): boolean => n.startsWith('.') && (n.endsWith('.tmp') || n.startsWith('.tmp-'));
    for (const n of readdirSync(this.dir)) if (stale(n)) rmSync(path.join(this.dir, n), { recursive: true, force: true });
    const cp = path.join(this.dir, CHECKPOINTS);
    if (existsSync(cp)) for (const n of readdirSync(cp)) if (stale(n)) rmSync(path.join(cp, n), { recursive: true, force: true });
  }

  file(name: keyof typeof RUN_FILES): string {
    return path.join(this.dir, RUN_FILES[name]);
  }

  writeConfig(config: RunConfig | object): void {
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

  /** Save weights, optimiser state and the fit state as one new checkpoint generation. */
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

    const previous = this.readManifest();
    const generation = String((previous ? Number(previous.generation) : 0) + 1).padStart(6, '0');
    const root = path.join(this.dir, CHECKPOINTS);
    const tmp = path.join(root, `.tmp-${generation}-${process.pid}`);
    const final = path.join(root, generation);
    const where = previous ? `generation ${previous.generation}, epoch ${previous.epoch}${previous.batch ? ` batch ${previous.batch}` : ''}` : null;
    try {
      mkdirSync(tmp, { recursive: true });
      saveSafetensors(path.join(tmp, RUN_FILES.optimizer), optTensors, {
        checkpoint_id: id,
        hyper: JSON.stringify(opt.hyper),
        scalars: JSON.stringify(scalars),
        params: String(opt.state.length),
        fit_state: JSON.stringify(state),
      });
      saveSafetensors(path.join(tmp, RUN_FILES.model), weights, { checkpoint_id: id, format: 'pt' });
      fsyncDir(tmp);
      rmSync(final, { recursive: true, force: true });
      renameSync(tmp, final);
      fsyncDir(root);
      const manifest: Manifest = { generation, checkpointId: id, epoch: state.epoch, batch: state.batch };
      atomicWriteFileSync(this.file('manifest'), JSON.stringify(manifest, null, 2) + '\n');
    } catch (err) {
      rmSync(tmp, { recursive: true, force: true });
      throw savingError(this.dir, err, where);
    }
    // The committed checkpoint is safe now; what follows only tidies and may fail harmlessly.
    this.linkTopLevelWeights(path.join(final, RUN_FILES.model));
    this.pruneGenerations(generation);
  }

  /**
   * A process killed between committing a checkpoint and re-linking model.safetensors left the
   * top-level weights one generation behind the manifest: link them again.
   */
  private repairTopLevelWeights(): void {
    let m: Manifest | null;
    try {
      m = this.readManifest();
    } catch {
      return; // a damaged manifest is reported by whatever reads it next
    }
    if (!m) return;
    const current = path.join(this.dir, CHECKPOINTS, m.generation, RUN_FILES.model);
    if (!existsSync(current)) return;
    const top = this.file('model');
    if (existsSync(top) && statSync(top).ino === statSync(current).ino) return;
    this.linkTopLevelWeights(current);
  }

  /** model.safetensors at the top of the run: a hard link to the newest weights, replaced atomically. */
  private linkTopLevelWeights(src: string): void {
    const tmp = path.join(this.dir, `.${RUN_FILES.model}.${process.pid}.link.tmp`);
    try {
      rmSync(tmp, { force: true });
      try {
        linkSync(src, tmp);
      } catch {
        copyFileSync(src, tmp);
      }
      renameSync(tmp, this.file('model'));
      // The optimiser file of a run from before generations would be stale next to it.
      rmSync(this.file('optimizer'), { force: true });
    } catch {
      rmSync(tmp, { force: true });
    }
  }

  private pruneGenerations(current: string): void {
    const root = path.join(this.dir, CHECKPOINTS);
    const gens = readdirSync(root).filter((n) => /^\d{6}$/.test(n) && n <= current).sort();
    for (const old of gens.slice(0, Math.max(0, gens.length - KEEP_GENERATIONS))) rmSync(path.join(root, old), { recursive: true, force: true });
  }

  private readManifest(): Manifest | null {
    const p = this.file('manifest');
    if (!existsSync(p)) return null;
    let m: Manifest;
    try {
      m = JSON.parse(readFileSync(p, 'utf8')) as Manifest;
    } catch (err) {
      throw new Error(`--resume ${this.dir}: ${p} is not valid JSON (${(err as Error).message}); it is written atomically, so the file was changed by hand or the disk is damaged`);
    }
    if (typeof m.generation !== 'string' || !/^\d{6}$/.test(m.generation)) throw new Error(`--resume ${this.dir}: ${p} names no checkpoint generation`);
    return m;
  }

  /** The files of the checkpoint to resume from: the manifest's generation, or a run's top-level pair from before generations. */
  private checkpointFiles(): { model: string; optimizer: string } | null {
    const m = this.readManifest();
    if (m) {
      const dir = path.join(this.dir, CHECKPOINTS, m.generation);
      return { model: path.join(dir, RUN_FILES.model), optimizer: path.join(dir, RUN_FILES.optimizer) };
    }
    if (existsSync(this.file('model')) && existsSync(this.file('optimizer'))) return { model: this.file('model'), optimizer: this.file('optimizer') };
    return null;
  }

  hasCheckpoint(): boolean {
    return this.checkpointFiles() !== null;
  }

  /** Load weights and optimiser state into net/optimizer; returns the fit state to resume from. */
  loadCheckpoint(net: Module, optimizer: Optimizer): FitState {
    const files = this.checkpointFiles();
    if (!files) throw new Error(`--resume ${this.dir}: no checkpoint yet (one is written at the end of each epoch and on Ctrl-C)`);
    const model = loadSafetensors(files.model);
    const opt = loadSafetensors(files.optimizer);
    const idModel = model.metadata.checkpoint_id;
    const idOpt = opt.metadata.checkpoint_id;
    if (!idModel || idModel !== idOpt) {
      throw new Error(`--resume ${this.dir}: ${files.model} (checkpoint ${idModel ?? '?'}) and ${files.optimizer} (checkpoint ${idOpt ?? '?'}) are from different checkpoints`);
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
    return parseFitState(opt.metadata.fit_state, files.optimizer);
  }
}

/** The fit state stored with a checkpoint, checked field by field (a resume must not start from nonsense). */
export function parseFitState(text: string | undefined, file: string): FitState {
  if (text === undefined) throw new Error(`--resume: ${file} has no fit_state in its metadata; it was not written by torchlet train`);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new Error(`--resume: the fit_state in ${file} is not valid JSON (${(err as Error).message.slice(0, 120)})`);
  }
  const s = v as Partial<FitState>;
  const bad = (what: string): never => {
    throw new Error(`--resume: the fit_state in ${file} has an invalid ${what}; the checkpoint is damaged or was edited`);
  };
  const nonNegInt = (x: unknown): boolean => Number.isInteger(x) && (x as number) >= 0;
  if (!s || typeof s !== 'object') bad('value');
  if (!nonNegInt(s.epoch)) bad(`epoch (${JSON.stringify(s.epoch)})`);
  if (!nonNegInt(s.batch)) bad(`batch (${JSON.stringify(s.batch)})`);
  if (!Array.isArray(s.metric) || s.metric.length !== 3 || !s.metric.every((x) => typeof x === 'number' && Number.isFinite(x))) bad('metric');
  if (!Array.isArray(s.timerTimes) || !s.timerTimes.every((x) => typeof x === 'number' && x >= 0)) bad('timerTimes');
  if (!Array.isArray(s.points)) bad('points');
  // The generator's four state words, then its spare normal draw (null when none, JSON's NaN).
  const rng = s.rngState as unknown[] | undefined;
  if (!Array.isArray(rng) || rng.length !== 5 || !rng.slice(0, 4).every((x) => Number.isInteger(x)) || !(rng[4] === null || typeof rng[4] === 'number')) bad('rngState');
  if ((rng as unknown[])[4] === null) (rng as unknown[])[4] = NaN;
  if (!(s.lastTestAcc === null || (typeof s.lastTestAcc === 'number' && s.lastTestAcc >= 0 && s.lastTestAcc <= 1))) bad('lastTestAcc');
  if (typeof s.wallSeconds !== 'number' || !(s.wallSeconds >= 0)) bad('wallSeconds');
  if (!nonNegInt(s.wallExamples)) bad('wallExamples');
  return s as FitState;
}
