#!/usr/bin/env node
/**
 * `npm install` hook: build the optional native cpu backend (oneDNN) with
 * node-gyp. It never fails the install — without a compiler or oneDNN the
 * library simply runs on the reference backend — so on failure it prints one
 * warning line and exits 0. The full build log is kept in build/native-build.log.
 *
 * TORCHLET_SKIP_NATIVE=1 skips the build; TORCHLET_NATIVE_VERBOSE=1 streams the compiler output.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const WARNING =
  'torchlet: native cpu backend not built (oneDNN missing?); using the reference backend. ' +
  'Install it with: apt-get install libdnnl-dev && npm rebuild torchlet';

function findNodeGyp() {
  const candidates = [];
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  try {
    candidates.push(createRequire(path.join(root, 'package.json')).resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not installed locally
  }
  if (process.env.npm_execpath) {
    candidates.push(path.resolve(path.dirname(process.env.npm_execpath), '../node_modules/node-gyp/bin/node-gyp.js'));
  }
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  candidates.push(path.join(prefix, 'lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'));
  candidates.push(path.join(prefix, 'node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'));
  return candidates.find((p) => existsSync(p)) ?? null;
}

function main() {
  if (process.env.TORCHLET_SKIP_NATIVE) {
    console.warn(WARNING);
    return;
  }
  const nodeGyp = findNodeGyp();
  if (!nodeGyp) {
    console.warn(WARNING);
    return;
  }
  const args = [nodeGyp, 'rebuild', '--jobs=2'];
  // Use the headers that ship with this node (no download) unless the user chose a nodedir.
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  if (!process.env.npm_config_nodedir && existsSync(path.join(prefix, 'include/node/common.gypi'))) {
    args.push(`--nodedir=${prefix}`);
  }
  const verbose = Boolean(process.env.TORCHLET_NATIVE_VERBOSE);
  const res = spawnSync(process.execPath, args, {
    cwd: root,
    stdio: verbose ? 'inherit' : 'pipe',
    encoding: 'utf8',
    env: process.env,
  });
  const ok = res.status === 0 && existsSync(path.join(root, 'build/Release/torchlet_cpu.node'));
  if (!verbose) {
    try {
      mkdirSync(path.join(root, 'build'), { recursive: true });
      writeFileSync(path.join(root, 'build/native-build.log'), `${res.stdout ?? ''}\n${res.stderr ?? ''}\n${res.error ?? ''}`);
    } catch {
      // best effort
    }
  }
  if (!ok) console.warn(WARNING);
}

try {
  main();
} catch {
  console.warn(WARNING);
}
process.exit(0);
