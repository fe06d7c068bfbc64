/**
 * The training curves of d2l's Animator (train_ch6): train loss, train acc and
 * test acc against the epoch, drawn by Vega-Lite/Vega to an SVG string and
 * rasterised to PNG by resvg. Nothing here touches a display or a browser.
 *
 * Styles follow d2l's default fmts ('-', 'm--', 'g-.'): train loss a solid
 * blue line, train acc a dashed magenta line, test acc a dash-dot green line;
 * x axis 'epoch' with xlim [1, epochs], grid, legend. Points outside xlim
 * (the first epoch's train points at 0.2 … 0.8) are left out, as matplotlib
 * clips them under d2l's xlim, and the y axis fits the points shown.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import { writeFileAtomic, type RunHistory } from './history.js';

export { chartSpec, SERIES_COLORS, SERIES_DASHES, type ChartOptions } from './chart-spec.js';
import { chartSpec, type ChartOptions } from './chart-spec.js';

/** A font for the PNG rasteriser: font files and the family name they hold. */
export interface ChartFont {
  files: string[];
  family: string;
}

export interface PngOptions {
  /** Zoom factor from SVG px to PNG px (default 2, for a sharp image). */
  scale?: number;
  /**
   * Font for the text. Default: the first of DejaVu Sans, Liberation Sans,
   * Noto Sans, Arial found at its usual place (Debian: apt package
   * fonts-dejavu-core), else whatever fonts the system has. With no font at
   * all the PNG still renders, without text (the SVG keeps its text).
   */
  font?: ChartFont;
}

// Loaded on first use: importing Vega and Vega-Lite takes ~0.7 s, which a CLI
// that merely imports this module should not pay.
let vegaModules: Promise<{ vega: typeof import('vega'); vl: typeof import('vega-lite') }> | null = null;
function loadVega(): Promise<{ vega: typeof import('vega'); vl: typeof import('vega-lite') }> {
  vegaModules ??= Promise.all([import('vega'), import('vega-lite')]).then(([vega, vl]) => ({ vega, vl }));
  return vegaModules;
}

/**
 * The Animator's plot as a standalone SVG document (string). Async because
 * Vega's renderer is; it loads nothing from the network.
 */
export async function renderChartSvg(history: RunHistory, opts: ChartOptions = {}): Promise<string> {
  const { vega, vl } = await loadVega();
  const vgSpec = vl.compile(chartSpec(history, opts)).spec;
  const view = new vega.View(vega.parse(vgSpec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const FONT_CANDIDATES: ChartFont[] = [
  {
    family: 'DejaVu Sans',
    files: ['/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf', '/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf'],
  },
  {
    family: 'Liberation Sans',
    files: ['/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf', '/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf'],
  },
  {
    family: 'Noto Sans',
    files: ['/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf', '/usr/share/fonts/truetype/noto/NotoSans-Bold.ttf'],
  },
  { family: 'DejaVu Sans', files: ['/usr/share/fonts/TTF/DejaVuSans.ttf', '/usr/share/fonts/TTF/DejaVuSans-Bold.ttf'] },
  { family: 'Arial', files: ['/System/Library/Fonts/Supplemental/Arial.ttf', '/System/Library/Fonts/Supplemental/Arial Bold.ttf'] },
  { family: 'Arial', files: [join(process.env.WINDIR ?? 'C:\\Windows', 'Fonts', 'arial.ttf'), join(process.env.WINDIR ?? 'C:\\Windows', 'Fonts', 'arialbd.ttf')] },
];

let cachedFont: ChartFont | null | undefined;

/** The font the PNG rasteriser uses by default, or null when none of the usual ones exists. */
export function defaultChartFont(): ChartFont | null {
  if (cachedFont === undefined) {
    cachedFont = null;
    for (const c of FONT_CANDIDATES) {
      const files = c.files.filter((f) => existsSync(f));
      if (files.length > 0 && existsSync(c.files[0])) {
        cachedFont = { family: c.family, files };
        break;
      }
    }
  }
  return cachedFont;
}

/** Rasterises an SVG (e.g. from renderChartSvg) to a PNG. */
export function renderChartPng(svg: string, opts: PngOptions = {}): Uint8Array {
  const font = opts.font ?? defaultChartFont();
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: opts.scale ?? 2 },
    background: 'white',
    font: font
      ? { loadSystemFonts: false, fontFiles: font.files, defaultFontFamily: font.family, sansSerifFamily: font.family }
      : { loadSystemFonts: true },
  });
  return resvg.render().asPng();
}

export interface WrittenChart {
  svg: string;
  svgPath: string;
  pngPath: string;
  /** False when a later writeChart to the same folder started meanwhile and this one left the files to it. */
  written: boolean;
}

const generations = new Map<string, number>();

/**
 * Writes `chart.svg` and (unless `png: false`) `chart.png` into `dir` (created if needed), each
 * atomically (temp file in `dir`, then rename), so it can be called after
 * every point during training while a viewer reloads them. If calls overlap
 * (not awaited), the latest one wins and older ones skip writing.
 */
export async function writeChart(dir: string, history: RunHistory, opts: ChartOptions & PngOptions & { png?: boolean } = {}): Promise<WrittenChart> {
  const gen = (generations.get(dir) ?? 0) + 1;
  generations.set(dir, gen);
  const svg = await renderChartSvg(history, opts);
  const svgPath = join(dir, 'chart.svg');
  const pngPath = join(dir, 'chart.png');
  if (generations.get(dir) !== gen) return { svg, svgPath, pngPath, written: false };
  writeFileAtomic(svgPath, svg);
  // png: false leaves chart.png as it was (rasterising is the costly half of a refresh).
  if (opts.png !== false) writeFileAtomic(pngPath, renderChartPng(svg, opts));
  return { svg, svgPath, pngPath, written: true };
}
