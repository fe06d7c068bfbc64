/**
 * torchinfo's summary for torchlet modules: one row per module call (nested,
 * down to a depth), output shapes, parameters and mult-adds per row, totals
 * with the trainable split, and torchinfo's memory estimate.
 *
 * Counting follows torchinfo, so the totals agree with it on the same network:
 * - a leaf layer's mult-adds: for a Conv* layer each weight and bias element
 *   once per output position (batch × output H × W), for any other layer each
 *   weight/bias element once per batch row;
 * - a module called again (shared) lists "(recursive)" and its parameters
 *   count once;
 * - forward/backward size: the outputs of leaf layers with parameters, twice
 *   (values and gradients); sizes are in MB of 10^6 bytes.
 */
import type { Module } from '../nn/module.js';
import { Parameter } from '../nn/parameter.js';
import { withForwardHooks } from '../nn/hooks.js';
import { rand } from '../creation.js';
import { Generator } from '../random.js';
import { noGrad } from '../autograd/grad-mode.js';
import { shapeStr } from '../shape.js';
import { layerName } from './summary.js';

export interface SummaryRow {
  /** 0 for the model itself, 1 for its children, … */
  readonly depth: number;
  /** torchinfo's depth index: the row's number among the rows of its depth (1-based). */
  readonly depthIndex: number;
  /** The class name (a Lambda's display name). */
  readonly name: string;
  /** The module's state_dict-style name ('' for the model). */
  readonly path: string;
  readonly outputShape: readonly number[];
  readonly leaf: boolean;
  /** Called before, with parameters: its parameters are counted at the first call. */
  readonly recursive: boolean;
  /** Parameters this row adds to the total: a leaf's own, or those a container holds itself. */
  readonly params: number;
  readonly trainableParams: number;
  /** Every parameter below this module (what a collapsed row shows). */
  readonly nestedParams: number;
  /** A leaf's mult-adds; for a container, its leaves' sum. */
  readonly macs: number;
}

export interface SummaryOptions {
  /** Rows deeper than this are folded into their parent's row (torchinfo's depth, default 3). */
  depth?: number;
}

export interface ModelSummary {
  readonly inputSize: readonly number[];
  readonly depth: number;
  readonly rows: readonly SummaryRow[];
  readonly totalParams: number;
  readonly trainableParams: number;
  readonly nonTrainableParams: number;
  readonly totalMacs: number;
  readonly inputBytes: number;
  readonly forwardBackwardBytes: number;
  readonly paramBytes: number;
  readonly totalBytes: number;
  /** The torchinfo-style table. */
  toString(): string;
}

/** torchinfo's LayerInfo.calculate_macs for a leaf layer. */
function leafMacs(m: Module, out: readonly number[]): number {
  const isConv = layerName(m).includes('Conv');
  let macs = 0;
  for (const [name, p] of m.namedParameters()) {
    const n = p.numel();
    if (name === 'weight' || name === 'bias') {
      macs += isConv ? n * out[0] * out.slice(2).reduce((a, b) => a * b, 1) : out[0] * n;
    } else if (name.includes('weight') || name.includes('bias')) {
      macs += out[0] * (out[1] ?? 1) * n;
    }
  }
  return macs;
}

const trainable = (ps: readonly Parameter[]): number => ps.filter((p) => p.requiresGrad).reduce((s, p) => s + p.numel(), 0);
const count = (ps: readonly Parameter[]): number => ps.reduce((s, p) => s + p.numel(), 0);

/**
 * Summarise net on a random input of `inputSize` (the whole input, batch first, as torchinfo's
 * input_size: [1, 1, 28, 28] for LeNet). The model runs once in eval mode, on its own device;
 * its mode and the default random stream are left as they were.
 */
