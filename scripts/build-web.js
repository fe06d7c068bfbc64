// Bundles the browser side into dist/web/ after tsc: the library as one ES module
// (torchlet.js, what /torchlet.js serves), the pages' scripts, and their HTML and CSS.
// esbuild does the bundling: it is what the tests already bundle with, and it is fast.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'dist', 'web');
// Afresh each time, so chunks of an earlier build are not left behind.
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const common = { bundle: true, minify: true, format: 'esm', platform: 'browser', target: 'es2022', logLevel: 'warning', legalComments: 'none' };
// keepNames: summaries and messages name modules by their class names, which minifying would shorten.
await build({ ...common, keepNames: true, entryPoints: { torchlet: path.join(root, 'dist', 'src', 'browser.js') }, outdir: out });
// The pages' scripts import torchlet from /torchlet.js at run time, so it is not bundled into them again.
await build({
  ...common,
  entryPoints: {
    playground: path.join(root, 'dist', 'src', 'web', 'playground.js'),
    'train-worker': path.join(root, 'dist', 'src', 'web', 'train-worker.js'),
    runs: path.join(root, 'dist', 'src', 'web', 'runs-view.js'),
  },
  // The charts (Vega) both pages use go into one shared chunk.
  splitting: true,
  chunkNames: 'chunk-[hash]',
  outdir: out,
});
for (const f of readdirSync(path.join(root, 'src', 'web'))) {
  if (f.endsWith('.html') || f.endsWith('.css')) copyFileSync(path.join(root, 'src', 'web', f), path.join(out, f));
}
const kb = (f) => `${(statSync(path.join(out, f)).size / 1024).toFixed(0)} KB`;
console.log(`dist/web: torchlet.js ${kb('torchlet.js')}, playground.js ${kb('playground.js')}, train-worker.js ${kb('train-worker.js')}, runs.js ${kb('runs.js')}`);
