/**
 * The newcomer's path, end to end: `captionflow start` (what `npm start` runs) on a fresh data
 * directory imports the sample, curates it, trains and promotes the first model, then keeps
 * running. While it runs: an uploaded image is captioned over HTTP by that model, the lake,
 * the dashboard and `/metrics` answer. Ctrl-C (SIGINT) drains and stops it with exit code 0. Started
 * again on the same data directory it processes nothing twice and does not retrain.
 *
 * Small sizes (`--sample 120 --train tiny`) keep it to a couple of minutes; the trainer's venv is
 * installed on first use like for the trainer tests.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateScene } from '../../../processors/synthetic/index.ts';
import { deferrer } from '../../fixtures/defer.ts';
import { REPO_ROOT } from '../../fixtures/run-command.ts';
import { freePort, outputTail } from '../../fixtures/child-process.ts';

const MINUTE = 60_000;

interface Started {
  readonly child: ChildProcess;
  readonly tail: () => string;
  /** Everything the process printed on stdout (the summary, then what to try). */
  readonly stdout: () => string;
  readonly exited: Promise<number | null>;
}

function start(dataDir: string, port: number): Started {
  const child = spawn(process.execPath, ['--import', 'tsx', 'app/cli/main.ts', 'start', '--sample', '120', '--train', 'tiny'], {
    cwd: REPO_ROOT,
    env: { ...process.env, CAPTIONFLOW_DATA_DIR: dataDir, CAPTIONFLOW_HTTP_PORT: String(port), CAPTIONFLOW_WORKERS: '1', CAPTIONFLOW_LOG_FORMAT: 'json' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  const tail = outputTail(child);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, tail, stdout: () => out, exited };
}

async function until(what: string, started: Started, check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (started.child.exitCode !== null) assert.fail(`captionflow start exited (${started.child.exitCode}) before: ${what}\n${started.tail()}`);
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.fail(`timed out waiting for: ${what}\n${started.tail()}`);
}

/** The JSON summary the first-run job printed (stdout is not a terminal here: JSON). */
function summaryOf(stdout: string): { imported: number; skippedEarlier: number; training?: { status: string; champion?: string | null } } {
  const end = stdout.indexOf('\n}\n');
  assert.ok(end > 0, `a JSON summary on stdout:\n${stdout}`);
  return JSON.parse(stdout.slice(0, end + 2)) as { imported: number; skippedEarlier: number; training?: { status: string; champion?: string | null } };
}

test('npm start: first model, caption over HTTP, lake, dashboard and metrics answer, Ctrl-C drains; the next start reprocesses and retrains nothing', { timeout: 20 * MINUTE }, async (t) => {
  const defer = deferrer(t);
  const dataDir = mkdtempSync(join(tmpdir(), 'cf-first-run-'));
  defer(() => rmSync(dataDir, { recursive: true, force: true }));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;

  const first = start(dataDir, port);
  defer(() => void first.child.kill('SIGKILL'));
  await until('the system to keep running and print what to try', first, () => first.stdout().includes('captionflow is running at'), 15 * MINUTE);
  const firstSummary = summaryOf(first.stdout());
  assert.equal(firstSummary.imported, 120);
  assert.equal(firstSummary.training?.status, 'promoted', 'the first model is promoted');
  const champion = firstSummary.training?.champion;
  assert.ok(typeof champion === 'string');
  assert.ok(first.stdout().includes(`${url}/v1/captions`), 'what to try names the caption route');
  const key = readFileSync(join(dataDir, 'api-key'), 'utf8').trim();

  // Caption an image (a scene like the training data) with the model that was just promoted.
  const scene = await generateScene(987_654, { size: 128 });
  const form = new FormData();
  form.append('image', new Blob([new Uint8Array(scene.image)], { type: `image/${scene.format}` }), 'scene.png');
  let captioned: { results: { caption?: string; modelVersion?: string; error?: unknown }[] } | undefined;
  await until('a caption from the first model', first, async () => {
    const res = await fetch(`${url}/v1/captions`, { method: 'POST', headers: { 'x-api-key': key }, body: form });
    if (res.status === 503) return false; // the model is still loading on the workers
    assert.equal(res.status, 200, await res.clone().text());
    captioned = (await res.json()) as typeof captioned;
    return true;
  }, 2 * MINUTE);
  const answer = captioned?.results[0];
  assert.ok(answer !== undefined && typeof answer.caption === 'string' && answer.caption.length > 0, JSON.stringify(captioned));
  assert.equal(answer.modelVersion, champion);

  const lake = await fetch(`${url}/v1/lake/summary`, { headers: { 'x-api-key': key } });
  assert.equal(lake.status, 200);
  const dashboard = await fetch(`${url}/`);
  assert.equal(dashboard.status, 200);
  assert.match(dashboard.headers.get('content-type') ?? '', /text\/html/);
  assert.match(await dashboard.text(), /captionflow/i);
  const metrics = await (await fetch(`${url}/metrics`)).text();
  assert.match(metrics, /captionflow_/);

  first.child.kill('SIGINT');
  assert.equal(await first.exited, 0, `Ctrl-C drains and exits 0\n${first.tail()}`);

  // Again on the same data directory: nothing imported twice, no retrain, the same champion.
  const second = start(dataDir, port);
  defer(() => void second.child.kill('SIGKILL'));
  await until('the second start to be running', second, () => second.stdout().includes('captionflow is running at'), 10 * MINUTE);
  const again = summaryOf(second.stdout());
  assert.equal(again.imported, 0, 'nothing imported twice');
  assert.equal(again.skippedEarlier, 120);
  assert.equal(again.training?.status, 'skipped', 'no retrain without new data');
  const models = await fetch(`${url}/v1/lake/summary`, { headers: { 'x-api-key': key } });
  assert.equal(models.status, 200);
  second.child.kill('SIGINT');
  assert.equal(await second.exited, 0, second.tail());
});
