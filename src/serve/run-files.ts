/**
 * What the runs view reads of a runs directory: each run's config.json and
 * metrics.jsonl (train/run-dir.ts writes them, atomically), turned into the
 * curve points the charts draw. Reading never writes, and a run directory
 * that is half made or damaged is listed with what is wrong, not skipped.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { RUN_FILES } from '../train/run-dir.js';
import type { TrainPoint } from '../train/series.js';

export interface RunListEntry {
  id: string;
  model: string;
  epochs: number | null;
  epochsDone: number;
  /** 'running' while its files changed in the last RUNNING_WINDOW_MS and epochs remain. */
  state: 'running' | 'finished' | 'stopped';
  testAcc: number | null;
  startedAt: string | null;
  /** Last change to its metrics (ms since the epoch). */
  updatedAt: number;
  problem: string | null;
}

export type RunEvent =
  | { type: 'snapshot'; id: string; model: string; device: string; epochs: number; lr: number | null; batchSize: number | null; points: TrainPoint[] }
  | { type: 'point'; point: TrainPoint };

/** A run whose files changed this recently counts as training (a point every few seconds is usual; AlexNet on 2 cores takes longer). */
export const RUNNING_WINDOW_MS = 120_000;

/** A run's name as the URL carries it: one directory below the runs directory, never a path. */
export function isRunId(id: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$/.test(id) && !id.includes('..');
}

interface RunConfigView {
  model?: unknown; epochs?: unknown; lr?: unknown; batchSize?: unknown; device?: unknown; startedAt?: unknown;
}

export interface RunFiles {
  config: RunConfigView;
  points: TrainPoint[];
  epochs: { epoch: number; testAcc: number }[];
  /** metrics.jsonl's lines, for telling appends from rewrites. */
  lines: string[];
  updatedAt: number;
  problem: string | null;
}

/** The run's files as they are now; a missing metrics file is an empty run, a malformed line is reported. */
export function readRun(runsDir: string, id: string): RunFiles {
  const dir = path.join(runsDir, id);
  let config: RunConfigView = {};
  let problem: string | null = null;
  try {
    config = JSON.parse(readFileSync(path.join(dir, RUN_FILES.config), 'utf8')) as RunConfigView;
  } catch (e) {
    problem = `${RUN_FILES.config}: ${(e as Error).message}`;
  }
  const metricsPath = path.join(dir, RUN_FILES.metrics);
  const text = existsSync(metricsPath) ? readFileSync(metricsPath, 'utf8') : '';
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const points: TrainPoint[] = [];
  const epochs: { epoch: number; testAcc: number }[] = [];
  lines.forEach((line, i) => {
    try {
      const r = JSON.parse(line) as { kind?: string; epoch?: number; trainLoss?: number; trainAcc?: number; testAcc?: number };
      if (typeof r.epoch !== 'number') return;
      if (r.kind === 'point') points.push(pointOf(r as TrainPoint));
      else if (r.kind === 'epoch' && typeof r.testAcc === 'number') epochs.push({ epoch: r.epoch, testAcc: r.testAcc });
    } catch {
      problem ??= `${RUN_FILES.metrics} line ${i + 1} is not JSON`;
    }
  });
  return { config, points, epochs, lines, updatedAt: runStamp(runsDir, id), problem };
}

/** When the run's files last changed (ms since the epoch; 0 when it has none): a look that reads nothing. */
export function runStamp(runsDir: string, id: string): number {
  const dir = path.join(runsDir, id);
  return Math.max(0, ...[RUN_FILES.metrics, RUN_FILES.config, RUN_FILES.manifest].map((f) => {
    const p = path.join(dir, f);
    return existsSync(p) ? statSync(p).mtimeMs : 0;
  }));
}

/** Just the curve's fields (the file's records also carry kind and step). */
export function pointOf(r: TrainPoint): TrainPoint {
  const p: TrainPoint = { epoch: r.epoch };
  for (const k of ['trainLoss', 'trainAcc', 'testAcc'] as const) if (typeof r[k] === 'number') p[k] = r[k];
  return p;
}

const str = (v: unknown, fallback: string): string => (typeof v === 'string' ? v : fallback);
const numOrNull = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

export function listEntry(runsDir: string, id: string, now = Date.now()): RunListEntry {
  const r = readRun(runsDir, id);
  const epochs = numOrNull(r.config.epochs);
  const done = r.epochs.length ? r.epochs[r.epochs.length - 1].epoch : 0;
  const finished = epochs !== null && done >= epochs;
  return {
    id,
    model: str(r.config.model, '?'),
    epochs,
    epochsDone: done,
    state: finished ? 'finished' : now - r.updatedAt < RUNNING_WINDOW_MS ? 'running' : 'stopped',
    testAcc: r.epochs.length ? r.epochs[r.epochs.length - 1].testAcc : null,
    startedAt: typeof r.config.startedAt === 'string' ? r.config.startedAt : null,
    updatedAt: r.updatedAt,
    problem: r.problem,
  };
}

/** The run directories (those holding a config.json or metrics.jsonl), newest first. */
export function listRuns(runsDir: string): RunListEntry[] {
  if (!existsSync(runsDir)) return [];
  const ids = readdirSync(runsDir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && isRunId(d.name))
    .map((d) => d.name)
    .filter((id) => existsSync(path.join(runsDir, id, RUN_FILES.config)) || existsSync(path.join(runsDir, id, RUN_FILES.metrics)));
  return ids.map((id) => listEntry(runsDir, id)).sort((a, b) => b.updatedAt - a.updatedAt || b.id.localeCompare(a.id));
}

export function snapshotEvent(id: string, r: RunFiles): RunEvent {
  const epochs = numOrNull(r.config.epochs) ?? Math.max(1, Math.ceil(r.points.at(-1)?.epoch ?? 1));
  return {
    type: 'snapshot', id, model: str(r.config.model, id), device: str(r.config.device, '?'), epochs,
    lr: numOrNull(r.config.lr), batchSize: numOrNull(r.config.batchSize), points: r.points,
  };
}

/**
 * What changed between two readings: the new points when the file only grew
 * (training went on), or a fresh snapshot when it was rewritten otherwise (a
 * resumed run drops the records after its checkpoint).
 */
export function changesBetween(id: string, before: RunFiles, after: RunFiles): RunEvent[] {
  const grew = after.lines.length >= before.lines.length && before.lines.every((l, i) => after.lines[i] === l);
  if (!grew || after.config.epochs !== before.config.epochs) return [snapshotEvent(id, after)];
  return after.points.slice(before.points.length).map((point) => ({ type: 'point' as const, point }));
}
