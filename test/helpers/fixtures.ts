/** Loading the PyTorch fixtures written by scripts/gen_fixtures.py. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FillSpec } from './fill.js';

/** test/fixtures/parity, from dist/test/helpers/ (compiled) or test/helpers/ (source). */
export const FIXTURE_DIR = fileURLToPath(new URL(import.meta.url.includes('/dist/') ? '../../../test/fixtures/parity/' : '../fixtures/parity/', import.meta.url));

export function loadFixture<T>(name: string): T {
  return JSON.parse(readFileSync(FIXTURE_DIR + name, 'utf8')) as T;
}

export type Values = Array<number | string>;

export interface Stored {
  shape: number[];
  data: Values;
}

export interface InputSpec {
  shape: number[];
  fill?: FillSpec;
  /** Integer constants (class targets). */
  values?: number[];
  int?: boolean;
  /** false: the input does not require grad (e.g. a where() condition). */
  grad?: boolean;
}

export interface OpCase {
  name: string;
  op: string;
  args: Record<string, unknown>;
  inputs: InputSpec[];
  r: FillSpec;
  out: Stored;
  grads?: Record<string, Values | null>;
}

export interface LayerCase {
  name: string;
  module: string;
  ctor: Record<string, unknown>;
  train: boolean;
  functional: boolean;
  input: { shape: number[]; fill: FillSpec };
  params: Record<string, { shape: number[]; fill: FillSpec }>;
  buffers_init: Record<string, FillSpec>;
  r: FillSpec;
  out: Stored;
  grads: Record<string, Values>;
  buffers_after?: Record<string, Stored>;
}

export interface OptimCase {
  name: string;
  optim: 'SGD' | 'Adam' | 'AdamW';
  opts: Record<string, unknown>;
  params: Array<{ shape: number[]; fill: FillSpec }>;
  r: FillSpec[];
  steps: number;
  /** history[step][param] = values after that step. */
  history: Values[][];
}

export interface NnFixture {
  state_dict: Array<{ key: string; shape: number[]; dtype: string }>;
  named_parameters: string[];
  named_buffers: string[];
  named_modules: Array<[string, string]>;
  apply_order: string[];
  fills: Record<string, FillSpec>;
  input: { shape: number[]; fill: FillSpec };
  eval_input: { shape: number[]; fill: FillSpec };
  r: FillSpec;
  train: { out: Stored; input_grad: Values; param_grads: Record<string, Values>; buffers_after: Record<string, Stored> };
  eval_out: Stored;
  repr: Record<string, string>;
}

export interface FormatCase {
  name: string;
  shape: number[];
  values?: Values;
  fill?: FillSpec;
  arange?: number;
  div?: number;
  mul?: number;
  start?: number;
  dtype: 'float32' | 'int32';
  requires_grad: boolean;
  then: 'mul2' | 'sum' | null;
  expected: string;
}
