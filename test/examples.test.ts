// Every examples/ file runs and prints the seed's layer listing (SHAPES_ONLY skips the training part).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const distExamples = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'examples');

/**
 * Each example prints its network's layer listing in the very form `torchlet summary` prints it
 * (the book's `print(layer.__class__.__name__, 'output shape:\t', X.shape)` loop), for the zoo
 * model it builds.
 */
const zooModel: Record<string, string> = {
  lenet: 'lenet', alexnet: 'alexnet', vgg: 'vgg11', nin: 'nin', googlenet: 'googlenet', batchnorm: 'lenet-bn-scratch',
};
const bin = path.resolve(distExamples, '..', '..', 'bin', 'torchlet.js');

for (const [name, model] of Object.entries(zooModel)) {
  test(`examples/${name}.ts prints the book's shapes, exactly as \`torchlet summary ${model}\` does`, () => {
    const r = spawnSync(process.execPath, [path.join(distExamples, `${name}.js`)], { encoding: 'utf8', env: { ...process.env, SHAPES_ONLY: '1' } });
    assert.equal(r.status, 0, r.stderr);
    const summary = spawnSync(process.execPath, [bin, 'summary', model], { encoding: 'utf8' });
    assert.equal(summary.status, 0, summary.stderr);
    assert.match(r.stdout, /output shape:\t\[1, /);
    assert.equal(r.stdout.trim(), summary.stdout.trim());
  });
}

test('npm run example <name> runs the TypeScript example itself (tsx); an unknown name lists the examples', () => {
  const script = path.resolve(distExamples, '..', '..', 'scripts', 'example.js');
  const r = spawnSync(process.execPath, [script, 'lenet'], { encoding: 'utf8', env: { ...process.env, SHAPES_ONLY: '1' } });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^Reshape output shape:\t\[1, 1, 28, 28\]\n/);
  const bad = spawnSync(process.execPath, [script, 'lenett'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /no example 'lenett' Examples: alexnet, batchnorm, googlenet, lenet, nin, vgg/);
});
