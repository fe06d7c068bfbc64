#!/usr/bin/env node
import('../dist/src/cli/main.js').then((m) => m.main(process.argv.slice(2))).catch((err) => {
  // Exit only once the message is written: on a pipe stderr is asynchronous, and exiting at once cut long errors off.
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`, () => process.exit(1));
});
