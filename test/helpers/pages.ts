/** Headless Chromium for the page tests: Debian's chromium with WebGPU on SwiftShader, and a check that a screenshot shows something. */
import { PNG } from 'pngjs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--enable-unsafe-webgpu', '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
  });
}

/**
 * Why a screenshot looks blank, or null when it does not: a page that failed to draw is one
 * colour (or nearly), while a drawn one has text, lines and panels.
 */
export function blankness(png: Buffer): string | null {
  const img = PNG.sync.read(png);
  const colours = new Set<number>();
  let sum = 0;
  let sumSq = 0;
  const n = img.width * img.height;
  for (let i = 0; i < n; i++) {
    const [r, g, b] = [img.data[4 * i], img.data[4 * i + 1], img.data[4 * i + 2]];
    colours.add((r << 16) | (g << 8) | b);
    const y = 0.299 * r + 0.587 * g + 0.114 * b;
    sum += y;
    sumSq += y * y;
  }
  const sd = Math.sqrt(sumSq / n - (sum / n) ** 2);
  if (colours.size < 50) return `only ${colours.size} colours`;
  if (sd < 10) return `luminance spread ${sd.toFixed(1)} (a near-uniform image)`;
  return null;
}
