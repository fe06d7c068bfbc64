/**
 * The Vega-Lite spec of d2l's Animator plot (train_ch6): train loss, train acc
 * and test acc against the epoch. Plain data, so the report (rendered in
 * Node by charts.ts) and the browser pages (rendered live by Vega) draw the
 * same chart.
 *
 * Styles follow d2l's default fmts ('-', 'm--', 'g-.'): train loss a solid
 * blue line, train acc a dashed magenta line, test acc a dash-dot green line;
 * x axis 'epoch', grid, legend.
 */
import type { TopLevelSpec } from 'vega-lite';
import { SERIES, toSeriesRows, type RunHistory } from './series.js';

/** matplotlib's default blue ('C0'), 'm' and 'g'. */
export const SERIES_COLORS = ['#1f77b4', '#bf00bf', '#008000'] as const;
/** '-', '--', '-.' as SVG dash arrays (in px). */
export const SERIES_DASHES: readonly (readonly number[])[] = [[1, 0], [6, 4], [7, 3, 1.5, 3]];

export interface ChartOptions {
  /** Width and height of the plotting area in px (default 480 × 300). */
  width?: number;
  height?: number;
  /** Chart title (default: the model name). */
  title?: string;
  /** Subtitle (default: `<device>, <epochs> epochs`); '' for none. */
  subtitle?: string;
  /** x range (default d2l's [1, epochs]; [0, 1] when epochs <= 1). */
  xlim?: [number, number];
  /** y range (default: fitted to the data, zero included). */
  ylim?: [number, number];
  /** Draw a marker at each point as well as the lines (default false, as d2l). */
  markers?: boolean;
}

function xDomain(history: RunHistory, opts: ChartOptions): [number, number] {
  if (opts.xlim) return opts.xlim;
  // From 0, so the first epoch's curve points (at 0.2, 0.4, …) are on the chart.
  return [0, Math.max(1, history.epochs)];
}

/** The Vega-Lite spec of the chart (exported for inspection and tests). */
export function chartSpec(history: RunHistory, opts: ChartOptions = {}): TopLevelSpec {
  const names = SERIES.map((s) => s.name);
  const domain = xDomain(history, opts);
  // Only what lies inside xlim: clipped anyway, and so the y axis fits what is shown.
  const shown = toSeriesRows(history).filter((r) => r.epoch >= domain[0] && r.epoch <= domain[1]);
  const perSeries = new Map<string, number>();
  for (const r of shown) perSeries.set(r.series, (perSeries.get(r.series) ?? 0) + 1);
  const rows = shown.map((r) => ({ ...r, single: perSeries.get(r.series) === 1 }));
  const ylim = opts.ylim ?? (rows.length === 0 ? [0, 1] : undefined);
  const subtitle = opts.subtitle ?? `${history.device}, ${history.epochs} epoch${history.epochs === 1 ? '' : 's'}`;
  const legend = {
    title: null,
    orient: 'right' as const,
    symbolType: 'stroke',
    symbolSize: 300,
    symbolStrokeWidth: 2,
    labelFontSize: 12,
  };
  return {
    title: subtitle ? { text: opts.title ?? history.model, subtitle } : { text: opts.title ?? history.model },
    width: opts.width ?? 480,
    height: opts.height ?? 300,
    background: 'white',
    padding: 10,
    data: { values: rows },
    layer: [
      { mark: { type: 'line', clip: true, strokeWidth: 2, point: opts.markers ? { filled: true, size: 20 } : false } },
      // A series with one point (a 1-epoch run's test accuracy) is a zero-length line: mark it.
      {
        transform: [{ filter: 'datum.single' }],
        // Not clipped: a 1-epoch run's marker sits on the plot's right edge.
        mark: { type: 'point', filled: true, size: 60, clip: false, opacity: 1 },
      },
    ],
    encoding: {
      x: {
        field: 'epoch',
        type: 'quantitative',
        title: 'epoch',
        scale: { domain, nice: false, zero: false },
        axis: { grid: true, tickMinStep: 1, labelFontSize: 11, titleFontSize: 12 },
      },
      y: {
        field: 'value',
        type: 'quantitative',
        title: 'loss / accuracy',
        scale: ylim ? { domain: ylim, nice: false } : { zero: true, nice: true },
        axis: { grid: true, labelFontSize: 11, titleFontSize: 12 },
      },
      color: {
        field: 'series',
        type: 'nominal',
        scale: { domain: names, range: [...SERIES_COLORS] },
        legend,
      },
      strokeDash: {
        field: 'series',
        type: 'nominal',
        scale: { domain: names, range: SERIES_DASHES.map((d) => [...d]) },
        legend,
      },
    },
    config: {
      font: 'sans-serif',
      title: { fontSize: 14, subtitleFontSize: 11, subtitleColor: '#555', anchor: 'start' },
      axis: { gridColor: '#ddd', domainColor: '#444', tickColor: '#444' },
      view: { stroke: '#444' },
    },
  } as TopLevelSpec;
}
