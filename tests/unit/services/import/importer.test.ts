import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCodes, PipelineError } from '../../../../schemas/errors.ts';
import type { LogProducer } from '../../../../runtime/ports.ts';
import { importDataset, type ImportProgress } from '../../../../services/import/importer.ts';
import { readImportState } from '../../../../services/import/state-file.ts';
import { makeDatasets, type DatasetFixture } from '../../../fixtures/datasets/make-datasets.ts';
import { importHarness, instantClock } from './import-harness.ts';

const GOOD = 6;
let dir: string;
let fx: DatasetFixture;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cf-import-'));
  fx = await makeDatasets(join(dir, 'data'), { count: GOOD });
});
after(() => rmSync(dir, { recursive: true, force: true }));

const sortedCodes = (failed: readonly { externalId: string; code: string }[]): string[] =>
  failed.map((f) => `${f.externalId}:${f.code}`).sort();

test('COCO: every good image lands in bronze with one image.ingested (source bulk, captions, attributes); bad entries are reported by code', async () => {
  const h = await importHarness();
  try {
    const progress: ImportProgress[] = [];
    const result = await importDataset({
      format: 'coco',
      annotations: fx.cocoAnnotations,
      imagesDir: fx.imagesDir,
      deps: h.deps,
      onProgress: (p) => progress.push(p),
    });
    assert.equal(result.total, GOOD + fx.bad.coco.length);
    assert.equal(result.imported, GOOD);
    assert.equal(result.skipped, 0);
    assert.equal(result.aborted, false);
    assert.match(result.batchId, /^coco-[0-9a-f]{16}$/);
    assert.deepEqual(sortedCodes(result.failed), sortedCodes(fx.bad.coco));
    assert.deepEqual(progress.at(-1), {
      done: result.total,
      total: result.total,
      imported: GOOD,
      failed: fx.bad.coco.length,
      alreadyInLake: 0,
      skipped: 0,
    });

    const events = await h.events();
    assert.equal(events.length, GOOD);
    assert.equal(new Set(events.map((e) => e.eventId)).size, GOOD);
    for (const img of fx.images) {
      const e = events.find((x) => x.externalId === img.cocoId);
      assert.ok(e, `event for COCO image ${img.cocoId}`);
      assert.equal(e.imageId, img.sha256);
      assert.equal(e.lineage.source, 'bulk');
      assert.equal(e.importBatchId, result.batchId);
      assert.deepEqual(
        e.captions.map((c) => c.text),
        img.captions,
      );
      assert.ok(e.captions.every((c) => c.origin === 'human'));
      assert.equal(e.attributes.datasetFormat, 'coco');
      assert.equal(e.attributes.datasetPath, img.relativePath);
      assert.equal(e.attributes.datasetSplit, undefined, 'COCO captions files carry no split');
      assert.ok(await h.lake.objects.exists(e.object.key), 'bronze object stored');
      assert.equal(e.object.layer, 'bronze');
    }
  } finally {
    await h.close();
  }
});

test('Karpathy: images at <dir>/<filepath>/<filename> are imported with the dataset split as datasetSplit; bad entries are reported', async () => {
  const h = await importHarness();
  try {
    const result = await importDataset({
      format: 'karpathy',
      annotations: fx.karpathyAnnotations,
      imagesDir: fx.imagesDir,
      deps: h.deps,
      concurrency: 3,
    });
    assert.equal(result.imported, GOOD);
    assert.deepEqual(sortedCodes(result.failed), sortedCodes(fx.bad.karpathy));
    const escape = result.failed.find((f) => f.path === '../escape.png');
    assert.equal(escape?.code, 'PATH_OUTSIDE_ROOT');
    const events = await h.events();
    assert.equal(events.length, GOOD);
    for (const img of fx.images) {
      const e = events.find((x) => x.externalId === img.karpathyId);
      assert.ok(e, `event for imgid ${img.karpathyId}`);
      assert.equal(e.imageId, img.sha256);
      assert.equal(e.lineage.source, 'bulk');
      assert.deepEqual(
        e.captions.map((c) => c.text),
        img.captions,
      );
      assert.equal(e.attributes.datasetSplit, img.split);
      assert.equal(e.attributes.dataset, 'synthetic');
      assert.equal(e.attributes.datasetFormat, 'karpathy');
      assert.equal(e.attributes.cocoId, img.cocoId);
      assert.ok(await h.lake.objects.exists(e.object.key));
    }
  } finally {
    await h.close();
  }
});

