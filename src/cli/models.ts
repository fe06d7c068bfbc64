import type { Command } from 'commander';
import { listModels } from '../models/index.js';

export function registerModelsCommand(program: Command): void {
  program
    .command('models')
    .description('list the model zoo with input sizes and training defaults')
    .action(() => {
      for (const m of listModels()) {
        const [c, h, w] = m.inputShape;
        const t = m.train;
        console.log(`${m.name.padEnd(17)} ${`${c}x${h}x${w}`.padEnd(10)} lr ${String(t.lr).padEnd(5)} batch ${String(t.batchSize).padEnd(4)} ${m.description}`);
      }
    });
}
