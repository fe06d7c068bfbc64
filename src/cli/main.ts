/**
 * The `torchlet` command. Argument parsing uses commander (well kept, typed,
 * generates help text) rather than a hand-written parser.
 */
import { releaseGpu } from '../gpu.js';
import '../node/setup.js';
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { registerSummaryCommand } from './summary.js';
import { registerBenchCommand } from './bench.js';
import { registerModelsCommand } from './models.js';
import { registerExtraCommands } from './extra.js';

export { positiveInt, positiveNumber } from './args.js';

/** The version in torchlet's package.json (two levels above dist/src/cli). */
function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export function buildProgram(): Command {
  const program = new Command('torchlet')
    .description('Deep learning for TypeScript: the d2l convnet zoo on Fashion-MNIST')
    .version(packageVersion(), '-V, --version', 'print the torchlet version')
    .showHelpAfterError('(run with --help for usage)');
  registerModelsCommand(program);
  registerSummaryCommand(program);
  registerBenchCommand(program);
  registerExtraCommands(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
  } finally {
    // A live GPU device keeps Node's event loop running (and on some drivers a core busy).
    releaseGpu();
  }
}
