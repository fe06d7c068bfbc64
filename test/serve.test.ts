/**
 * `torchlet serve` in a real browser: Debian's chromium, headless, WebGPU on
 * SwiftShader (--enable-unsafe-webgpu), driven by playwright-core.
 *  - The playground trains LeNet for a few dozen steps on real Fashion-MNIST, once on
 *    webgpu and once on reference, and the loss falls; its weights download as
 *    safetensors that Node and PyTorch load and that give the same logits.
 *  - Pause holds a run and resume finishes it.
 *  - A page imports /torchlet.js and runs PyTorch-made checkpoints of lenet and lenet-bn
 *    on reference and on gpu, matching Node's cpu logits within 1e-4.
 *  - A `torchlet train` run in progress appears in the runs view and its chart grows
 *    without a reload, next to a second run.
 *  - Each view's screenshot (desktop and phone width) is neither blank nor an error.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { createModel, noGrad, rand, Generator, type Tensor } from '../src/index.js';
import { loadModel, loadSafetensors, saveSafetensors } from '../src/io/index.js';
import { serve, type RunningServer } from '../src/serve/server.js';
import { closeStats, describeStats } from './helpers-zoo/compare.js';
import { blankness, launchChromium } from './helpers/pages.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const shots = process.env.TORCHLET_SCREENSHOTS ?? null; // a directory to keep the screenshots in
let dir = '';
let runsDir = '';
let server: RunningServer | null = null;
let browser: Browser | null = null;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'torchlet-serve-'));
  runsDir = path.join(dir, 'runs');
  mkdirSync(runsDir);
  server = await serve({ port: 0, runsDir, pollMs: 200 });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

interface PlaygroundState {
  state: string; backend: string | null; points: { epoch: number; trainLoss?: number; testAcc?: number }[];
  batchLosses: number[]; epochs: { testAcc: number }[]; error: string | null; done: string | null;
}

async function openPage(route: string, viewport = { width: 1280, height: 800 }): Promise<{ page: Page; errors: string[] }> {
  const page = await (browser as Browser).newPage({ viewport, acceptDownloads: true });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${(server as RunningServer).url}${route}`);
  return { page, errors };
}

/** A screenshot that shows the page drawn, with no error on it. */
async function checkScreenshot(page: Page, name: string): Promise<void> {
  const png = await page.screenshot({ fullPage: true });
  if (shots) writeFileSync(path.join(shots, `${name}.png`), png);
  assert.equal(blankness(png), null, `${name}: the screenshot looks blank`);
  const shownErrors = await page.locator('.error:visible').allTextContents();
  assert.deepEqual(shownErrors, [], `${name}: the page shows an error`);
}

