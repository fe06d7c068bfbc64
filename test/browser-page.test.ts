/**
 * torchlet in a real page: Debian's chromium, headless, with WebGPU on
 * SwiftShader (--enable-unsafe-webgpu), driven by playwright-core. The page
 * imports the browser bundle as an ES module, loads PyTorch-made safetensors
 * checkpoints (scripts/torch_interop.py) into createModel('lenet') and
 * createModel('lenet-bn'), and computes logits on `reference` and on `gpu`;
 * both must match the Node `cpu` backend's logits within 1e-4 (relative to the
 * logits' scale).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium, type Browser } from 'playwright-core';
import { createModel, noGrad, type Tensor } from '../src/index.js';
import { loadModel, loadSafetensors } from '../src/io/index.js';
import { closeStats, describeStats } from './helpers-zoo/compare.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CHROMIUM = '/usr/bin/chromium';
const MODELS = ['lenet', 'lenet-bn'];
let dir = '';
let server: Server | null = null;
let browser: Browser | null = null;
let base = '';

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'torchlet-page-'));
  await build({ entryPoints: [path.join(root, 'dist', 'src', 'browser.js')], bundle: true, outfile: path.join(dir, 'torchlet.js'), platform: 'browser', format: 'esm', logLevel: 'silent' });
  writeFileSync(path.join(dir, 'index.html'), '<!doctype html><meta charset="utf-8"><title>torchlet test page</title><body>torchlet</body>');
  for (const m of MODELS) {
    const r = spawnSync('/usr/bin/python3', [path.join(root, 'scripts', 'torch_interop.py'), 'export', '--model', m, '--checkpoint', path.join(dir, `${m}.safetensors`), '--io', path.join(dir, `${m}-io.safetensors`), '--batch', '3', '--seed', '5'], { encoding: 'utf8' });
    assert.equal(r.status, 0, `torch_interop.py export ${m}: ${r.stderr}`);
  }
  server = createServer((req, res) => {
    const name = (req.url ?? '/').split('?')[0] === '/' ? 'index.html' : decodeURIComponent((req.url ?? '').slice(1).split('?')[0]);
    const file = path.join(dir, path.basename(name));
    if (!existsSync(file)) {
      res.writeHead(404).end('not found');
      return;
    }
    const type = file.endsWith('.js') ? 'text/javascript' : file.endsWith('.html') ? 'text/html' : 'application/octet-stream';
    res.writeHead(200, { 'content-type': type }).end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--enable-unsafe-webgpu', '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  rmSync(dir, { recursive: true, force: true });
});

interface PageResult { reference: number[]; gpu: number[] | null; gpuError: string | null; adapter: string | null; backend: string }

test('a page imports the browser bundle; PyTorch checkpoints in lenet and lenet-bn give the Node cpu logits on reference and on gpu (WebGPU)', async (t) => {
  const page = await (browser as Browser).newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${base}/`);
  for (const name of MODELS) {
    const got = await page.evaluate(async (model): Promise<PageResult> => {
      const torch = await import('/torchlet.js' as string) as typeof import('../src/browser.js');
      const bytes = async (f: string): Promise<Uint8Array> => new Uint8Array(await (await fetch(f)).arrayBuffer());
      const { tensors } = torch.io.deserialize(await bytes(`/${model}.safetensors`));
      const io = torch.io.deserialize(await bytes(`/${model}-io.safetensors`)).tensors;
      const net = torch.createModel(model);
      net.loadStateDict(tensors);
      net.eval();
      const x = io.get('input') as InstanceType<typeof torch.Tensor>;
      const reference = [...(await torch.noGrad(() => net.forward(x)).data())];
      let gpu: number[] | null = null;
      let gpuError: string | null = null;
      let adapter: string | null = null;
      try {
        const dev = await torch.initGpu();
        net.to(dev);
        gpu = [...(await torch.noGrad(() => net.forward(x.to(dev))).data())];
        adapter = torch.backendFor(dev).describe();
        net.to('cpu');
      } catch (e) {
        gpuError = String((e as Error).message ?? e);
      }
      return { reference, gpu, gpuError, adapter, backend: torch.activeBackend().name };
    }, name);
    assert.deepEqual(errors, [], 'errors in the page');
    assert.equal(got.backend, 'reference', 'pages compute on the reference backend when no GPU is asked for');
    const want = createModel(name);
    loadModel(want, path.join(dir, `${name}.safetensors`));
    want.eval();
    const x = loadSafetensors(path.join(dir, `${name}-io.safetensors`)).tensors.get('input') as Tensor;
    const cpu = await noGrad(() => want.forward(x)).data();
    const ref = closeStats(`${name} reference in the page vs Node cpu`, got.reference, cpu, 1e-4);
    assert.ok(ref.worstRatio <= 1, describeStats(ref));
    assert.ok(got.gpu, `WebGPU did not run in the page: ${got.gpuError}`);
    const gpu = closeStats(`${name} gpu in the page vs Node cpu`, got.gpu, cpu, 1e-4);
    assert.ok(gpu.worstRatio <= 1, describeStats(gpu));
    assert.match(got.adapter ?? '', /^gpu \(.+WebGPU\)$/, 'the page names its GPU');
    t.diagnostic(`${name}: reference ${ref.relErr.toExponential(1)}, ${got.adapter} ${gpu.relErr.toExponential(1)} of the logits' scale`);
  }
  await page.close();
});
