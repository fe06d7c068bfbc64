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
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

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

test('a fresh project installs the packed tarball and type-checks the README\'s API with tsc --strict, without @types/node', () => {
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
});
