/**
 * The `torchlet` command. Argument parsing uses commander (well kept, typed,
 * generates help text) rather than a hand-written parser.
 */
import { releaseGpu } from '../gpu.js';
import '../node/setup.js';
import { Command } from 'commander';
import { VERSION } from '../version.js';
import { registerSummaryCommand } from './summary.js';
import { registerBenchCommand } from './bench.js';
import { registerModelsCommand } from './models.js';
import { registerExtraCommands } from './extra.js';
import { registerExportCommand } from './export.js';
import { registerServeCommand } from './serve.js';

export { positiveInt, positiveNumber } from './args.js';


export function buildProgram(): Command {
  const program = new Command('torchlet')
    .description('Deep learning for TypeScript: the d2l convnet zoo on Fashion-MNIST')
    .version(VERSION, '-V, --version', 'print the torchlet version')
    .showHelpAfterError('(run with --help for usage)');
  registerModelsCommand(program);
  registerSummaryCommand(program);
  registerBenchCommand(program);
  registerExtraCommands(program);
  registerExportCommand(program);
  registerServeCommand(program);
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
