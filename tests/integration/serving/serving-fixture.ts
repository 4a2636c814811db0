/**
 * Shared set-up of the serving integration tests: an embedded app in a fresh folder, the tiny
 * ONNX models of tests/fixtures/onnx registered in its registry, and helpers to promote them and
 * to build multipart caption requests.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { loadConfig } from '../../../runtime/config.ts';
import { openApp, type App } from '../../../app/app.ts';
import { createLogger } from '../../../runtime/logger.ts';
import type { LogProducer } from '../../../runtime/ports.ts';
import { promoteIfBetter, registerModel } from '../../../runtime/lake/model-registry.ts';
import { trainDepsOf } from '../../../app/jobs/standard-jobs.ts';
import { readBundleDir, tinyModels } from '../../fixtures/onnx/tiny-models.ts';

/** A solid-colour PNG. */
export async function solidPng(r: number, g: number, b: number, size = 16): Promise<Buffer> {
  return sharp({ create: { width: size, height: size, channels: 3, background: { r, g, b } } })
    .png()
    .toBuffer();
}

/** A multipart/form-data body with `image` parts and an optional `options` part. */
export function multipartBody(
  images: readonly Uint8Array[],
  options?: unknown,
): { body: Buffer; contentType: string } {
  const boundary = `----cf${Math.random().toString(16).slice(2)}`;
  const chunks: Buffer[] = [];
  images.forEach((img, i) => {
    chunks.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="img${i}.png"\r\nContent-Type: image/png\r\n\r\n`,
      ),
    );
    chunks.push(Buffer.from(img));
    chunks.push(Buffer.from('\r\n'));
  });
  if (options !== undefined) {
    chunks.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="options"\r\n\r\n${JSON.stringify(options)}\r\n`,
      ),
    );
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

/** An embedded app with the tiny models registered (not promoted). */
export interface ServingFixture {
  readonly app: App;
  /** Our tiny bundle. */
  readonly v1: string;
  /** The same graphs under another model id: another version. */
  readonly v2: string;
  /** A bundle whose decoder is not ONNX: fails to load. */
  readonly broken: string;
  promote(version: string, score: number): Promise<void>;
  close(): Promise<void>;
}

let champion: { version: string; metrics: Record<string, number> } | null = null;

/**
 * Open the fixture; `overrides` are config keys (e.g. `serving.queueLimit`), `env` the
 * environment (e.g. `distributedEnv(name)` to register the models on the real servers).
 */
export async function servingFixture(
  overrides: Record<string, unknown> = {},
  env: Record<string, string | undefined> = {},
): Promise<ServingFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'cf-serving-'));
  const config = loadConfig({
    env,
    overrides: {
      dataDir: dir,
      'workers.size': 2,
      'http.apiKeys': ['reader-key'],
      logLevel: 'warn',
      'serving.maxQueueDelayMs': 2,
      'serving.graceMs': 200,
      ...overrides,
    },
  });
  const app = await openApp(config, { logger: createLogger({ level: 'warn', destination: process.stderr }) });
  const files = new Map(Object.entries(await readBundleDir((await tinyModels()).captionflow)));
  const raw = await app.log.producer();
  // The registry sends model.registered/model.promoted to the logical topic name (RegistryDeps has
  // no topic namespace), which misses replicas under a topic prefix; put them in the namespace
  // (idempotent, so this stays right once the registry does it itself).
  const producer: LogProducer = {
    send: (records) =>
      raw.send(records.map((r) => ({ ...r, topic: app.topics.topic(app.topics.logical(r.topic)) }))),
    close: () => raw.close(),
  };
  const deps = trainDepsOf(app, producer);
  const register = async (name: string, bundle: Map<string, Uint8Array>): Promise<string> =>
    (
      await registerModel(deps, {
        name: 'captioner',
        files: bundle,
        format: 'captionflow-onnx',
        datasetId: `ds-${name}`,
      })
    ).id;
  const v1 = await register('v1', files);
  const model = JSON.parse(new TextDecoder().decode(files.get('model.json'))) as Record<string, unknown>;
  const v2 = await register(
    'v2',
    new Map([
      ...files,
      ['model.json', new TextEncoder().encode(JSON.stringify({ ...model, modelId: 'tiny-v2' }))],
    ]),
  );
  const broken = await register(
    'broken',
    new Map([...files, ['decoder.onnx', new TextEncoder().encode('not an onnx graph')]]),
  );
  champion = null;
  return {
    app,
    v1,
    v2,
    broken,
    promote: async (version, score) => {
      const metrics = { ciderD: score };
      const decision = await promoteIfBetter(deps, 'captioner', { version, metrics }, champion, {
        metric: 'ciderD',
        margin: 0,
      });
      if (!decision.promoted) throw new Error(decision.reason);
      champion = { version, metrics };
    },
    close: async () => {
      await producer.close();
      await app.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