async function playgroundRun(page: Page, s: { device: string; batch: number; train: number; test: number; epochs?: number }): Promise<PlaygroundState> {
  await page.waitForFunction(() => document.querySelectorAll('#summary tbody tr').length > 0, null, { timeout: 60_000 });
  await page.selectOption('#model', 'lenet');
  await page.waitForFunction(() => document.querySelector('#summary tbody tr td')?.textContent === 'Reshape');
  await page.selectOption('#device', s.device);
  await page.fill('#epochs', String(s.epochs ?? 1));
  await page.fill('#batch-size', String(s.batch));
  await page.fill('#train-examples', String(s.train));
  await page.fill('#test-examples', String(s.test));
  await page.click('#train');
  await page.waitForFunction(() => {
    const st = (window as unknown as { torchletPlayground: PlaygroundState }).torchletPlayground.state;
    return st === 'done' || st === 'error';
  }, null, { timeout: 240_000, polling: 250 });
  return page.evaluate(() => (window as unknown as { torchletPlayground: PlaygroundState }).torchletPlayground);
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

function assertLossFalls(st: PlaygroundState, label: string): void {
  assert.equal(st.error, null, `${label}: ${st.error}`);
  assert.equal(st.done, 'finished');
  const losses = st.points.filter((p) => p.trainLoss !== undefined).map((p) => p.trainLoss as number);
  assert.ok(losses.length >= 15, `${label}: ${losses.length} curve points`);
  assert.ok(st.batchLosses.length >= 15 && st.batchLosses.every(Number.isFinite), `${label}: batch losses ${st.batchLosses}`);
  const [first, last] = [mean(st.batchLosses.slice(0, 5)), mean(st.batchLosses.slice(-5))];
  assert.ok(last < first - 0.1, `${label}: the batch loss went from ${first.toFixed(3)} to ${last.toFixed(3)}`);
  assert.ok(losses[losses.length - 1] < losses[0], `${label}: the running train loss went from ${losses[0]} to ${losses.at(-1)}`);
  assert.equal(st.epochs.length, 1);
  assert.ok(st.epochs[0].testAcc >= 0 && st.epochs[0].testAcc <= 1);
}

test('the playground trains LeNet on reference: the loss falls, and its weights download as safetensors that Node, the CLI and PyTorch load', async (t) => {
  const { page, errors } = await openPage('/');
  const st = await playgroundRun(page, { device: 'reference', batch: 64, train: 2560, test: 500 });
  assert.equal(st.backend, 'reference');
  assertLossFalls(st, 'reference');
  assert.match(await page.locator('#backend').innerText(), /backend: reference/);
  assert.equal(await page.locator('#confusion tr').count(), 11, 'a 10-class confusion matrix with its header');
  assert.equal(await page.locator('#samples figure').count(), 12, 'the prediction grid');
  assert.ok(Number(await page.locator('#chart').getAttribute('data-points')) >= st.points.length - 1, 'the chart draws the points');
  assert.doesNotMatch(await page.locator('#stat-speed').innerText(), /–/);
  await checkScreenshot(page, 'playground');
  await page.setViewportSize({ width: 390, height: 844 });
  await checkScreenshot(page, 'playground-phone');
  await page.setViewportSize({ width: 1280, height: 800 });

  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
  assert.equal(download.suggestedFilename(), 'lenet.safetensors');
  const weights = path.join(dir, 'playground-lenet.safetensors');
  await download.saveAs(weights);
  const net = createModel('lenet');
  loadModel(net, weights);
  net.eval();
  const x = rand([3, 1, 28, 28], { generator: new Generator(3) });
  const input = path.join(dir, 'input.safetensors');
  saveSafetensors(input, new Map([['input', x]]));
  const node = await noGrad(() => net.forward(x)).data();
  const out = path.join(dir, 'torch-logits.safetensors');
  const r = spawnSync('/usr/bin/python3', [path.join(root, 'scripts', 'torch_interop.py'), 'load', '--model', 'lenet', '--checkpoint', weights, '--input', input, '--out', out], { encoding: 'utf8' });
  assert.equal(r.status, 0, `PyTorch could not load the downloaded weights: ${r.stderr}`);
  const torchLogits = (loadSafetensors(out).tensors.get('logits') as Tensor).dataSync();
  const s = closeStats('PyTorch on the downloaded weights vs Node', torchLogits, node, 1e-4);
  assert.ok(s.worstRatio <= 1, describeStats(s));
  const cli = spawnSync(process.execPath, [path.join(root, 'bin', 'torchlet.js'), 'eval', 'lenet', '--weights', weights], { encoding: 'utf8' });
  assert.equal(cli.status, 0, cli.stderr);
  assert.match(cli.stdout, /test acc(uracy)?\W+0\.\d+/i);
  assert.deepEqual(errors, []);
  t.diagnostic(`reference: batch loss ${mean(st.batchLosses.slice(0, 5)).toFixed(3)} → ${mean(st.batchLosses.slice(-5)).toFixed(3)} in ${st.points.filter((p) => p.trainLoss !== undefined).length} points; ${cli.stdout.trim()}`);
  await page.close();
});

test('the playground trains LeNet on webgpu (SwiftShader): the loss falls and the page names the adapter', async (t) => {
  const { page, errors } = await openPage('/');
  const st = await playgroundRun(page, { device: 'gpu', batch: 32, train: 1280, test: 200 });
  assert.match(st.backend ?? '', /^webgpu: .+/, `backend ${st.backend}, error ${st.error}`);
  assertLossFalls(st, 'webgpu');
  assert.match(await page.locator('#backend').innerText(), /backend: webgpu: /);
  assert.deepEqual(errors, []);
  t.diagnostic(`${st.backend}: batch loss ${mean(st.batchLosses.slice(0, 5)).toFixed(3)} → ${mean(st.batchLosses.slice(-5)).toFixed(3)}`);
  await page.close();
});

test('the playground pauses a run (no new points while paused), resumes it to the end, and stops one part-way', async () => {
  const { page } = await openPage('/');
  await page.waitForFunction(() => document.querySelectorAll('#summary tbody tr').length > 0, null, { timeout: 60_000 });
  await page.selectOption('#device', 'reference');
  await page.fill('#epochs', '1');
  await page.fill('#batch-size', '32');
  await page.fill('#train-examples', '4800');
  await page.fill('#test-examples', '200');
  await page.click('#train');
  const state = (): Promise<PlaygroundState> => page.evaluate(() => (window as unknown as { torchletPlayground: PlaygroundState }).torchletPlayground);
  await page.waitForFunction(() => (window as unknown as { torchletPlayground: PlaygroundState }).torchletPlayground.points.length >= 2, null, { timeout: 60_000 });
  await page.click('#pause');
  await page.waitForFunction(() => (window as unknown as { torchletPlayground: PlaygroundState }).torchletPlayground.state === 'paused', null, { timeout: 30_000 });
  assert.equal(await page.locator('#pause').innerText(), 'Resume');
  const held = (await state()).points.length;
  await page.waitForTimeout(1500);
  assert.equal((await state()).points.length, held, 'points arrived while paused');
  await page.click('#pause');
  await page.waitForFunction(() => (window as unknown as { torchletPlayground: PlaygroundState }).torchletPlayground.state === 'done', null, { timeout: 120_000 });
  const end = await state();
  assert.equal(end.done, 'finished');
  assert.ok(end.points.length > held);
  // Stop ends a run after the batch in flight, and what it trained so far still downloads.
  await page.click('#train');
  await page.waitForFunction(() => (window as unknown as { torchletPlayground: PlaygroundState }).torchletPlayground.points.length >= 2, null, { timeout: 60_000 });
  await page.click('#stop');
  await page.waitForFunction(() => (window as unknown as { torchletPlayground: PlaygroundState }).torchletPlayground.state === 'done', null, { timeout: 60_000 });
  const stopped = await state();
  assert.equal(stopped.done, 'stopped from the page');
  assert.ok(stopped.points.length < end.points.length, `a stopped run has fewer points (${stopped.points.length}) than a whole one (${end.points.length})`);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
  assert.equal(download.suggestedFilename(), 'lenet.safetensors');
  await page.close();
});

test('a page imports /torchlet.js: PyTorch checkpoints in lenet and lenet-bn give the Node cpu logits on reference and on gpu', async (t) => {
  const bundle = path.join(root, 'dist', 'web', 'torchlet.js');
  const kb = statSync(bundle).size / 1024;
  assert.ok(kb < 500, `the browser module is ${kb.toFixed(0)} KB minified; the budget is 500 KB`);
  const { page, errors } = await openPage('/runs');
  for (const name of ['lenet', 'lenet-bn']) {
    const ckpt = path.join(dir, `${name}.safetensors`);
    const io = path.join(dir, `${name}-io.safetensors`);
    const r = spawnSync('/usr/bin/python3', [path.join(root, 'scripts', 'torch_interop.py'), 'export', '--model', name, '--checkpoint', ckpt, '--io', io, '--batch', '3', '--seed', '5'], { encoding: 'utf8' });
    assert.equal(r.status, 0, `torch_interop.py export ${name}: ${r.stderr}`);
    const got = await page.evaluate(async ([model, ckptB64, ioB64]) => {
      const torch = (await import('/torchlet.js' as string)) as typeof import('../src/browser.js');
      const bytes = (b64: string): Uint8Array => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const net = torch.createModel(model);
      net.loadStateDict(torch.io.deserialize(bytes(ckptB64)).tensors);
      net.eval();
      const x = torch.io.deserialize(bytes(ioB64)).tensors.get('input') as InstanceType<typeof torch.Tensor>;
      const reference = [...(await torch.noGrad(() => net.forward(x)).data())];
      const dev = await torch.initGpu();
      net.to(dev);
      const gpu = [...(await torch.noGrad(() => net.forward(x.to(dev))).data())];
      return { reference, gpu, adapter: torch.backendFor(dev).describe(), backend: torch.activeBackend().name };
    }, [name, readFileSync(ckpt).toString('base64'), readFileSync(io).toString('base64')] as const);
    assert.equal(got.backend, 'reference', 'pages compute on the reference backend unless a GPU is asked for');
    const want = createModel(name);
    loadModel(want, ckpt);
    want.eval();
    const x = loadSafetensors(io).tensors.get('input') as Tensor;
    const cpu = await noGrad(() => want.forward(x)).data();
    const ref = closeStats(`${name} reference in the page vs Node cpu`, got.reference, cpu, 1e-4);
    assert.ok(ref.worstRatio <= 1, describeStats(ref));
    const gpu = closeStats(`${name} gpu in the page vs Node cpu`, got.gpu, cpu, 1e-4);
    assert.ok(gpu.worstRatio <= 1, describeStats(gpu));
    assert.match(got.adapter, /^gpu \(.+WebGPU\)$/);
    t.diagnostic(`${name}: reference ${ref.relErr.toExponential(1)}, ${got.adapter} ${gpu.relErr.toExponential(1)} of the logits' scale; torchlet.js ${kb.toFixed(0)} KB`);
  }
  assert.deepEqual(errors, []);
  await page.close();
});

/** A finished run as `torchlet train` leaves it (two epochs of LeNet), to compare against. */
function writeFinishedRun(id: string): void {
  const d = path.join(runsDir, id);
  mkdirSync(d, { recursive: true });
  writeFileSync(path.join(d, 'config.json'), JSON.stringify({ model: 'lenet', epochs: 2, lr: 0.9, batchSize: 256, device: 'cpu', startedAt: '2026-12-01T00:00:00.000Z' }));
  const lines: string[] = [];
  for (let e = 0; e < 2; e++) {
    for (let k = 1; k <= 5; k++) lines.push(JSON.stringify({ kind: 'point', step: e * 235 + k * 47, epoch: e + k / 5, trainLoss: 2.3 - 0.15 * (e * 5 + k), trainAcc: 0.1 + 0.06 * (e * 5 + k) }));
    lines.push(JSON.stringify({ kind: 'point', step: (e + 1) * 235, epoch: e + 1, testAcc: 0.5 + 0.1 * e }));
    lines.push(JSON.stringify({ kind: 'epoch', step: (e + 1) * 235, epoch: e + 1, trainLoss: 1.5, trainAcc: 0.5, testAcc: 0.5 + 0.1 * e, examplesPerSec: 20000, lr: 0.9 }));
  }
  writeFileSync(path.join(d, 'metrics.jsonl'), lines.join('\n') + '\n');
}

test('the runs view: a torchlet train run in progress appears and its chart grows without a reload, beside a finished run', async (t) => {
  writeFinishedRun('lenet-finished');
  const live = path.join(runsDir, 'lenet-live');
  const child: ChildProcess = spawn(process.execPath, [path.join(root, 'bin', 'torchlet.js'), 'train', 'lenet', '--epochs', '3', '--out', live], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout?.on('data', (b: Buffer) => (log += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (log += b.toString()));
  try {
    const { page, errors } = await openPage('/runs');
    const loaded = await page.evaluate(() => performance.timeOrigin);
    // The run appears in the list (polled) once its directory exists.
    await page.waitForSelector('#run-list tr[data-run="lenet-live"]', { timeout: 60_000 });
    await page.locator('#run-list tr[data-run="lenet-live"] input').check();
    await page.locator('#run-list tr[data-run="lenet-finished"] input').check();
    const live = page.locator('#compare section[data-run="lenet-live"]');
    const done = page.locator('#compare section[data-run="lenet-finished"]');
    await done.waitFor();
    await page.waitForFunction(() => Number(document.querySelector('#compare section[data-run="lenet-finished"]')?.getAttribute('data-points')) === 12);
    await page.waitForFunction(() => Number(document.querySelector('#compare section[data-run="lenet-live"]')?.getAttribute('data-points')) >= 1, null, { timeout: 90_000 });
    const first = Number(await live.getAttribute('data-points'));
    await page.waitForFunction((n) => Number(document.querySelector('#compare section[data-run="lenet-live"]')?.getAttribute('data-points')) >= n + 2, first, { timeout: 90_000 });
    const later = Number(await live.getAttribute('data-points'));
    assert.equal(await page.evaluate(() => performance.timeOrigin), loaded, 'the page was reloaded');
    assert.match(await page.locator('#run-list tr[data-run="lenet-live"]').innerText(), /training/);
    assert.match(await page.locator('#run-list tr[data-run="lenet-finished"]').innerText(), /finished · 2\/2 epochs/);
    // Side by side at 1280 px: the two charts share a row.
    const [a, b] = [await live.boundingBox(), await done.boundingBox()];
    assert.ok(a && b && Math.abs(a.y - b.y) < 2 && Math.abs(a.x - b.x) > 300, `the two runs' panels at ${JSON.stringify(a)} and ${JSON.stringify(b)}`);
    assert.ok((await live.locator('svg').count()) >= 1 && (await done.locator('svg').count()) >= 1, 'both charts drawn');
    await checkScreenshot(page, 'runs');
    await page.setViewportSize({ width: 390, height: 844 });
    await checkScreenshot(page, 'runs-phone');
    assert.deepEqual(errors, []);
    t.diagnostic(`live run: ${first} → ${later} points without a reload`);
    await page.close();
  } finally {
    child.kill('SIGINT');
    await new Promise((resolve) => child.once('exit', resolve));
  }
  assert.ok(existsSync(path.join(live, 'config.json')), `the CLI run wrote no config.json:\n${log}`);
});

test('serve answers only what it serves: unknown paths, run ids that are paths, other data files and writes are refused with a reason', async () => {
  const url = (server as RunningServer).url;
  const get = async (p: string, init?: RequestInit): Promise<{ status: number; text: string }> => {
    const r = await fetch(url + p, init);
    return { status: r.status, text: await r.text() };
  };
  assert.deepEqual(await get('/nothing-here'), { status: 404, text: 'nothing at /nothing-here: the pages are / (playground) and /runs' });
  assert.equal((await get('/api/runs/..%2F..%2Fetc')).status, 404);
  assert.equal((await get('/api/runs/%2Fetc%2Fpasswd')).status, 404);
  assert.match((await get('/data/..%2Fpasswd')).text, /no data file/);
  assert.equal((await get('/', { method: 'POST' })).status, 405);
  const list = JSON.parse((await get('/api/runs')).text) as { dir: string; runs: { id: string }[] };
  assert.equal(list.dir, runsDir);
  const served = Buffer.from(await (await fetch(`${url}/torchlet.js`)).arrayBuffer());
  assert.ok(served.equals(readFileSync(path.join(root, 'dist', 'web', 'torchlet.js'))), '/torchlet.js is the built module');
  const images = Buffer.from(await (await fetch(`${url}/data/testLabels`)).arrayBuffer());
  assert.ok(images.length > 1000, 'the test labels are served');
  await assert.rejects(serve({ port: (server as RunningServer).port }), /port \d+ on 127\.0\.0\.1 is in use: pass --port/);
});
