/**
 * `captionflow models` end to end through the CLI on a fresh data directory, with a tiny
 * captioner made by the tests in exactly the Hugging Face ONNX encoder/decoder layout
 * (encoder_model.onnx, decoder_model.onnx, tokenizer.json, preprocessor_config.json,
 * generation_config.json — no config.json): import → list shows it as candidate with test
 * scores → promote → list shows it champion → a second import (decoder_model_merged.onnx instead
 * of decoder_model.onnx) promoted → rollback. The
 * promotions are on the event log as model.promoted. Failures (a missing tokenizer.json, an
 * ONNX file that is not ONNX, a decoder with the wrong input names) name the problem with a
 * stable code and register nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../../runtime/config.ts';
import { openApp, type App } from '../../../app/app.ts';
import { silentLogger } from '../../../runtime/logger.ts';
import { Topics } from '../../../schemas/topics.ts';
import type { ModelPromoted, ModelRegistered } from '../../../schemas/generated/types.ts';
import { importModel } from '../../../app/models/import-model.ts';
import { trainDepsOf } from '../../../app/jobs/standard-jobs.ts';
import { REPO_ROOT } from '../../fixtures/run-command.ts';
import { tinyModels } from '../../fixtures/onnx/tiny-models.ts';

const MINUTE = 60_000;
const LAYOUT = ['encoder_model.onnx', 'decoder_model.onnx', 'tokenizer.json', 'preprocessor_config.json', 'generation_config.json'];

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run `captionflow <args>` on `dataDir` to completion. */
function cli(dataDir: string, args: readonly string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'app/cli/main.ts', ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, CAPTIONFLOW_DATA_DIR: dataDir, CAPTIONFLOW_WORKERS: '1', CAPTIONFLOW_LOG_FORMAT: 'json' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function ok(dataDir: string, args: readonly string[]): Promise<string> {
  const run = await cli(dataDir, args);
  assert.equal(run.code, 0, `captionflow ${args.join(' ')} exited ${String(run.code)}\n${run.stdout}\n${run.stderr.slice(-3000)}`);
  return run.stdout;
}

interface Listed {
  readonly model: string;
  readonly versions: { version: string; aliases: string[]; source: string; status: string; metrics: Record<string, number>; createdAt: string }[];
}

async function list(dataDir: string): Promise<Listed> {
  return JSON.parse(await ok(dataDir, ['models', 'list', '--json'])) as Listed;
}

/** A model folder in exactly the import layout, copied from the tiny HF fixture; `edit` changes it. */
async function modelFolder(edit: (dir: string) => void = () => undefined): Promise<string> {
  const { hf } = await tinyModels();
  const dir = mkdtempSync(join(tmpdir(), 'cf-hf-model-'));
  for (const f of LAYOUT) copyFileSync(join(hf, f), join(dir, f));
  edit(dir);
  return dir;
}

/** Every event of a logical topic, decoded (read from the beginning by a fresh group). */
async function eventsOf<T>(app: App, logical: string): Promise<T[]> {
  const topic = app.topics.topic(logical);
  let total = 0;
  for (const end of (await app.log.endOffsets(topic)).values()) total += Number(end);
  const out: T[] = [];
  if (total === 0) return out;
  const consumer = await app.log.consumer({ group: `test-read-${Date.now()}`, topics: [topic], fromBeginning: true });
  let done!: () => void;
  const all = new Promise<void>((r) => (done = r));
  const running = consumer.run(async (batch) => {
    for (const r of batch.records) if (r.value !== null) out.push((await app.serde.decode(topic, r.value)).value as T);
    if (out.length >= total) done();
  });
  await Promise.race([all, running]);
  await consumer.stop();
  return out;
}

test('models import → list (candidate, scored) → promote → list (champion) → rollback, through the CLI', { timeout: 20 * MINUTE }, async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'cf-models-cli-'));
  const folders: string[] = [];
  t.after(() => {
    for (const d of [dataDir, ...folders]) rmSync(d, { recursive: true, force: true });
  });
  const summary = JSON.parse(await ok(dataDir, ['pipeline', '--sample', '60', '--json'])) as { dataset: { id: string; counts: { test: number } } };
  assert.ok(summary.dataset.counts.test > 0, 'a frozen test split to score on');

  // Failure first: a folder without tokenizer.json is refused, naming the file, and nothing is registered.
  const noTokenizer = await modelFolder((d) => rmSync(join(d, 'tokenizer.json')));
  folders.push(noTokenizer);
  const refused = await cli(dataDir, ['models', 'import', noTokenizer]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /lacks tokenizer\.json/);
  assert.match(refused.stdout + refused.stderr, /"code":"MODEL_FILES_MISSING"/);
  assert.deepEqual((await list(dataDir)).versions, [], 'nothing registered');

  const first = await modelFolder();
  folders.push(first);
  const imported = JSON.parse(await ok(dataDir, ['models', 'import', first, '--json'])) as { version: string; alias: string; dataset: string; split: string; n: number; metrics: Record<string, number>; report: string | null; decoding: { strategy: string } };
  t.diagnostic(`imported ${imported.version}: ${JSON.stringify(imported.metrics)} on ${imported.n} test images`);
  assert.equal(imported.alias, 'candidate');
  assert.equal(imported.dataset, summary.dataset.id);
  assert.equal(imported.split, 'test');
  assert.equal(imported.n, summary.dataset.counts.test);
  assert.equal(imported.decoding.strategy, 'beam', 'scored as trained versions are');
  for (const k of ['bleu1', 'bleu4', 'rougeL', 'ciderD']) assert.equal(typeof imported.metrics[k], 'number', `metric ${k}`);
  assert.ok(imported.report !== null);

  let listed = await list(dataDir);
  assert.equal(listed.versions.length, 1);
  const v1 = listed.versions[0]!;
  assert.equal(v1.version, imported.version);
  assert.deepEqual(v1.aliases, ['candidate']);
  assert.equal(v1.source, 'imported');
  assert.equal(v1.status, 'evaluated');
  assert.equal(v1.metrics.ciderD, imported.metrics.ciderD);
  assert.ok(!Number.isNaN(Date.parse(v1.createdAt)));
  const table = await ok(dataDir, ['models', 'list']);
  assert.match(table, new RegExp(`${v1.version}\\s+candidate\\s+imported\\s+evaluated`), table);
  const shown = JSON.parse(await ok(dataDir, ['models', 'show', 'candidate', '--json'])) as { model: { id: string }; report: { n: number; overall: Record<string, number> } | null };
  assert.equal(shown.model.id, v1.version);
  assert.deepEqual(shown.report?.overall, imported.metrics, 'the stored report, as trained versions get');

  assert.match(await ok(dataDir, ['models', 'promote', 'candidate']), new RegExp(`champion \\(none\\) -> ${v1.version}`));
  listed = await list(dataDir);
  assert.deepEqual(listed.versions[0]!.aliases, ['candidate', 'champion']);

  // A second import, with optimum's merged decoder instead of decoder_model.onnx (the same model: the
  // same scores), promoted by version, then rolled back.
  const { hfMerged } = await tinyModels();
  const second = await modelFolder((d) => {
    rmSync(join(d, 'decoder_model.onnx'));
    copyFileSync(join(hfMerged, 'decoder_model_merged.onnx'), join(d, 'decoder_model_merged.onnx'));
  });
  folders.push(second);
  const merged = JSON.parse(await ok(dataDir, ['models', 'import', second, '--json'])) as { version: string; metrics: Record<string, number> };
  const v2 = merged.version;
  assert.notEqual(v2, v1.version);
  assert.deepEqual(merged.metrics, imported.metrics, 'the merged decoder, run without its cache, says the same');
  await ok(dataDir, ['models', 'promote', v2]);
  listed = await list(dataDir);
  assert.deepEqual(Object.fromEntries(listed.versions.map((v) => [v.version, v.aliases])), { [v2]: ['candidate', 'champion'], [v1.version]: [] });
  assert.match(await ok(dataDir, ['models', 'rollback']), new RegExp(`rolled back from ${v2} to ${v1.version}`));
  listed = await list(dataDir);
  assert.deepEqual(Object.fromEntries(listed.versions.map((v) => [v.version, v.aliases])), { [v2]: ['candidate'], [v1.version]: ['champion'] });

  const app = await openApp(loadConfig({ env: {}, overrides: { dataDir, 'workers.size': 1 } }), { logger: silentLogger });
  try {
    const promoted = await eventsOf<ModelPromoted>(app, Topics.modelPromoted.name);
    assert.deepEqual(
      promoted.map((e) => [e.alias, e.modelVersion, e.previousVersion]),
      [
        ['champion', v1.version, null],
        ['champion', v2, v1.version],
        ['champion', v1.version, v2],
      ],
      'each promotion and the rollback announced for serving replicas',
    );
    const registered = await eventsOf<ModelRegistered>(app, Topics.modelRegistered.name);
    assert.deepEqual(registered.map((e) => e.modelVersion), [v1.version, v2]);
    assert.equal(registered[0]!.format, 'hf-vision-encoder-decoder');
    assert.equal(registered[0]!.metrics.ciderD, imported.metrics.ciderD, 'registered with its test scores');
    assert.deepEqual(registered[0]!.artifacts.map((a) => a.name).sort(), [...LAYOUT].sort(), 'the layout copied into the registry');
  } finally {
    await app.close();
  }
});

