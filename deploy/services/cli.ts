/**
 * `npm run services -- up|down|status [name...]`: the local servers from the command line.
 * `up` prints the env as `export K=V` lines on stdout (logs go to stderr), so that
 * `eval "$(npm run -s services -- up kafka)"` works in a shell.
 */
import { Command } from 'commander';
import { down, SERVICE_NAMES, status, up } from './manager.ts';
import type { ServiceName } from './manager.ts';

function shellQuote(v: string): string {
  return /^[\w./:@=,+-]*$/.test(v) ? v : `'${v.replace(/'/g, `'\\''`)}'`;
}

const program = new Command('services')
  .description('real servers (kafka, registry, s3, mongo) as plain processes on 127.0.0.1')
  .option('--state-dir <dir>', 'state folder (default ${TMPDIR:-/tmp}/captionflow-services)');

function stateOpts(): { stateDir?: string } {
  const dir = program.opts<{ stateDir?: string }>().stateDir;
  return dir === undefined ? {} : { stateDir: dir };
}

program
  .command('up')
  .argument('[names...]', `services to start (${SERVICE_NAMES.join(', ')}); all by default`)
  .action(async (names: string[]) => {
    const env = await up((names.length > 0 ? names : [...SERVICE_NAMES]) as ServiceName[], stateOpts());
    for (const [k, v] of Object.entries(env)) process.stdout.write(`export ${k}=${shellQuote(v)}\n`);
  });

program
  .command('down')
  .argument('[names...]', 'services to stop; all by default')
  .option('--keep-data', 'keep the run folders (data and logs)')
  .action(async (names: string[], cmd: { keepData?: boolean }) => {
    await down({
      ...stateOpts(),
      ...(names.length > 0 ? { names: names as ServiceName[] } : {}),
      keepData: cmd.keepData === true,
    });
  });

program
  .command('status')
  .option('--json', 'print JSON')
  .action(async (cmd: { json?: boolean }) => {
    const all = await status(stateOpts());
    if (cmd.json === true) {
      process.stdout.write(`${JSON.stringify(all, null, 2)}\n`);
      return;
    }
    for (const s of all) {
      const what =
        s.record === undefined
          ? 'stopped'
          : s.healthy
            ? 'healthy'
            : s.running
              ? 'running, not answering'
              : 'dead';
      const extra = s.record === undefined ? '' : `  pid=${s.record.pid}  log=${s.record.logFile}`;
      process.stdout.write(`${s.name.padEnd(9)} ${what}${extra}\n`);
    }
  });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
