import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { encodeGrayPng, renderReportHtml, writeReport, type ReportData } from '../src/train/report.js';
import type { RunHistory } from '../src/train/history.js';

const LABELS = ['t-shirt', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'ankle boot'];

function history(epochs: number, done: number): RunHistory {
  const points: RunHistory['points'] = [];
  for (let e = 0; e < done; e++) {
    for (let k = 1; k <= 5; k++) points.push({ epoch: e + k / 5, trainLoss: 1 / (e + k / 5 + 0.5), trainAcc: 0.9 - 0.5 / (e + 1 + k) });
    points.push({ epoch: e + 1, testAcc: 0.85 - 0.3 / (e + 2) });
  }
  return { model: 'LeNet', device: 'cpu', epochs, points };
}

function confusion(): number[][] {
  return LABELS.map((_, i) => LABELS.map((__, j) => (i === j ? 900 : (i + j) % 3 === 0 ? 20 : 5)));
}

function image(seed: number, float: boolean): Uint8Array | Float32Array {
  const a = float ? new Float32Array(28 * 28) : new Uint8Array(28 * 28);
  for (let i = 0; i < a.length; i++) {
    const v = ((i * 31 + seed * 17) % 256);
    a[i] = float ? v / 255 : v;
  }
  return a;
}

function data(running: boolean): ReportData {
  return {
    history: history(10, running ? 3 : 10),
    confusion: confusion(),
    labels: LABELS,
    samples: [0, 1, 2, 3, 4, 5].map((k) => ({
      pixels: image(k, k % 2 === 1), width: 28, height: 28,
      trueLabel: LABELS[k], predLabel: k === 4 ? '<shirt>' : LABELS[k],
    })),
    final: running ? undefined : { trainLoss: 0.4691, trainAcc: 0.8234, testAcc: 0.779, examplesPerSec: 8123.44, wallExamplesPerSec: 6000.04, device: 'cpu' },
    running,
  };
}

test('report: encodeGrayPng round-trips bytes, [0,1] floats and normalised floats', () => {
  const bytes = new Uint8Array(6 * 4).map((_, i) => i * 10);
  const back = PNG.sync.read(Buffer.from(encodeGrayPng(bytes, 6, 4)));
  assert.equal(back.width, 6);
  assert.equal(back.height, 4);
  for (let i = 0; i < bytes.length; i++) assert.equal(back.data[4 * i], bytes[i]); // decoded as RGBA
  const unit = Float32Array.from([0, 0.5, 1, 0.25]);
  const u = PNG.sync.read(Buffer.from(encodeGrayPng(unit, 2, 2)));
  assert.deepEqual([0, 1, 2, 3].map((i) => u.data[4 * i]), [0, 128, 255, 64]);
  const normed = Float32Array.from([-0.81, 0, 2.02, 1]); // mean/std-normalised: min–max scaled
  const n = PNG.sync.read(Buffer.from(encodeGrayPng(normed, 4, 1)));
  assert.equal(n.data[0], 0);
  assert.equal(n.data[8], 255);
  const wide = Float32Array.from([0, 100, 255, 3]); // floats in 0–255 stay as they are
  assert.deepEqual([0, 1, 2, 3].map((i) => PNG.sync.read(Buffer.from(encodeGrayPng(wide, 4, 1))).data[4 * i]), [0, 100, 255, 3]);
  assert.throws(() => encodeGrayPng(bytes, 5, 4), RangeError);
});

test('report: finished page has curves, confusion table, images, seed metric lines, no refresh', () => {
  const html = renderReportHtml(data(false), '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><text>train loss</text></svg>');
  assert.ok(html.startsWith('<!doctype html>'));
  assert.ok(!/http-equiv="refresh"/.test(html));
  assert.ok(html.includes('<svg xmlns="http://www.w3.org/2000/svg"'));
  assert.ok(html.includes('loss 0.469, train acc 0.823, test acc 0.779'));
  assert.ok(html.includes('8123.4 examples/sec on cpu'));
  assert.ok(html.includes('6000.0 examples/sec wall clock'));
  // Confusion: one row per class with a header cell, heat-mapped cells, counts, recall.
  assert.equal((html.match(/<tr><th scope="row">/g) ?? []).length, 10);
  assert.equal((html.match(/<td class="diag"/g) ?? []).length, 10);
  assert.match(html, /<td class="diag" style="background:rgb\(\d+, \d+, \d+\);color:#fff"[^>]*>900<\/td>/);
  assert.ok(html.includes('ankle boot'));
  // Images: six PNG data URIs, captions true then pred, the wrong one marked and escaped.
  const uris = html.match(/src="data:image\/png;base64,([A-Za-z0-9+/=]+)"/g) ?? [];
  assert.equal(uris.length, 6);
  const first = /base64,([A-Za-z0-9+/=]+)"/.exec(uris[0])![1];
  assert.equal(PNG.sync.read(Buffer.from(first, 'base64')).width, 28);
  assert.ok(html.includes('<span class="true">coat</span><br><span class="pred">&lt;shirt&gt;</span>'));
  assert.equal((html.match(/<figure class="wrong">/g) ?? []).length, 1);
  assert.ok(!html.includes('<shirt>'));
});

test('report: a running page reloads itself and shows the latest values', () => {
  const html = renderReportHtml(data(true), '<svg></svg>', { refreshSeconds: 3 });
  assert.match(html, /<meta http-equiv="refresh" content="3">/);
  assert.match(html, /epoch 3\.00 of 10, train loss \d\.\d{3}, train acc \d\.\d{3}, test acc \d\.\d{3} \(after epoch 3\)/);
  assert.ok(!html.includes('examples/sec on'));
});

test('report: writeReport writes report.html atomically; the final page wins over earlier refreshes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'torchlet-view-'));
  try {
    const path = await writeReport(dir, data(true));
    assert.equal(path, join(dir, 'report.html'));
    let html = readFileSync(path, 'utf8');
    assert.match(html, /http-equiv="refresh"/);
    assert.ok(html.includes('>train loss<'), 'chart SVG embedded');
    // Fired without awaiting, as a training loop's refresh does: the last call's page stays.
    const p1 = writeReport(dir, data(true));
    const p2 = writeReport(dir, data(false));
    await Promise.all([p1, p2]);
    html = readFileSync(path, 'utf8');
    assert.ok(!/http-equiv="refresh"/.test(html));
    assert.ok(html.includes('loss 0.469, train acc 0.823, test acc 0.779'));
    assert.deepEqual(readdirSync(dir), ['report.html']);
    // A chart rendered already (writeChart's svg) is embedded as given.
    await writeReport(dir, data(false), { chartSvg: '<svg xmlns="http://www.w3.org/2000/svg" id="given"></svg>' });
    assert.ok(readFileSync(path, 'utf8').includes('id="given"'));
    assert.deepEqual(readdirSync(dir), ['report.html']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