test('a bad model folder is refused with a stable code and registers nothing: not ONNX, wrong decoder input names, no dataset', { timeout: 10 * MINUTE }, async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'cf-models-bad-'));
  const { bad } = await tinyModels();
  const notOnnx = await modelFolder((d) => writeFileSync(join(d, 'encoder_model.onnx'), 'this is not a protobuf'));
  const wrongNames = await modelFolder((d) => copyFileSync(join(bad, 'decoder_wrong_names.onnx'), join(d, 'decoder_model.onnx')));
  const good = await modelFolder();
  const app = await openApp(loadConfig({ env: {}, overrides: { dataDir, 'workers.size': 1 } }), { logger: silentLogger });
  const producer = await app.log.producer();
  t.after(async () => {
    await producer.close();
    await app.close();
    for (const d of [dataDir, notOnnx, wrongNames, good]) rmSync(d, { recursive: true, force: true });
  });
  const deps = trainDepsOf(app, producer);
  await assert.rejects(importModel(deps, { dir: notOnnx, name: 'captioner' }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'MODEL_ONNX_INVALID');
    assert.match(err.message, /cannot load the encoder/);
    return true;
  });
  await assert.rejects(importModel(deps, { dir: wrongNames, name: 'captioner' }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'MODEL_IO_MISMATCH');
    assert.match(err.message, /decoder has no input input_ids/);
    return true;
  });
  await assert.rejects(importModel(deps, { dir: join(good, 'nope'), name: 'captioner' }), { code: 'MODEL_FILES_MISSING' });
  await assert.rejects(importModel(deps, { dir: good, name: 'captioner' }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'OBJECT_NOT_FOUND');
    assert.match(err.message, /no dataset version to evaluate the import on/);
    return true;
  });
  assert.deepEqual(await app.catalog.models.listByName('captioner'), [], 'nothing registered');
  assert.deepEqual(await app.catalog.models.listAliases('captioner'), []);
});
