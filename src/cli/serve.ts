/** `torchlet serve`: the playground, the library at /torchlet.js and the runs view, on 127.0.0.1. */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import path from 'node:path';

export function portArg(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`expected a port from 0 to 65535 (0 picks a free one), got '${value}'`);
  return n;
}

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('serve the playground (train in the browser) and the runs view on http://127.0.0.1')
    .option('--port <n>', 'port (0 picks a free one)', portArg, 8080)
    .option('--runs <dir>', 'runs directory the runs view shows', 'runs')
    .option('--data-dir <dir>', 'directory holding the Fashion-MNIST IDX files')
    .action(async (flags: { port: number; runs: string; dataDir?: string }) => {
      // Loaded when the command runs: the server is needed by this command alone.
      const { serve } = await import('../serve/server.js');
      const s = await serve({ port: flags.port, runsDir: flags.runs, dataDir: flags.dataDir });
      console.log(`torchlet serve: ${s.url}/ (playground), ${s.url}/runs (runs in ${path.resolve(flags.runs)}), ${s.url}/torchlet.js (the library)`);
      console.log('Ctrl-C stops it.');
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          void s.close().then(resolve);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
