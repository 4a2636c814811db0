/**
 * Child process of the SIGKILL test: imports a dataset into durable deps, and after `hangAfter`
 * acknowledged events lets the next event reach the log but never acknowledges it — the
 * importer is then stuck between "event written" and "state recorded", the worst moment to die.
 * It prints `HANG` and waits for its SIGKILL.
 * Usage: import-child.ts <annotations> <imagesDir> <workDir> <stateFile> <hangAfter>
 */
import { importDataset } from '../../../../services/import/importer.ts';
import { openDurableDeps } from './kill-harness.ts';

const [annotations, imagesDir, workDir, stateFile, hangAfterArg] = process.argv.slice(2);
if (
  annotations === undefined ||
  imagesDir === undefined ||
  workDir === undefined ||
  stateFile === undefined ||
  hangAfterArg === undefined
) {
  throw new Error('usage: import-child.ts <annotations> <imagesDir> <workDir> <stateFile> <hangAfter>');
}
const hangAfter = Number(hangAfterArg);
let acked = 0;
const durable = await openDurableDeps(workDir, (real) => ({
  send: async (records) => {
    if (acked >= hangAfter) {
      await real.send(records);
      process.stdout.write('HANG\n');
      // Keep the process alive with the send pending until the parent kills it.
      setInterval(() => undefined, 1000);
      return new Promise(() => undefined);
    }
    const ack = await real.send(records);
    acked++;
    return ack;
  },
  close: () => real.close(),
}));
await importDataset({
  format: 'coco',
  annotations,
  imagesDir,
  deps: durable.deps,
  stateFile,
  concurrency: 2,
});
process.stdout.write('DONE\n');
await durable.close();
