import type { Command } from 'commander';
import { dataCommand, DATA_COMMAND_USAGE } from '../data/cli.js';
import { registerTrainCommand } from './train.js';
import { registerEvalCommands } from './evaluate.js';

/** Commands whose logic lives in other packages (data, training). */
export function registerExtraCommands(program: Command): void {
  registerTrainCommand(program);
  registerEvalCommands(program);
  program
    .command('data')
    .description('say where Fashion-MNIST was found, or fetch it (--download)')
    .allowUnknownOption(true)
    .helpOption(false)
    .argument('[args...]')
    .addHelpText('after', `\n${DATA_COMMAND_USAGE}`)
    .action(async (args: string[]) => {
      process.exitCode = await dataCommand(args);
    });
}