test('re-running an import is idempotent: the same event ids without a state file, nothing re-sent with one', async () => {
  const h = await importHarness();
  const stateFile = join(dir, 'rerun.state.jsonl');
  try {
    const first = await importDataset({
      format: 'coco',
      annotations: fx.cocoAnnotations,
      imagesDir: fx.imagesDir,
      deps: h.deps,
      stateFile,
    });
    const ids = new Set((await h.events()).map((e) => e.eventId));
    assert.equal(ids.size, GOOD);

    // No state file: everything is sent again, under the very same event ids.
    const again = await importDataset({
      format: 'coco',
      annotations: fx.cocoAnnotations,
      imagesDir: fx.imagesDir,
      deps: h.deps,
    });
    assert.equal(again.batchId, first.batchId);
    // Nothing new was written: the re-run says so (the events are re-sent, idempotent downstream).
    assert.equal(again.imported, 0);
    assert.equal(again.alreadyInLake, GOOD);
    const afterAgain = await h.events();
    assert.equal(afterAgain.length, 2 * GOOD);
    assert.deepEqual(new Set(afterAgain.map((e) => e.eventId)), ids);

    // With the state file: the done images are skipped, only the bad ones are tried again.
    const resumed = await importDataset({
      format: 'coco',
      annotations: fx.cocoAnnotations,
      imagesDir: fx.imagesDir,
      deps: h.deps,
      stateFile,
    });
    assert.equal(resumed.imported, 0);
    assert.equal(resumed.skipped, GOOD);
    assert.equal(resumed.failed.length, fx.bad.coco.length);
    assert.equal((await h.events()).length, 2 * GOOD, 'nothing new emitted');

    // Another batch id is another import: other event ids for the same images.
    await importDataset({
      format: 'coco',
      annotations: fx.cocoAnnotations,
      imagesDir: fx.imagesDir,
      deps: h.deps,
      batchId: 'other-batch',
      limit: 1,
    });
    const other = (await h.events()).at(-1)!;
    assert.equal(other.importBatchId, 'other-batch');
    assert.ok(!ids.has(other.eventId));
  } finally {
    await h.close();
  }
});

test('an import aborted after k images resumes from its state file: every image once, every id once in the state', async () => {
  const h = await importHarness();
  const stateFile = join(dir, 'abort.state.jsonl');
  try {
    const controller = new AbortController();
    const first = await importDataset({
      format: 'karpathy',
      annotations: fx.karpathyAnnotations,
      imagesDir: fx.imagesDir,
      deps: h.deps,
      stateFile,
      concurrency: 2,
      signal: controller.signal,
      onProgress: (p) => {
        if (p.imported >= 2) controller.abort();
      },
    });
    assert.equal(first.aborted, true);
    assert.ok(first.imported >= 2 && first.imported < GOOD, `stopped early (imported ${first.imported})`);

    const second = await importDataset({
      format: 'karpathy',
      annotations: fx.karpathyAnnotations,
      imagesDir: fx.imagesDir,
      deps: h.deps,
      stateFile,
      concurrency: 2,
    });
    assert.equal(second.aborted, false);
    assert.equal(second.skipped, first.imported);
    assert.equal(first.imported + second.imported, GOOD);

    const events = await h.events();
    assert.equal(new Set(events.map((e) => e.eventId)).size, GOOD);
    assert.equal(
      events.length,
      GOOD,
      'images in flight at the abort finished and were recorded, so nothing was sent twice',
    );
    const state = await readImportState(stateFile);
    assert.equal(state.header.batchId, first.batchId);
    assert.deepEqual(state.entries.map((e) => e.id).sort(), fx.images.map((i) => i.karpathyId).sort());
    assert.deepEqual(new Set(state.entries.map((e) => e.eventId)), new Set(events.map((e) => e.eventId)));
  } finally {
    await h.close();
  }
});

test('limit takes the first N images of the dataset', async () => {
  const h = await importHarness();
  try {
    const result = await importDataset({
      format: 'coco',
      annotations: fx.cocoAnnotations,
      imagesDir: fx.imagesDir,
      deps: h.deps,
      limit: 3,
    });
    assert.deepEqual(
      { total: result.total, imported: result.imported, failed: result.failed.length },
      { total: 3, imported: 3, failed: 0 },
    );
    assert.deepEqual(
      (await h.events()).map((e) => e.externalId).sort(),
      fx.images
        .slice(0, 3)
        .map((i) => i.cocoId)
        .sort(),
    );
  } finally {
    await h.close();
  }
});

