/**
 * What a new user does: pack torchlet, install the tarball into an empty
 * project next to TypeScript, and type-check the README's "API in one screen"
 * with --strict — with no global types ("types": []), so no Node type may
 * leak into the public declarations. (@types/node is still installed, as a
 * dependency of protobufjs; "types": [] keeps tsc from loading it unasked.)
 * Install scripts are skipped (the addon build is not what is checked here)
 * and packages come from npm's cache when it has them.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
let work = '';

before(() => {
  work = mkdtempSync(path.join(tmpdir(), 'torchlet-fresh-'));
});
after(() => rmSync(work, { recursive: true, force: true }));

function sh(cmd: string, args: string[], cwd: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' } });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** The README's "The API in one screen" code block. */
function readmeApi(): string {
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  const section = readme.split('## The API in one screen')[1];
  const block = /```ts\n([\s\S]*?)```/.exec(section ?? '');
  assert.ok(block, 'README.md has no ts block under "The API in one screen"');
  return block[1];
}

test('a fresh project installs the packed tarball, type-checks the README\'s API with tsc --strict without @types/node, and bundles it for browsers', async () => {
  const packDir = path.join(work, 'pack');
  mkdirSync(packDir);
  // dist/ is already built by npm test; --ignore-scripts skips prepare's rebuild.
  sh('npm', ['pack', '--ignore-scripts', '--pack-destination', packDir], root);
  const tarball = readdirSync(packDir).find((f) => f.endsWith('.tgz'));
  assert.ok(tarball, 'npm pack wrote no tarball');
  const app = path.join(work, 'app');
  mkdirSync(app);
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'fresh', version: '1.0.0', type: 'module', private: true }));
  sh('npm', ['install', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', path.join(packDir, tarball), 'typescript@5'], app);
  writeFileSync(path.join(app, 'index.ts'), readmeApi());
  const compilerOptions = { strict: true, noEmit: true, target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext', types: [] };
  writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['index.ts'] }));
  sh(process.execPath, [path.join(app, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], app);
  // The check has teeth: a Node-only name in the same file fails without Node's types.
  writeFileSync(path.join(app, 'index.ts'), `${readmeApi()}\nconst b: Buffer = Buffer.from('x');\n`);
  const r = spawnSync(process.execPath, [path.join(app, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: app, encoding: 'utf8' });
  assert.notEqual(r.status, 0);
  assert.match(r.stdout, /Cannot find name 'Buffer'/);
  // A web app's bundler resolves 'torchlet' to the browser entry (the package's browser condition),
  // and the bundle runs: esbuild with platform browser fails on any Node built-in it meets.
  writeFileSync(path.join(app, 'web.js'), "import * as torch from 'torchlet';\nconst net = torch.createModel('lenet');\nexport const logits = torch.noGrad(() => net.forward(torch.rand([2, 1, 28, 28]))).shape;\nexport const names = [typeof torch.fit, typeof torch.data.DataLoader, typeof torch.io.deserialize, typeof torch.initGpu];\n");
  const out = path.join(app, 'bundle.mjs');
  await build({ entryPoints: [path.join(app, 'web.js')], absWorkingDir: app, bundle: true, platform: 'browser', format: 'esm', outfile: out, logLevel: 'silent' });
  const bundled = (await import(pathToFileURL(out).href)) as { logits: number[]; names: string[] };
  assert.deepEqual(bundled.logits, [2, 10]);
  assert.deepEqual(bundled.names, ['function', 'function', 'function', 'function']);
  // What `torchlet serve` serves ships in the package.
  for (const f of ['torchlet.js', 'playground.js', 'train-worker.js', 'runs.js', 'index.html', 'runs.html', 'style.css']) {
    assert.ok(existsSync(path.join(app, 'node_modules', 'torchlet', 'dist', 'web', f)), `dist/web/${f} is not in the package`);
  }
});
