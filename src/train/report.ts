/**
 * report.html of a run directory: the training curves (the chart's SVG
 * inline), the test-set confusion matrix as a heat-mapped table, a grid of
 * test images titled "true / pred" like d2l's predict_ch3 (PNG data URIs), and
 * the seed's final lines (`loss …, train acc …, test acc …` and
 * `N examples/sec on <device>`). While the run is going the page reloads
 * itself every few seconds; once finished it stays put. One self-contained
 * file: no scripts, no network.
 */
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { renderChartSvg, type ChartOptions } from './charts.js';
import { formatMetricsLine, formatSpeedLine, latestValues, writeFileAtomic, type RunHistory } from './history.js';

export interface ReportSample {
  /** Row-major grayscale, height × width: bytes 0–255, or floats in [0, 1] or 0–255 (others are min–max scaled). */
  pixels: Uint8Array | Float32Array;
  width: number;
  height: number;
  trueLabel: string;
  predLabel: string;
}

export interface ReportFinal {
  trainLoss: number;
  trainAcc: number;
  testAcc: number;
  /** d2l's figure: examples per second of compute. */
  examplesPerSec: number;
  /** Examples per second of wall-clock time, data loading and evaluation included. */
  wallExamplesPerSec?: number;
  device: string;
}

export interface ReportData {
  history: RunHistory;
  /** classes × classes counts, rows = true class, columns = predicted class. */
  confusion?: number[][];
  samples?: ReportSample[];
  /** Class names, index = class id (Fashion-MNIST's ten). */
  labels: string[];
  final?: ReportFinal;
  /** True while training goes on: the page then reloads itself. */
  running: boolean;
  /** The run's settings (config.json), listed as a table. */
  hyperparameters?: Record<string, string>;
}

export interface ReportOptions {
  /** Seconds between reloads while running (default 5). */
  refreshSeconds?: number;
  /** CSS px per image pixel in the sample grid (default 3). */
  sampleZoom?: number;
  /** Options for the embedded chart. */
  chart?: ChartOptions;
  /** An already rendered chart (e.g. writeChart's `svg`) to embed instead of rendering it again. */
  chartSvg?: string;
}

/**
 * Encodes a grayscale image as an 8-bit grayscale PNG. `pixels` is row-major
 * (height rows of width values). Uint8Array (and other integer arrays) are
 * taken as 0–255; floats in [0, 1] are scaled by 255, floats within 0–255 are
 * taken as they are, and anything else (e.g. mean/std-normalised inputs) is
 * min–max scaled to 0–255.
 */
export function encodeGrayPng(pixels: ArrayLike<number>, width: number, height: number): Uint8Array {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`encodeGrayPng: bad size ${width}x${height}`);
  }
  const n = width * height;
  if (pixels.length !== n) {
    throw new RangeError(`encodeGrayPng: ${pixels.length} pixels for a ${width}x${height} image (expected ${n})`);
  }
  const gray = Buffer.alloc(n);
  if (pixels instanceof Uint8Array || pixels instanceof Uint8ClampedArray) {
    gray.set(pixels);
  } else {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < n; i++) {
      const v = pixels[i];
      if (Number.isFinite(v)) {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
    let scale = 1;
    let offset = 0;
    if (lo === Infinity) {
      scale = 0;
    } else if (lo >= 0 && hi <= 1) {
      scale = 255;
    } else if (!(lo >= 0 && hi <= 255)) {
      offset = lo;
      scale = hi > lo ? 255 / (hi - lo) : 0;
    }
    for (let i = 0; i < n; i++) {
      const v = pixels[i];
      gray[i] = Number.isFinite(v) ? Math.max(0, Math.min(255, Math.round((v - offset) * scale))) : 0;
    }
  }
  const meta = { width, height, data: gray } as unknown as PNG;
  return PNG.sync.write(meta, { colorType: 0, inputColorType: 0, inputHasAlpha: false, bitDepth: 8 });
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);
}

function fmt(x: number | undefined, digits: number): string {
  return x === undefined ? '–' : Number.isFinite(x) ? x.toFixed(digits) : String(x);
}

/** Background for a share in [0, 1]: white to dark blue. */
function heat(share: number): string {
  const t = Math.max(0, Math.min(1, share));
  const mix = (a: number, b: number): number => Math.round(a + (b - a) * Math.pow(t, 0.6));
  return `rgb(${mix(247, 8)}, ${mix(251, 48)}, ${mix(255, 107)})`;
}

