/**
 * d2l's training curves in a page, drawn by Vega from the same Vega-Lite spec
 * the report's chart uses (train/chart-spec.ts). Redraws are coalesced to one
 * per animation frame, so a stream of points costs one render at a time.
 */
import * as vega from 'vega';
import { compile } from 'vega-lite';
import { chartSpec } from '../train/chart-spec.js';
import type { RunHistory } from '../train/series.js';

export interface LiveChart {
  /** Draw `history` (its points may have grown or been replaced since the last call). */
  update(history: RunHistory, subtitle?: string): void;
}

export function liveChart(container: HTMLElement): LiveChart {
  let view: vega.View | null = null;
  let pending: { history: RunHistory; subtitle?: string } | null = null;
  let rendering = false;

  const render = async (): Promise<void> => {
    if (rendering || !pending) return;
    rendering = true;
    const { history, subtitle } = pending;
    pending = null;
    // The plot fills its panel, less the axes and the legend's column (about 190 px together).
    const width = Math.max(160, Math.min(640, container.clientWidth - 190));
    const spec = compile(chartSpec(history, { width, height: Math.round(width * 0.55), markers: history.points.length < 40, subtitle })).spec;
    try {
      view?.finalize();
      view = new vega.View(vega.parse(spec), { renderer: 'svg', container, hover: false });
      await view.runAsync();
      // The points drawn so far, for tests and anyone inspecting the page.
      container.dataset.points = String(history.points.length);
    } finally {
      rendering = false;
      if (pending) requestAnimationFrame(() => void render());
    }
  };

  let last: { history: RunHistory; subtitle?: string } | null = null;
  let lastWidth = container.clientWidth;
  // Redrawn at the new size when the panel's width changes (a phone turned, a window resized).
  new ResizeObserver(() => {
    if (!last || Math.abs(container.clientWidth - lastWidth) < 8) return;
    lastWidth = container.clientWidth;
    chart.update(last.history, last.subtitle);
  }).observe(container);

  const chart: LiveChart = {
    update(history, subtitle) {
      last = { history, subtitle };
      const first = pending === null;
      pending = { history: { ...history, points: [...history.points] }, subtitle };
      if (first) requestAnimationFrame(() => void render());
    },
  };
  return chart;
}
