/**
 * Layer-by-layer shape summary, the seed's
 *   for layer in net: X = layer(X); print(layer.__class__.__name__, 'output shape:\t', X.shape)
 * plus parameter and multiply-add counts for the table view.
 */
import type { Module } from '../nn/module.js';
import { Sequential } from '../nn/layers/container.js';
import { rand } from '../creation.js';
import { noGrad } from '../autograd/grad-mode.js';
import { withMacCount } from '../ops/counter.js';
import { callChild } from '../nn/module.js';

export interface LayerSummary {
  name: string;
  outputShape: number[];
  params: number;
  macs: number;
}

/** The name a summary row shows: a Lambda's display name, else the class name (torch's __class__.__name__). */
export function layerName(m: Module): string {
  const display = (m as { displayName?: unknown }).displayName;
  return typeof display === 'string' ? display : m.constructor.name;
}

/** Run a random [1, ...inputShape] input through the model's top-level layers. */
export function summarize(model: Module, inputShape: readonly number[], batch = 1): LayerSummary[] {
  const layers = model instanceof Sequential ? [...model] : [model];
  let X = rand([batch, ...inputShape]);
  const out: LayerSummary[] = [];
  noGrad(() => {
    model.eval();
    layers.forEach((layer, i) => {
      const { result, macs } = withMacCount(() => callChild(layer, `[${i}]`, X));
      X = result;
      const params = layer.parameters().reduce((s, p) => s + p.numel(), 0);
      out.push({ name: layerName(layer), outputShape: [...X.shape], params, macs });
    });
    model.train();
  });
  return out;
}

function human(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}K`;
  return String(n);
}

export function formatSummary(rows: readonly LayerSummary[], opts: { table?: boolean; totalParams?: number } = {}): string {
  if (!opts.table) return rows.map((r) => `${r.name} output shape:\t[${r.outputShape.join(', ')}]`).join('\n');
  const header = ['layer', 'output shape', 'params', 'mult-adds'];
  const body = rows.map((r, i) => [`${i} ${r.name}`, `[${r.outputShape.join(', ')}]`, r.params.toLocaleString('en-US'), human(r.macs)]);
  const totalParams = opts.totalParams ?? rows.reduce((s, r) => s + r.params, 0);
  const totalMacs = rows.reduce((s, r) => s + r.macs, 0);
  const footer = ['total', '', totalParams.toLocaleString('en-US'), human(totalMacs)];
  const all = [header, ...body, footer];
  const widths = header.map((_, c) => Math.max(...all.map((r) => r[c].length)));
  const line = (r: string[]): string => r.map((cell, c) => (c >= 2 ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join('  ');
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(header), rule, ...body.map(line), rule, line(footer)].join('\n');
}