function confusionTable(confusion: number[][], labels: string[]): string {
  const k = confusion.length;
  const name = (i: number): string => escapeHtml(labels[i] ?? String(i));
  let total = 0;
  let correct = 0;
  const rows: string[] = [];
  for (let i = 0; i < k; i++) {
    const row = confusion[i] ?? [];
    const rowSum = row.reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
    total += rowSum;
    correct += row[i] ?? 0;
    const cells = [];
    for (let j = 0; j < k; j++) {
      const v = row[j] ?? 0;
      const share = rowSum > 0 ? v / rowSum : 0;
      const cls = i === j ? ' class="diag"' : '';
      const color = share > 0.45 ? '#fff' : '#111';
      cells.push(
        `<td${cls} style="background:${heat(share)};color:${color}" title="true ${name(i)}, predicted ${name(j)}: ${v} (${(share * 100).toFixed(1)}% of the row)">${v}</td>`,
      );
    }
    const recall = rowSum > 0 ? ((row[i] ?? 0) / rowSum) : NaN;
    rows.push(`<tr><th scope="row">${name(i)}</th>${cells.join('')}<td class="recall">${Number.isFinite(recall) ? recall.toFixed(3) : '–'}</td></tr>`);
  }
  const head = Array.from({ length: k }, (_, j) => `<th scope="col"><span>${name(j)}</span></th>`).join('');
  const acc = total > 0 ? (correct / total).toFixed(3) : '–';
  return `<table class="confusion">
<caption>rows: true class, columns: predicted class; shade: share of the row. ${correct} of ${total} correct (accuracy ${acc})</caption>
<thead><tr><th class="corner">true \\ pred</th>${head}<th scope="col" class="recall"><span>recall</span></th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody>
</table>`;
}

function sampleGrid(samples: ReportSample[], zoom: number): string {
  const figs = samples.map((s) => {
    const png = Buffer.from(encodeGrayPng(s.pixels, s.width, s.height)).toString('base64');
    const wrong = s.trueLabel !== s.predLabel;
    const alt = `true ${s.trueLabel}, predicted ${s.predLabel}`;
    return `<figure class="${wrong ? 'wrong' : 'right'}"><img src="data:image/png;base64,${png}" width="${s.width * zoom}" height="${s.height * zoom}" alt="${escapeHtml(alt)}"><figcaption><span class="true">${escapeHtml(s.trueLabel)}</span><br><span class="pred">${escapeHtml(s.predLabel)}</span></figcaption></figure>`;
  });
  const wrong = samples.filter((s) => s.trueLabel !== s.predLabel).length;
  return `<p class="note">title: true label, then predicted label (as d2l's predict_ch3); ${wrong} of ${samples.length} wrong, framed and labelled in red.</p>
<div class="samples">
${figs.join('\n')}
</div>`;
}

function statusLine(data: ReportData): string {
  const h = data.history;
  const latest = latestValues(h);
  const parts: string[] = [];
  const lastEpoch = h.points.length > 0 ? h.points[h.points.length - 1].epoch : 0;
  parts.push(`epoch ${lastEpoch.toFixed(2)} of ${h.epochs}`);
  if (latest.trainLoss) parts.push(`train loss ${fmt(latest.trainLoss.value, 3)}`);
  if (latest.trainAcc) parts.push(`train acc ${fmt(latest.trainAcc.value, 3)}`);
  if (latest.testAcc) parts.push(`test acc ${fmt(latest.testAcc.value, 3)} (after epoch ${Math.round(latest.testAcc.epoch)})`);
  return parts.join(', ');
}

const STYLE = `
body { font-family: system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; margin: 1.5rem auto; max-width: 1100px; padding: 0 1rem; color: #111; background: #fff; }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; }
h2 { font-size: 1.1rem; margin: 1.8rem 0 .6rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
.meta, .note, caption { color: #555; font-size: .9rem; }
.badge { display: inline-block; font-size: .8rem; font-weight: 600; padding: .1rem .5rem; border-radius: .8rem; vertical-align: middle; margin-left: .5rem; }
.badge.running { background: #fff3cd; color: #7a5b00; }
.badge.done { background: #d1f2d9; color: #17602b; }
.badge.stopped { background: #eee; color: #444; }
pre.metrics { font-size: 1rem; background: #f6f8fa; padding: .6rem .8rem; border-radius: 4px; margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; }
.scroll { overflow-x: auto; }
.chart svg { width: 100%; height: auto; }
dl.hyper { display: grid; grid-template-columns: repeat(auto-fill, minmax(9rem, 1fr)); gap: .4rem; margin: 0; }
dl.hyper div { background: #f6f8fa; border-radius: 4px; padding: .3rem .6rem; }
dl.hyper dt { font-size: .75rem; color: #555; }
dl.hyper dd { margin: 0; font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: .95rem; overflow-wrap: anywhere; }
table.confusion { border-collapse: collapse; font-variant-numeric: tabular-nums; font-size: .85rem; }
table.confusion caption { caption-side: bottom; text-align: left; padding-top: .4rem; }
table.confusion th, table.confusion td { border: 1px solid #ccc; padding: .25rem .45rem; text-align: right; min-width: 2.6rem; }
table.confusion thead th { vertical-align: bottom; text-align: center; font-weight: 600; }
table.confusion tbody th { text-align: left; font-weight: 600; white-space: nowrap; }
table.confusion td.diag { outline: 2px solid #111; outline-offset: -2px; font-weight: 700; }
table.confusion td.recall { background: #f6f8fa; }
.samples { display: flex; flex-wrap: wrap; gap: .8rem; }
.samples figure { margin: 0; text-align: center; }
.samples img { image-rendering: pixelated; display: block; border: 1px solid #ccc; }
.samples figcaption { font-size: .8rem; line-height: 1.25; margin-top: .2rem; }
.samples figure.wrong .pred { color: #c00; font-weight: 700; }
.samples figure.wrong img { border: 2px solid #c00; }
`;

