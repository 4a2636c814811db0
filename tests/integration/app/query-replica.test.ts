/**
 * `captionflow query`, the Query Data Service replica, and `captionflow lake export --format
 * webdataset`, on a fresh embedded data directory seeded with curated images and a dataset
 * version. The replica answers the lake routes, the dashboard and /metrics, has no ingest door,
 * serving or admin route, and never opens a consumer (in process, with the log's `consumer`
 * watched); the real CLI process starts, answers an items route and drains on SIGTERM.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openApp } from '../../../app/app.ts';
import { QUERY_REPLICA, startSystem } from '../../../app/system.ts';
import { loadConfig } from '../../../runtime/config.ts';
import { silentLogger } from '../../../runtime/logger.ts';
import { snapshotDataset } from '../../../runtime/lake/datasets.ts';
import { seedCuratedImage } from '../../unit/lake/lake-fixtures.ts';
import { REPO_ROOT } from '../../fixtures/run-command.ts';
import { readWebDataset } from '../../fixtures/webdataset-reader.ts';
import { freePort } from '../../fixtures/child-process.ts';

const KEY = 'replica-reader';
let dataDir: string;
let datasetId: string;
let seeded: { id: string; captions: string[] }[];

const config = (port?: number) =>
  loadConfig({
    env: {},
    overrides: { dataDir, 'workers.size': 1, ...(port === undefined ? {} : { 'http.port': port }) },
  });

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'cf-query-replica-'));
  const app = await openApp(config(), { logger: silentLogger });
  try {
    const lake = { store: app.objects, catalog: app.catalog };
    seeded = [];
    for (let i = 0; i < 5; i++) {
      const captions = [`a red square number ${i}`, `square ${i} on grey`];
      const image = await seedCuratedImage(lake, {
        split: i < 4 ? 'train' : 'test',
        captions: captions.map((text) => ({ text })),
      });
      seeded.push({ id: image.id, captions });
    }
    datasetId = (await snapshotDataset(lake, { name: 'default' })).record.id;
  } finally {
    await app.close();
  }
});

after(() => rmSync(dataDir, { recursive: true, force: true }));

test('a query replica serves the lake routes, the dashboard and /metrics, and opens no consumer', async () => {
  const app = await openApp(config(await freePort()), { logger: silentLogger });
  const consumers: string[] = [];
  const consumer = app.log.consumer.bind(app.log);
  app.log.consumer = async (options) => {
    consumers.push(options.group);
    return consumer(options);
  };
  const system = await startSystem(app, { ...QUERY_REPLICA, apiKeys: [`${KEY}:read`] });
  try {
    const get = (path: string, init: RequestInit = {}) =>
      fetch(`${system.url}${path}`, {
        ...init,
        headers: { 'x-api-key': KEY, ...(init.headers as Record<string, string>) },
      });
    const items = (await (await get('/v1/lake/items?layer=gold')).json()) as { items: { id: string }[] };
    assert.deepEqual(items.items.map((i) => i.id).sort(), seeded.map((s) => s.id).sort());
    const one = (await (await get(`/v1/lake/items/${seeded[0]!.id}`)).json()) as {
      captions: { text: string }[];
    };
    assert.deepEqual(one.captions.map((c) => c.text).sort(), [...seeded[0]!.captions].sort());
    assert.equal((await get(`/v1/lake/datasets/${datasetId}/webdataset`)).status, 200);
    assert.match(await (await get('/')).text(), /captionflow/);
    assert.match(await (await get('/metrics')).text(), /captionflow_lake_/);
    assert.equal((await get('/readyz')).status, 200);
    // Not a run or serve replica: no ingest door, no captions, no admin routes.
    assert.equal((await get('/v1/images', { method: 'POST' })).status, 404);
    assert.equal((await get('/v1/captions', { method: 'POST' })).status, 404);
    assert.equal((await get('/admin/topologies')).status, 404);
    assert.equal((await get('/admin/jobs')).status, 404);
    assert.deepEqual(system.topologies, []);
  } finally {
    await system.stop();
    await app.close();
  }
  assert.deepEqual(consumers, [], 'a query replica consumes no topic');
});

test(
  'captionflow query: the process starts, answers an items route and drains on SIGTERM',
  { timeout: 120_000 },
  async () => {
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', 'app/cli/main.ts', 'query'], {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        CAPTIONFLOW_DATA_DIR: dataDir,
        CAPTIONFLOW_HTTP_PORT: String(port),
        CAPTIONFLOW_API_KEYS: `${KEY}:read`,
        CAPTIONFLOW_WORKERS: '1',
        CAPTIONFLOW_LOG_FORMAT: 'json',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (output += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (output += c));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      const deadline = Date.now() + 60_000;
      let items: { items: { id: string }[] } | undefined;
      while (items === undefined) {
        assert.ok(Date.now() < deadline, `captionflow query did not answer in 60 s:\n${output.slice(-3000)}`);
        assert.equal(child.exitCode, null, `captionflow query exited:\n${output.slice(-3000)}`);
        try {
          const res = await fetch(`http://127.0.0.1:${port}/v1/lake/items?limit=100`, {
            headers: { 'x-api-key': KEY },
          });
          if (res.ok) items = (await res.json()) as { items: { id: string }[] };
        } catch {
          await new Promise((r) => setTimeout(r, 250));
        }
      }
      assert.equal(items.items.length, seeded.length);
      assert.equal((await fetch(`http://127.0.0.1:${port}/v1/captions`, { method: 'POST' })).status, 404);
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0, output.slice(-3000));
    assert.match(output, /HTTP edge listening/);
  },
);

test(
  'captionflow lake export --format webdataset writes shards the webdataset reader reads back whole',
  { timeout: 120_000 },
  async () => {
    const out = join(dataDir, 'shards');
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'app/cli/main.ts',
        'lake',
        'export',
        datasetId,
        '--format',
        'webdataset',
        '--out',
        out,
        '--shard-size',
        '2',
        '--json',
      ],
      {
        cwd: REPO_ROOT,
        env: { ...process.env, CAPTIONFLOW_DATA_DIR: dataDir, CAPTIONFLOW_WORKERS: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 0, stderr.slice(-3000));
    const result = JSON.parse(stdout) as { samples: number; pattern: string; files: string[] };
    assert.equal(result.samples, seeded.length);
    assert.equal(result.pattern, `${datasetId}-{000000..000002}.tar`);
    assert.deepEqual(
      readdirSync(out).sort(),
      [0, 1, 2].map((i) => `${datasetId}-00000${i}.tar`),
    );
    // Progress is reported (log lines when stderr is not a terminal).
    assert.match(stderr, /webdataset: 5\/5/);
    const { reader, samples } = await readWebDataset(result.files);
    assert.deepEqual(samples.map((s) => s.key).sort(), seeded.map((s) => s.id).sort(), reader);
    for (const s of samples) {
      const want = seeded.find((x) => x.id === s.key)!;
      assert.deepEqual(
        s.files['txt']!.toString('utf8').trimEnd().split('\n').sort(),
        [...want.captions].sort(),
        reader,
      );
      assert.ok(
        s.files['jpg'] !== undefined,
        `the gold image as stored (${Object.keys(s.files).join(', ')})`,
      );
    }
  },
);
