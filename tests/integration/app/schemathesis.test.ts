/**
 * schemathesis (PyPI, pinned in tests/fixtures/schemathesis/requirements.txt) against
 * docs/openapi.yaml and the whole HTTP API of one embedded process (tests/integration/app/
 * api-under-test.ts: ingest doors, POST /v1/captions on a promoted tiny model, the Query Data
 * Service over a seeded lake, admin topologies and jobs, dashboard, operations). Generated
 * requests, valid and invalid, must never get a 5xx nor a response the document does not
 * describe: checks not_a_server_error, status_code_conformance, content_type_conformance and
 * response_schema_conformance.
 *
 * Bounded for CI: 10 examples per operation and a fixed seed (a minute or two). Env:
 * - CF_SCHEMATHESIS_EXAMPLES=<n>: examples per operation (e.g. 200 for a long hunt);
 * - CF_SCHEMATHESIS_SEED=<n>|random: the seed (default 1; `random` explores new inputs).
 * - CF_SCHEMATHESIS_INCLUDE=<regex>: only the paths it matches (`--include-path-regex`).
 * The JUnit report goes to test-artifacts/schemathesis/ (gitignored); a failure's message holds
 * schemathesis' own report with a curl line to reproduce each finding.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { schemathesisCli } from '../../fixtures/schemathesis.ts';
import { ADMIN_KEY, startApiUnderTest, type ApiUnderTest } from './api-under-test.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const REPORTS = `${ROOT}test-artifacts/schemathesis`;
const CHECKS = [
  'not_a_server_error',
  'status_code_conformance',
  'content_type_conformance',
  'response_schema_conformance',
];

function positiveInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name}=${raw}: expected a positive integer`);
  return n;
}

function seed(): string | undefined {
  const raw = process.env['CF_SCHEMATHESIS_SEED'];
  if (raw === 'random') return undefined;
  if (raw === undefined || raw === '') return '1';
  if (!/^\d+$/.test(raw)) throw new Error(`CF_SCHEMATHESIS_SEED=${raw}: expected an integer or "random"`);
  return raw;
}

function run(
  command: string,
  args: readonly string[],
  cwd: string,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (output += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (output += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

/**
 * A schemathesis config (TOML) that draws path ids from the seeded lake half of the time, so the
 * 200 answers of the id routes are checked too (random ids only ever get 404).
 */
function configToml(ids: ApiUnderTest['ids']): string {
  const list = (values: readonly string[]): string => `[${values.map((v) => JSON.stringify(v)).join(', ')}]`;
  const bind = (regex: string, params: Record<string, string>): string =>
    `[[operations]]\ninclude-path-regex = ${JSON.stringify(regex)}\nparameters = { ${Object.entries(params)
      .map(([k, d]) => `${JSON.stringify(k)} = { dictionary = "${d}", probability = 0.5 }`)
      .join(', ')} }\n`;
  return [
    `[dictionaries.images]\nvalues = ${list(ids.images)}\n`,
    `[dictionaries.datasets]\nvalues = ${list(ids.datasets)}\n`,
    `[dictionaries.deadLetters]\nvalues = ${list(ids.deadLetters)}\n`,
    `[dictionaries.models]\nvalues = ${list(ids.models)}\n`,
    `[dictionaries.aliases]\nvalues = ["champion"]\n`,
    bind('^/v1/(lake/items|review)/\\{imageId\\}', { 'path.imageId': 'images' }),
    bind('^/v1/lake/datasets/\\{id\\}', { 'path.id': 'datasets', 'query.from': 'datasets' }),
    bind('^/v1/lake/dead-letters/\\{id\\}$', { 'path.id': 'deadLetters' }),
    // Real images, and the alias and version that serve: otherwise every caption request is a 404.
    bind('^/v1/captions$', {
      'body.imageIds[*]': 'images',
      'body.options.alias': 'aliases',
      'body.options.version': 'models',
    }),
  ].join('\n');
}

test(
  'schemathesis finds no 5xx and no response outside docs/openapi.yaml on any route',
  { timeout: 900_000 },
  async (t) => {
    const st = await schemathesisCli();
    const api = await startApiUnderTest();
    try {
      mkdirSync(REPORTS, { recursive: true });
      const s = seed();
      const include = process.env['CF_SCHEMATHESIS_INCLUDE'];
      const config = `${REPORTS}/schemathesis.toml`;
      writeFileSync(config, configToml(api.ids));
      const args = [
        '--config-file',
        config,
        'run',
        `${ROOT}docs/openapi.yaml`,
        '--url',
        api.url,
        '--header',
        `x-api-key: ${ADMIN_KEY}`,
        '--checks',
        CHECKS.join(','),
        '--phases',
        'examples,coverage,fuzzing',
        '--max-examples',
        String(positiveInt('CF_SCHEMATHESIS_EXAMPLES', 10)),
        // One worker: with several, schemathesis' generator threads crashed on CPython 3.11
        // ("AST constructor recursion depth mismatch"), and the machine is shared anyway.
        '--workers',
        '1',
        '--request-timeout',
        '30',
        '--generation-database',
        'none',
        '--no-color',
        '--output-truncate',
        'false',
        '--report',
        'junit',
        '--report-dir',
        REPORTS,
        ...(s === undefined ? [] : ['--seed', s]),
        ...(include === undefined || include === '' ? [] : ['--include-path-regex', include]),
      ];
      const started = Date.now();
      const { code, output } = await run(st, args, REPORTS);
      const summary = output.slice(output.lastIndexOf('SUMMARY'));
      t.diagnostic(
        `schemathesis exited ${String(code)} in ${((Date.now() - started) / 1000).toFixed(0)} s on ${api.url}`,
      );
      t.diagnostic(
        summary
          .split('\n')
          .filter((l) => /Test cases|generated|failures|passed/.test(l))
          .join(' | '),
      );
      assert.equal(
        code,
        0,
        `schemathesis found problems (JUnit in ${REPORTS}):\n${output.slice(output.indexOf('FAILURES') >= 0 ? output.indexOf('FAILURES') : 0)}`,
      );
    } finally {
      await api.close();
    }
  },
);
