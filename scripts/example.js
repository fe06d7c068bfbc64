#!/usr/bin/env node
// `npm run example <name>`: run examples/<name>.ts with tsx (EPOCHS=1 or SHAPES_ONLY=1 shorten it).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dir = path.join(root, 'examples');
const names = readdirSync(dir).filter((f) => f.endsWith('.ts') && f !== 'common.ts').map((f) => f.slice(0, -3)).sort();
const name = process.argv[2];
if (!name || !names.includes(name)) {
  console.error(`${name ? `no example '${name}'` : 'which example?'} Examples: ${names.join(', ')}\n` +
    'Run one with: npm run example lenet   (EPOCHS=1 trains one epoch; SHAPES_ONLY=1 only prints the layer shapes)');
  process.exit(2);
}
const tsx = path.join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs');
if (!existsSync(tsx)) {
  console.error(`tsx is not installed (it is a dev dependency: run npm install), or run the built example: npm run build && node dist/examples/${name}.js`);
  process.exit(2);
}
const r = spawnSync(process.execPath, [tsx, path.join(dir, `${name}.ts`), ...process.argv.slice(3)], { stdio: 'inherit' });
process.exit(r.status ?? 1);
