/**
 * `npm run services -- up|down|status [name...]`: the local servers from the command line.
 * `up` prints the env as `export K=V` lines on stdout (logs go to stderr), so that
 * `eval "$(npm run -s services -- up kafka)"` works in a shell: the `CF_*` variables the tests
 * read and the `CAPTIONFLOW_*` variables that point captionflow at the servers;
 * `--write-env <path>` also writes them as `K=V` lines.
 */
import { Command } from 'commander';
import { DEFAULT_SERVICE_NAMES, down, SERVICE_NAMES, status, up } from './manager.ts';
import type { ServiceName } from './manager.ts';
import { writeFileSync } from 'node:fs';
import { captionflowEnv, envFileText } from './captionflow-env.ts';

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
  .argument('[names...]', `services to start (${SERVICE_NAMES.join(', ')}); all but trino by default`)
  // Not `--env-file`: Node 20 takes that flag from anywhere in argv, after the script too, and
  // exits when the file does not exist yet.
  .option('--write-env <path>', 'also write the env (CF_* and CAPTIONFLOW_*) to this file as K=V lines')
  .action(async (names: string[], cmd: { writeEnv?: string }) => {
    const cf = await up((names.length > 0 ? names : [...DEFAULT_SERVICE_NAMES]) as ServiceName[], stateOpts());
    const env = { ...cf, ...captionflowEnv(cf) };
    for (const [k, v] of Object.entries(env)) process.stdout.write(`export ${k}=${shellQuote(v)}\n`);
    if (cmd.writeEnv !== undefined) writeFileSync(cmd.writeEnv, envFileText(env), { mode: 0o600 });
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

program
  .command('confluent-kafka')
  .description('install @confluentinc/kafka-javascript into the cache (first time: a librdkafka build) and print its env')
  .action(async () => {
    const { ensureConfluentKafka } = await import('./confluent-kafka.ts');
    const client = await ensureConfluentKafka();
    process.stdout.write(`export CAPTIONFLOW_KAFKA_CONFLUENT_MODULE=${shellQuote(client.modulePath)}\n`);
  });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
