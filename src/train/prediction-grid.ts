/**
 * The predictions grid of `torchlet predict --png` (d2l's predict_ch3, like
 * the report's): each test image upscaled, titled with its true and predicted
 * labels, wrong predictions in red with a ✗ and a red frame. Drawn as SVG and
 * rasterised by resvg, as the chart is.
 */
import { encodeGrayPng, escapeHtml, type ReportSample } from './report.js';
import { renderChartPng } from './charts.js';

export interface GridOptions {
  /** Images per row (default: up to 8). */
  columns?: number;
  /** Upscaling of each image, nearest neighbour (default 4: 28 px → 112 px). */
  zoom?: number;
}

/** Nearest-neighbour upscaling of a grayscale image (values kept as they are). */
function upscale(pixels: ArrayLike<number>, w: number, h: number, zoom: number): Float32Array {
  const out = new Float32Array(w * zoom * h * zoom);
  for (let y = 0; y < h * zoom; y++) {
    const row = Math.floor(y / zoom) * w;
    for (let x = 0; x < w * zoom; x++) out[y * w * zoom + x] = pixels[row + Math.floor(x / zoom)];
  }
  return out;
}

export function predictionGridSvg(samples: readonly ReportSample[], opts: GridOptions = {}): string {
  if (samples.length === 0) throw new Error('prediction grid: no images');
  const zoom = opts.zoom ?? 4;
  const cols = Math.max(1, Math.min(opts.columns ?? 8, samples.length));
  const rows = Math.ceil(samples.length / cols);
  const cellW = Math.max(samples[0].width * zoom, 112) + 16;
  const imgH = samples[0].height * zoom;
  const cellH = imgH + 48;
  const headerH = 34;
  const wrong = samples.filter((s) => s.trueLabel !== s.predLabel).length;
  const width = cols * cellW + 16;
  const height = headerH + rows * cellH + 8;
  const cells = samples.map((s, i) => {
    const x = 8 + (i % cols) * cellW;
    const y = headerH + Math.floor(i / cols) * cellH;
    const bad = s.trueLabel !== s.predLabel;
    // Gray values as they are: uint8 stays, floats in [0, 1] are scaled (encodeGrayPng's rule).
    const data = s.pixels instanceof Uint8Array ? Float32Array.from(s.pixels) : s.pixels;
    const png = Buffer.from(encodeGrayPng(upscale(data, s.width, s.height, zoom), s.width * zoom, s.height * zoom)).toString('base64');
    const ix = x + (cellW - 16 - s.width * zoom) / 2;
    return `<g>
<rect x="${ix - 2}" y="${y - 2}" width="${s.width * zoom + 4}" height="${imgH + 4}" fill="none" stroke="${bad ? '#c00' : '#bbb'}" stroke-width="${bad ? 3 : 1}"/>
<image x="${ix}" y="${y}" width="${s.width * zoom}" height="${imgH}" href="data:image/png;base64,${png}"/>
<text x="${x + (cellW - 16) / 2}" y="${y + imgH + 18}" text-anchor="middle" font-size="12" fill="#222"><tspan fill="#777">true </tspan>${escapeHtml(s.trueLabel)}</text>
<text x="${x + (cellW - 16) / 2}" y="${y + imgH + 35}" text-anchor="middle" font-size="12" font-weight="${bad ? 700 : 400}" fill="${bad ? '#c00' : '#17602b'}"><tspan fill="#777" font-weight="400">pred </tspan>${escapeHtml(s.predLabel)}${bad ? ' ✗' : ''}</text>
</g>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="8" y="22" font-size="14" fill="#444">Fashion-MNIST test images: true and predicted label; ${wrong} of ${samples.length} wrong, framed in red</text>
${cells.join('\n')}
</svg>
`;
}

export function predictionGridPng(samples: readonly ReportSample[], opts: GridOptions = {}): Uint8Array {
  return renderChartPng(predictionGridSvg(samples, opts), { scale: 1 });
}