test('images over maxBytes fail IMAGE_TOO_LARGE and are not ingested', async () => {
  const h = await importHarness({ maxBytes: 64 });
  try {
    const result = await importDataset({
      format: 'coco',
      annotations: fx.cocoAnnotations,
      imagesDir: fx.imagesDir,
      deps: h.deps,
      limit: GOOD,
    });
    assert.equal(result.imported, 0);
    assert.deepEqual(new Set(result.failed.map((f) => f.code)), new Set([ErrorCodes.IMAGE_TOO_LARGE]));
    assert.equal((await h.events()).length, 0);
  } finally {
    await h.close();
  }
});

test('a retriable failure of the log is retried; one that persists stops the import with its code, and the state file resumes it', async () => {
  const h = await importHarness();
  const stateFile = join(dir, 'outage.state.jsonl');
  try {
    const real = h.deps.producer;
    let failuresLeft = 2;
    const flaky: LogProducer = {
      send: (records) =>
        failuresLeft-- > 0
          ? Promise.reject(
              new PipelineError(ErrorCodes.BROKER_UNAVAILABLE, 'broker down', { retriable: true }),
            )
          : real.send(records),
      close: () => Promise.resolve(),
    };
    const ok = await importDataset({
      format: 'coco',
      annotations: fx.cocoAnnotations,
      imagesDir: fx.imagesDir,
      deps: h.withProducer(flaky, { clock: instantClock }),
      limit: 2,
      concurrency: 1,
    });
    assert.equal(ok.imported, 2);

    let sends = 0;
    const down: LogProducer = {
      send: (records) =>
        ++sends > 1
          ? Promise.reject(
              new PipelineError(ErrorCodes.BROKER_UNAVAILABLE, 'broker down', { retriable: true }),
            )
          : real.send(records),
      close: () => Promise.resolve(),
    };
    await assert.rejects(
      importDataset({
        format: 'coco',
        annotations: fx.cocoAnnotations,
        imagesDir: fx.imagesDir,
        deps: h.withProducer(down, { clock: instantClock }),
        stateFile,
        concurrency: 1,
      }),
      (err: unknown) =>
        err instanceof PipelineError &&
        err.code === ErrorCodes.BROKER_UNAVAILABLE &&
        /import stopped/.test(err.message),
    );
    assert.equal(
      (await readImportState(stateFile)).entries.length,
      1,
      'the image sent before the outage is recorded',
    );
    const resumed = await importDataset({
      format: 'coco',
      annotations: fx.cocoAnnotations,
      imagesDir: fx.imagesDir,
      deps: h.deps,
      stateFile,
    });
    assert.equal(resumed.skipped, 1);
    // The image whose send failed had its bytes stored: it is in the lake already.
    assert.equal(resumed.imported + resumed.alreadyInLake, GOOD - 1);
    assert.equal(resumed.alreadyInLake, 1);
  } finally {
    await h.close();
  }
});

test('bad options, a missing images directory or a state file of another batch are refused before anything is imported', async () => {
  const h = await importHarness();
  try {
    const base = {
      format: 'coco' as const,
      annotations: fx.cocoAnnotations,
      imagesDir: fx.imagesDir,
      deps: h.deps,
    };
    await assert.rejects(
      importDataset({ ...base, concurrency: 0 }),
      (e: unknown) =>
        e instanceof PipelineError && e.code === ErrorCodes.CONFIG_INVALID && /concurrency/.test(e.message),
    );
    await assert.rejects(
      importDataset({ ...base, imagesDir: join(dir, 'nope') }),
      (e: unknown) =>
        e instanceof PipelineError && e.code === ErrorCodes.CONFIG_INVALID && /imagesDir/.test(e.message),
    );
    await assert.rejects(
      importDataset({ ...base, annotations: join(dir, 'nope.json') }),
      (e: unknown) => e instanceof PipelineError && e.code === 'FILE_NOT_FOUND',
    );
    await assert.rejects(
      importDataset({ ...base, annotations: fx.karpathyAnnotations }),
      (e: unknown) =>
        e instanceof PipelineError &&
        e.code === 'IMPORT_ANNOTATIONS_INVALID' &&
        /images\[0\]\.file_name/.test(e.message),
    );
    const stateFile = join(dir, 'other-batch.state.jsonl');
    await importDataset({ ...base, stateFile, batchId: 'batch-a', limit: 1 });
    await assert.rejects(
      importDataset({ ...base, stateFile, batchId: 'batch-b' }),
      (e: unknown) =>
        e instanceof PipelineError && e.code === ErrorCodes.CONFIG_INVALID && /batch-a/.test(e.message),
    );
    assert.equal((await h.events()).length, 1);
  } finally {
    await h.close();
  }
});
