import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chartSpec, renderChartPng, renderChartSvg, writeChart } from '../src/train/charts.js';
import { isAnimatorBatch, type RunHistory } from '../src/train/history.js';

/** A train_ch6-shaped history: five train points per epoch, test acc at each epoch end. */
function sampleHistory(epochs = 4, numBatches = 50, upTo = epochs): RunHistory {
  const points: RunHistory['points'] = [];
  for (let e = 0; e < upTo; e++) {
    for (let i = 0; i < numBatches; i++) {
      if (!isAnimatorBatch(i, numBatches)) continue;
      const x = e + (i + 1) / numBatches;
      points.push({ epoch: x, trainLoss: 0.3 + 2 * Math.exp(-x), trainAcc: 0.9 - 0.7 * Math.exp(-x) });
    }
    points.push({ epoch: e + 1, testAcc: 0.88 - 0.6 * Math.exp(-(e + 1)) });
  }
  return { model: 'LeNet <test>', device: 'cpu', epochs, points };
}

/** Tags open and close in order (a cheap well-formedness check; no XML parser in node). */
function assertBalancedXml(xml: string): void {
  const stack: string[] = [];
  const re = /<(\/?)([a-zA-Z][\w:-]*)((?:[^>"']|"[^"]*"|'[^']*')*?)(\/?)>/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(xml))) {
    const [, close, name, , self] = m;
    if (self) continue;
    if (close) assert.equal(stack.pop(), name, `</${name}> closes the wrong element`);
    else stack.push(name);
  }
  assert.deepEqual(stack, [], 'unclosed elements');
}

function pngSize(png: Buffer): { width: number; height: number } {
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
  assert.equal(png.toString('ascii', 12, 16), 'IHDR');
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

function svgSize(svg: string): { width: number; height: number } {
  const m = /^<svg[^>]*\swidth="(\d+(?:\.\d+)?)"[^>]*\sheight="(\d+(?:\.\d+)?)"/.exec(svg);
  assert.ok(m, 'svg has width and height');
  return { width: Number(m[1]), height: Number(m[2]) };
}

test('charts: SVG has the three series in d2l styles, legend, axis title, escaped title', async () => {
  const svg = await renderChartSvg(sampleHistory());
  assert.match(svg, /^<svg[^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.ok(svg.trimEnd().endsWith('</svg>'));
  assertBalancedXml(svg);
  for (const name of ['train loss', 'train acc', 'test acc', 'epoch']) assert.ok(svg.includes(`>${name}<`), `label ${name}`);
  assert.ok(svg.includes('LeNet &lt;test&gt;'), 'title escaped');
  // Line colours: matplotlib's blue, 'm', 'g'; dashes for '--' and '-.'.
  for (const color of ['#1f77b4', '#bf00bf', '#008000']) assert.ok(svg.includes(`stroke="${color}"`), color);
  assert.match(svg, /stroke-dasharray="6,4"/);
  assert.match(svg, /stroke-dasharray="7,3,1.5,3"/);
  const { width, height } = svgSize(svg);
  assert.ok(width > 480 && width < 900 && height > 300 && height < 600, `${width}x${height}`);
});

test('charts: the x axis starts at 0 on every run, so the first epoch\'s points show', () => {
  const spec = chartSpec(sampleHistory(4)) as unknown as {
    data: { values: { epoch: number; series: string }[] };
    encoding: { x: { scale: { domain: number[] } } };
  };
  assert.deepEqual(spec.encoding.x.scale.domain, [0, 4]);
  assert.ok(spec.data.values.some((r) => r.epoch > 0 && r.epoch < 1), 'points of the first epoch are drawn');
  const one = chartSpec({ model: 'm', device: 'cpu', epochs: 1, points: [] }) as unknown as typeof spec;
  assert.deepEqual(one.encoding.x.scale.domain, [0, 1]);
});

test('charts: a series with one point (a 1-epoch run\'s test accuracy) is drawn as a marker', async () => {
  const history = { model: 'm', device: 'cpu', epochs: 1, points: [
    { epoch: 0.5, trainLoss: 1.2, trainAcc: 0.5 }, { epoch: 1, trainLoss: 0.9, trainAcc: 0.6 }, { epoch: 1, testAcc: 0.65 },
  ] };
  // The marker layer's group (Vega's class names) and the symbols drawn in it.
  const markers = (svg: string): number => {
    const group = /class="mark-symbol role-mark layer_1_marks"[^>]*?(\/>|>([\s\S]*?)<\/g>)/.exec(svg);
    assert.ok(group, 'no marker layer in the chart');
    return ((group[2] ?? '').match(/<path/g) ?? []).length; // a self-closed group is empty
  };
  assert.equal(markers(await renderChartSvg(history)), 1);
  const twoEpochs = { ...history, epochs: 2, points: [...history.points, { epoch: 2, testAcc: 0.7 }] };
  assert.equal(markers(await renderChartSvg(twoEpochs)), 0, 'a series with two points is a line, not markers');
});

test('charts: an empty or partial history still renders with its legend', async () => {
  const svg = await renderChartSvg(sampleHistory(10, 50, 0));
  assertBalancedXml(svg);
  for (const name of ['train loss', 'train acc', 'test acc']) assert.ok(svg.includes(`>${name}<`));
  const partial = await renderChartSvg(sampleHistory(10, 50, 2));
  assertBalancedXml(partial);
});

test('charts: PNG has the signature and the SVG size times the scale', async () => {
  const svg = await renderChartSvg(sampleHistory());
  const s = svgSize(svg);
  const p1 = pngSize(Buffer.from(renderChartPng(svg, { scale: 1 })));
  assert.deepEqual(p1, { width: Math.round(s.width), height: Math.round(s.height) });
  const p2 = pngSize(Buffer.from(renderChartPng(svg)));
  assert.ok(Math.abs(p2.width - 2 * s.width) <= 1 && Math.abs(p2.height - 2 * s.height) <= 1, JSON.stringify(p2));
});

test('charts: writeChart writes chart.svg and chart.png atomically, repeatedly and overlapping', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'torchlet-view-'));
  try {
    const out = await writeChart(join(dir, 'run'), sampleHistory(4, 50, 1), { scale: 1 });
    assert.ok(out.written);
    assert.deepEqual(readdirSync(join(dir, 'run')).sort(), ['chart.png', 'chart.svg']);
    assert.equal(readFileSync(out.svgPath, 'utf8'), out.svg);
    pngSize(readFileSync(out.pngPath));
    // Refreshes fired without awaiting: the last one's content ends up on disk.
    const hs = [2, 3, 4].map((k) => sampleHistory(4, 50, k));
    const results = await Promise.all(hs.map((h) => writeChart(join(dir, 'run'), h, { scale: 1 })));
    assert.ok(results[2].written);
    assert.equal(readFileSync(join(dir, 'run', 'chart.svg'), 'utf8'), results[2].svg);
    assert.deepEqual(readdirSync(join(dir, 'run')).sort(), ['chart.png', 'chart.svg']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('charts: the view thread draws refreshes in order off this thread, a newer one replacing a waiting one', async () => {
  const { ViewThread } = await import('../src/train/view-thread.js');
  const dir = mkdtempSync(join(tmpdir(), 'torchlet-views-'));
  const views = new ViewThread();
  try {
    const job = (title: string, png: boolean) => ({
      dir, png,
      report: { history: { model: title, device: 'cpu', epochs: 2, points: [{ epoch: 1, trainLoss: 1, trainAcc: 0.5 }, { epoch: 1, testAcc: 0.6 }] }, labels: ['a', 'b'], running: true },
    });
    // The first draws; the second waits and is replaced by the third, which owes the second's PNG.
    const all = [views.render(job('first-model', false)), views.render(job('second-model', true)), views.render(job('third-model', false))];
    await Promise.all(all);
    const svg = readFileSync(join(dir, 'chart.svg'), 'utf8');
    assert.match(svg, /third-model/);
    assert.match(readFileSync(join(dir, 'report.html'), 'utf8'), /third-model/);
    assert.ok(readdirSync(dir).includes('chart.png'), 'the replaced refresh asked for chart.png, so the one drawn instead wrote it');
    assert.ok(!readdirSync(dir).some((f) => f.includes('.tmp')), 'no temp files left');
  } finally {
    await views.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
