/**
 * The `torchlet` command. Argument parsing uses commander (well kept, typed,
 * generates help text) rather than a hand-written parser.
 */
import { Command, InvalidArgumentError } from 'commander';
import { registerSummaryCommand } from './summary.js';
import { registerBenchCommand } from './bench.js';
import { registerModelsCommand } from './models.js';
import { registerExtraCommands } from './extra.js';

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a positive integer, got '${value}'`);
  return n;
}

export function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a positive number, got '${value}'`);
  return n;
}

export function buildProgram(): Command {
  const program = new Command('torchlet')
    .description('Deep learning for TypeScript: the d2l convnet zoo on Fashion-MNIST')
    .showHelpAfterError('(run with --help for usage)');
  registerModelsCommand(program);
  registerSummaryCommand(program);
  registerBenchCommand(program);
  registerExtraCommands(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  await buildProgram().parseAsync(argv, { from: 'user' });
}
