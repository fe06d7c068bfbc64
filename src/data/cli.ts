/**
 * `torchlet data ...`: where is Fashion-MNIST, and fetch it.
 *
 *   torchlet data [--data-dir DIR]                 report where the data is found / what was tried
 *   torchlet data --download [--mirror URL] [--dir DIR]   download the four .gz files (SHA-256 checked)
 *
 * Wire it from the CLI entry point: `if (cmd === 'data') return dataCommand(rest)`.
 */
import {
  FashionMNISTNotFoundError,
  downloadFashionMNIST,
  fashionMNISTCacheDir,
  fashionMNISTMirror,
  locateFashionMNIST,
} from './fashion-mnist.js';

export const DATA_COMMAND_USAGE = `usage: torchlet data [--data-dir DIR]
       torchlet data --download [--mirror URL] [--dir DIR]

Without --download, reports where Fashion-MNIST is found and every place tried.
--download fetches the four .gz files from the official mirror (or --mirror /
$TORCHLET_MIRROR) into DIR (default ${'${XDG_CACHE_HOME:-~/.cache}'}/torchlet/fashion-mnist),
checking their SHA-256.`;

/** Runs the `data` subcommand; returns the process exit code. */
export async function dataCommand(
  argv: string[],
  io: { out: (s: string) => void; err: (s: string) => void } = { out: (s) => console.log(s), err: (s) => console.error(s) },
): Promise<number> {
  let download = false;
  let dataDir: string | undefined;
  let dir: string | undefined;
  let mirror: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    try {
      if (a === '--download') download = true;
      else if (a === '--data-dir') dataDir = value();
      else if (a.startsWith('--data-dir=')) dataDir = a.slice('--data-dir='.length);
      else if (a === '--dir') dir = value();
      else if (a.startsWith('--dir=')) dir = a.slice('--dir='.length);
      else if (a === '--mirror') mirror = value();
      else if (a.startsWith('--mirror=')) mirror = a.slice('--mirror='.length);
      else if (a === '-h' || a === '--help') {
        io.out(DATA_COMMAND_USAGE);
        return 0;
      } else throw new Error(`unknown argument ${a}`);
    } catch (err) {
      io.err(`torchlet data: ${(err as Error).message}\n${DATA_COMMAND_USAGE}`);
      return 2;
    }
  }

  if (download) {
    const target = dir ?? dataDir ?? fashionMNISTCacheDir();
    try {
      const files = await downloadFashionMNIST({ dir: target, mirror, log: (m) => io.out(m) });
      io.out(`Fashion-MNIST is in ${target}`);
      for (const f of Object.values(files)) io.out(`  ${f}`);
      return 0;
    } catch (err) {
      const loc = locateFashionMNIST({ dataDir });
      io.err(new FashionMNISTNotFoundError(loc.tried, target, fashionMNISTMirror({ mirror }), err as Error).message);
      return 1;
    }
  }

  const loc = locateFashionMNIST({ dataDir });
  for (const t of loc.tried) io.out(`  tried [${t.source}] ${t.dir}: ${t.reason}`);
  if (loc.found) {
    io.out(`Fashion-MNIST found (${loc.source}) in ${loc.dir}`);
    for (const f of Object.values(loc.files)) io.out(`  ${f}`);
    return 0;
  }
  io.err(new FashionMNISTNotFoundError(loc.tried, fashionMNISTCacheDir(), fashionMNISTMirror({ mirror })).message);
  return 1;
}