/** The report as an HTML string, given the chart's SVG (pure; writeReport renders the chart and writes the file). */
export function renderReportHtml(data: ReportData, chartSvg: string, opts: ReportOptions = {}): string {
  const h = data.history;
  const refresh = Math.max(1, Math.round(opts.refreshSeconds ?? 5));
  const status = data.running ? 'running' : data.final ? 'done' : 'stopped';
  const statusText = data.running ? `training, reloads every ${refresh} s` : data.final ? 'finished' : 'stopped';
  const title = `${h.model} on Fashion-MNIST`;
  const svg = chartSvg.replace(/^\s*<\?xml[^>]*\?>\s*/, '');

  const metrics: string[] = [];
  if (data.final) {
    const f = data.final;
    metrics.push(escapeHtml(formatMetricsLine(f)));
    metrics.push(escapeHtml(formatSpeedLine(f.examplesPerSec, f.device)));
    if (f.wallExamplesPerSec !== undefined) {
      metrics.push(escapeHtml(`${fmt(f.wallExamplesPerSec, 1)} examples/sec wall clock (data loading and evaluation included)`));
    }
  }

  const sections: string[] = [];
  sections.push(`<section id="curves"><h2>Training curves</h2>
<div class="chart">${svg}</div>
</section>`);
  if (data.final) {
    sections.push(`<section id="metrics"><h2>Final metrics</h2>
<pre class="metrics">${metrics.join('\n')}</pre>
</section>`);
  } else {
    sections.push(`<section id="progress"><h2>${data.running ? 'Progress' : 'Last recorded'}</h2>
<pre class="metrics">${escapeHtml(h.points.length > 0 ? statusLine(data) : 'no points recorded yet')}</pre>
</section>`);
  }
  const hp = Object.entries(data.hyperparameters ?? {});
  if (hp.length > 0) {
    const items = hp.map(([k, v]) => `<div><dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd></div>`).join('\n');
    sections.push(`<section id="hyperparameters"><h2>Hyperparameters</h2>
<dl class="hyper">
${items}
</dl>
</section>`);
  }
  if (data.confusion && data.confusion.length > 0) {
    sections.push(`<section id="confusion"><h2>Confusion matrix (test set${data.final ? '' : ', last evaluation'})</h2>
<div class="scroll">${confusionTable(data.confusion, data.labels)}</div>
</section>`);
  }
  if (data.samples && data.samples.length > 0) {
    sections.push(`<section id="samples"><h2>Test predictions</h2>
${sampleGrid(data.samples, opts.sampleZoom ?? 3)}
</section>`);
  }

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
${data.running ? `<meta http-equiv="refresh" content="${refresh}">\n` : ''}<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}${data.running ? ' (training)' : ''}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>${escapeHtml(title)} <span class="badge ${status}">${statusText}</span></h1>
<p class="meta">${escapeHtml(`device ${h.device} · ${h.epochs} epoch${h.epochs === 1 ? '' : 's'} · updated ${new Date().toISOString().replace('T', ' ').slice(0, 19)} UTC`)}</p>
${sections.join('\n')}
</body>
</html>
`;
}

const generations = new Map<string, number>();

/**
 * Renders the chart and writes `report.html` into `dir` atomically (temp
 * file in `dir`, then rename); returns its path. Safe to call repeatedly
 * without awaiting: when calls overlap, the latest one wins and older ones
 * skip writing (so a late "running" page never replaces the final one).
 */
export async function writeReport(dir: string, data: ReportData, opts: ReportOptions = {}): Promise<string> {
  const path = join(dir, 'report.html');
  const gen = (generations.get(path) ?? 0) + 1;
  generations.set(path, gen);
  // Snapshot what may change while the chart renders.
  const snapshot: ReportData = { ...data, history: { ...data.history, points: [...data.history.points] } };
  const svg = opts.chartSvg ?? (await renderChartSvg(snapshot.history, opts.chart));
  if (generations.get(path) !== gen) return path;
  writeFileAtomic(path, renderReportHtml(snapshot, svg, opts));
  return path;
}
