/**
 * The code's layout holds: the browser entry bundles for browsers with no
 * Node built-in and no `process` in it, and no module imports itself through
 * others (no import cycles) anywhere under the Node entry.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { gzipSync } from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { build, type Metafile, type Plugin } from 'esbuild';

const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'src');
const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

/** Records every Node built-in the bundle would pull in, with the module that imports it. */
function builtinSpy(found: string[]): Plugin {
  return {
    name: 'node-builtins',
    setup(b) {
      b.onResolve({ filter: /.*/ }, (args) => {
        if (!builtins.has(args.path) && !args.path.startsWith('node:')) return undefined;
        found.push(`${args.path} (imported by ${path.relative(dist, args.importer)})`);
        return { path: args.path, external: true };
      });
    },
  };
}

test('layout: the browser entry bundles with platform browser and pulls in no Node built-in', async () => {
  const found: string[] = [];
  const r = await build({
    entryPoints: [path.join(dist, 'browser.js')], bundle: true, write: false, platform: 'browser', format: 'esm',
    metafile: true, logLevel: 'silent', plugins: [builtinSpy(found)],
  });
  assert.deepEqual(found, [], 'Node built-ins in the browser bundle');
  const code = r.outputFiles[0].text;
  const uses = code.match(/\bprocess\.(env|stdout|stderr|on|exit|hrtime|argv|platform|cwd|resourceUsage|memoryUsage|nextTick)\b/g) ?? [];
  assert.deepEqual(uses, [], 'uses of Node\'s process in the browser bundle');
  const inputs = Object.keys(r.metafile.inputs).map((f) => path.relative(dist, path.resolve(f)));
  assert.ok(inputs.some((f) => f.startsWith('backend/reference/')), 'the reference backend is in it');
  assert.ok(inputs.includes('train/fit.js') && inputs.includes('train/early-stopping.js'), 'fit and early stopping are in it');
  assert.ok(inputs.includes('data/idx-bytes.js') && !inputs.includes('data/idx.js'), 'IDX from bytes, without the Node reader');
  assert.ok(!inputs.some((f) => f.startsWith('backend/cpu/') || f.startsWith('node/') || f.startsWith('cli/')), `no Node-only module: ${inputs.filter((f) => /^(backend\/cpu|node|cli)\//.test(f)).join(', ')}`);
});

test('layout: the pages\' scripts (src/web/) bundle for browsers with no Node built-in, and load torchlet from /torchlet.js instead of bundling it', async () => {
  const found: string[] = [];
  const r = await build({
    entryPoints: ['playground.js', 'train-worker.js', 'runs-view.js'].map((f) => path.join(dist, 'web', f)), bundle: true, write: false,
    platform: 'browser', format: 'esm', outdir: '/tmp/torchlet-web-layout', metafile: true, logLevel: 'silent', plugins: [builtinSpy(found)],
  });
  assert.deepEqual(found, [], 'Node built-ins in the pages\' bundles');
  const inputs = Object.keys(r.metafile.inputs).map((f) => path.relative(dist, path.resolve(f))).filter((f) => !f.includes('node_modules'));
  const outside = inputs.filter((f) => !f.startsWith('web/') && !['train/chart-spec.js', 'train/series.js'].includes(f));
  assert.deepEqual(outside, [], 'the pages draw; torchlet itself comes from /torchlet.js');
});

/** Every cycle among the bundle's modules (each as a path of files, first file repeated at the end). */
function cycles(meta: Metafile): string[][] {
  const edges = new Map<string, string[]>();
  for (const [file, info] of Object.entries(meta.inputs)) edges.set(file, info.imports.filter((i) => !i.external && i.kind === 'import-statement').map((i) => i.path));
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string): void => {
    state.set(f, 'open');
    stack.push(f);
    for (const g of edges.get(f) ?? []) {
      if (state.get(g) === 'open') found.push([...stack.slice(stack.indexOf(g)), g]);
      else if (!state.has(g)) visit(g);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of edges.keys()) if (!state.has(f)) visit(f);
  return found;
}

test('layout: no import cycles under the Node entry (CLI included)', async () => {
  const r = await build({
    entryPoints: [path.join(dist, 'index.js'), path.join(dist, 'cli', 'main.js')], bundle: true, write: false,
    platform: 'node', format: 'esm', packages: 'external', metafile: true, logLevel: 'silent', outdir: 'unused',
  });
  const rel = (f: string): string => path.relative(dist, path.resolve(f));
  const found = cycles(r.metafile).map((c) => c.map(rel).join(' → '));
  assert.deepEqual(found, [], 'import cycles');
});

test('layout: the browser bundle trains: fit with early stopping runs from it on the reference backend', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'torchlet-browser-bundle-'));
  try {
    const out = path.join(dir, 'torchlet.mjs');
    await build({ entryPoints: [path.join(dist, 'browser.js')], bundle: true, outfile: out, platform: 'browser', format: 'esm', logLevel: 'silent' });
    const t = (await import(pathToFileURL(out).href)) as typeof import('../src/browser.js');
    t.manualSeed(0);
    const net = new t.nn.Sequential(new t.nn.Flatten(), new t.nn.Linear(16, 3));
    const batches = Array.from({ length: 4 }, (_, i) => [t.rand([8, 1, 4, 4]), t.tensor(Array.from({ length: 8 }, (_, k) => (i + k) % 3), { dtype: 'int32' })] as [InstanceType<typeof t.Tensor>, InstanceType<typeof t.Tensor>]);
    const iterable = Object.assign(batches, { length: batches.length });
    const lines: string[] = [];
    const r = await t.fit(net, iterable, iterable, {
      epochs: 5, lr: 0.5, callbacks: [t.train.earlyStopping({ monitor: 'trainLoss', patience: 1, minDelta: 100 }), t.train.consoleLines((l) => lines.push(l))],
    });
    assert.equal(t.activeBackend().name, 'reference');
    assert.ok(Number.isFinite(r.trainLoss));
    assert.match(r.stopReason ?? '', /early stopping/);
    assert.match(lines[0], /^epoch 1\/5: loss \d\.\d{3}/);
    // IDX from bytes, gzip inflated by the platform's DecompressionStream, as a page would read Fashion-MNIST.
    const idx = await t.data.parseIdxAsync(Uint8Array.from(gzipSync(t.data.encodeIdx(Uint8Array.from([3, 1, 4]), [3]))), 'labels.gz');
    assert.deepEqual([...idx.data], [3, 1, 4]);
    assert.deepEqual(t.data.getFashionMNISTLabels(idx.data), ['dress', 'trouser', 'coat']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('layout: importing torchlet in Node does not load the ONNX schema (onnx-proto, protobufjs); an export loads it', () => {
  const probe = `import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
await import(${JSON.stringify(pathToFileURL(path.join(dist, 'index.js')).href)});
const loaded = (name) => Object.keys(require.cache).some((k) => k.includes('/node_modules/' + name + '/'));
console.log(JSON.stringify({ onnxProto: loaded('onnx-proto'), protobufjs: loaded('protobufjs') }));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout.trim().split('\n').at(-1) as string), { onnxProto: false, protobufjs: false });
});