export function summary(net: Module, inputSize: readonly number[], opts: SummaryOptions = {}): ModelSummary {
  const depth = opts.depth ?? 3;
  if (!Number.isInteger(depth) || depth < 0) throw new Error(`summary: depth must be a whole number ≥ 0, got ${depth}`);
  if (inputSize.length < 1 || inputSize.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new Error(`summary: inputSize must be the input's shape with the batch first, such as [1, 1, 28, 28]; got ${shapeStr(inputSize)}`);
  }
  type Draft = { -readonly [K in keyof SummaryRow]: SummaryRow[K] } & { module: Module };
  const drafts: Draft[] = [];
  const open: Draft[] = [];
  const seenWithParams = new Set<Module>();
  const perDepth = new Map<number, number>();
  const modes = net.modules().map((m) => [m, m.training] as const);
  const x = rand([...inputSize], { device: net.device, generator: new Generator(0) });
  net.eval();
  try {
    noGrad(() => withForwardHooks(net, {
      before: ({ module, path, depth: d }) => {
        const leaf = module.children().length === 0;
        const own = leaf ? module.parameters() : module.ownParameters().map(([, p]) => p);
        const recursive = own.length > 0 && seenWithParams.has(module);
        if (module.parameters().length > 0) seenWithParams.add(module);
        const depthIndex = (perDepth.get(d) ?? 0) + 1;
        perDepth.set(d, depthIndex);
        const row: Draft = {
          depth: d, depthIndex, name: layerName(module), path, outputShape: [], leaf, recursive, module,
          params: recursive ? 0 : count(own), trainableParams: recursive ? 0 : trainable(own),
          nestedParams: count(module.parameters()), macs: 0,
        };
        drafts.push(row);
        open.push(row);
      },
      after: (_call, output) => {
        const row = open.pop() as Draft;
        row.outputShape = [...output.shape];
        if (row.leaf) row.macs = leafMacs(row.module, row.outputShape);
      },
    }, () => net.forward(x)));
  } finally {
    for (const [m, mode] of modes) m.training = mode;
    x.dispose();
  }
  // A container's mult-adds are its leaves' (the rows after it, one level deeper or more).
  drafts.forEach((row, i) => {
    if (row.leaf) return;
    let sum = 0;
    for (let j = i + 1; j < drafts.length && drafts[j].depth > row.depth; j++) if (drafts[j].leaf) sum += drafts[j].macs;
    row.macs = sum;
  });
  const rows: SummaryRow[] = drafts.map(({ module: _m, ...r }) => r);
  const totalParams = rows.reduce((s, r) => s + r.params, 0);
  const trainableParams = rows.reduce((s, r) => s + r.trainableParams, 0);
  const leaves = rows.filter((r) => r.leaf);
  const numel = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
  const inputBytes = 4 * numel(inputSize);
  const forwardBackwardBytes = leaves.filter((r) => r.nestedParams > 0).reduce((s, r) => s + 2 * 4 * numel(r.outputShape), 0);
  const paramBytes = 4 * totalParams;
  const result: ModelSummary = {
    inputSize: [...inputSize], depth, rows, totalParams, trainableParams,
    nonTrainableParams: totalParams - trainableParams,
    totalMacs: leaves.reduce((s, r) => s + r.macs, 0),
    inputBytes, forwardBackwardBytes, paramBytes,
    totalBytes: inputBytes + forwardBackwardBytes + paramBytes,
    toString: () => formatModelSummary(result),
  };
  return result;
}

// ---------------------------------------------------------------- the table

const thousands = (n: number): string => n.toLocaleString('en-US');

/** torchinfo's units: "(M): 0.42", or a plain integer below a thousand. */
function readable(n: number): string {
  const units: Array<[number, string]> = [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'K']];
  for (const [scale, unit] of units) if (n >= scale) return ` (${unit}): ${(n / scale).toFixed(2)}`;
  return `: ${thousands(n)}`;
}

const mb = (bytes: number): string => (bytes / 1e6).toFixed(2);

function treePrefix(depth: number): string {
  if (depth === 0) return '';
  return `${'│    '.repeat(depth - 1)}${depth === 1 ? '├─' : '└─'}`;
}

function paramCell(r: SummaryRow, collapsed: boolean): string {
  if (r.recursive) return '(recursive)';
  const n = r.leaf ? r.params : collapsed ? r.nestedParams : r.params;
  if (n === 0) return '--';
  // Parameters that train none of their weights show in parentheses, as torchinfo shows them.
  return r.leaf && r.trainableParams === 0 ? `(${thousands(n)})` : thousands(n);
}

export function formatModelSummary(s: ModelSummary): string {
  const visible = s.rows.filter((r) => r.depth <= s.depth);
  const header = ['Layer (type:depth-idx)', 'Output Shape', 'Param #', 'Mult-Adds'];
  const body = visible.map((r) => {
    const collapsed = !r.leaf && r.depth === s.depth;
    const label = `${treePrefix(r.depth)}${r.name}${r.depth > 0 ? `: ${r.depth}-${r.depthIndex}` : ''}`;
    const macs = r.macs > 0 && (r.leaf || collapsed) ? thousands(r.macs) : '--';
    return [label, `[${r.outputShape.join(', ')}]`, paramCell(r, collapsed), macs];
  });
  const widths = header.map((h, c) => Math.max(h.length, ...body.map((row) => row[c].length)) + 4);
  const line = (cells: string[]): string => cells.map((cell, c) => (c === cells.length - 1 ? cell : cell.padEnd(widths[c]))).join('').trimEnd();
  const rule = '='.repeat(widths.reduce((a, b) => a + b, 0));
  return [
    rule,
    line(header),
    rule,
    ...body.map(line),
    rule,
    `Total params: ${thousands(s.totalParams)}`,
    `Trainable params: ${thousands(s.trainableParams)}`,
    `Non-trainable params: ${thousands(s.nonTrainableParams)}`,
    `Total mult-adds${readable(s.totalMacs)}`,
    rule,
    `Input shape: [${s.inputSize.join(', ')}]`,
    `Input size (MB): ${mb(s.inputBytes)}`,
    `Forward/backward pass size (MB): ${mb(s.forwardBackwardBytes)}`,
    `Params size (MB): ${mb(s.paramBytes)}`,
    `Estimated Total Size (MB): ${mb(s.totalBytes)}`,
    rule,
  ].join('\n');
}
