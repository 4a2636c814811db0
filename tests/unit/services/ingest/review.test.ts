import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { Catalog } from '../../../../runtime/catalog/catalog.ts';
import { captionId } from '../../../../runtime/catalog/caption-id.ts';
import { reviewQueue } from '../../../../services/ingest/review-queue.ts';
import { AUTH, ingestHarness, type IngestHarness } from './ingest-harness.ts';

interface QueueJson {
  items: {
    imageId: string;
    source: string;
    status: string;
    captions: { id: string; text: string; origin: string; modelVersion: string | null }[];
  }[];
  next: string | null;
}
interface ReviewJson {
  imageId: string;
  action: string;
  caption?: { id: string; text: string; origin: string; modelVersion: string | null };
  rejectedCaptionIds: string[];
}
interface ErrorJson {
  error: { code: string; message: string; context?: Record<string, unknown> };
}

const idOf = (name: string): string => createHash('sha256').update(name).digest('hex');

/** Images: two machine captions, one machine caption, human + machine, none, machine but curation-rejected. */
async function seed(catalog: Catalog): Promise<Record<'two' | 'one' | 'mixed' | 'bare' | 'refused', string>> {
  const ids = {
    two: idOf('two'),
    one: idOf('one'),
    mixed: idOf('mixed'),
    bare: idOf('bare'),
    refused: idOf('refused'),
  };
  for (const [name, id] of Object.entries(ids)) {
    await catalog.images.upsert({
      id,
      source: 'bulk',
      layer: 'gold',
      status: name === 'refused' ? 'rejected' : 'curated',
      split: 'train',
    });
  }
  const machine = (imageId: string, text: string): Promise<unknown> =>
    catalog.captions.upsert({ imageId, text, origin: 'machine', modelVersion: 'teacher-v1', score: 0.7 });
  await machine(ids.two, 'a dog on a sofa');
  await machine(ids.two, 'a brown dog resting');
  await machine(ids.one, 'two red discs on grass');
  await machine(ids.mixed, 'a cat');
  await catalog.captions.upsert({ imageId: ids.mixed, text: 'a grey cat on a mat', origin: 'human' });
  await machine(ids.refused, 'a blurry picture');
  return ids;
}

async function queue(h: IngestHarness, query = ''): Promise<QueueJson> {
  const res = await h.app.inject({ method: 'GET', url: `/v1/review/queue${query}`, headers: AUTH });
  assert.equal(res.statusCode, 200, res.body);
  return res.json<QueueJson>();
}

async function review(
  h: IngestHarness,
  imageId: string,
  body: unknown,
): Promise<{ status: number; json: unknown }> {
  const res = await h.app.inject({
    method: 'POST',
    url: `/v1/review/${imageId}`,
    headers: AUTH,
    payload: body as Record<string, unknown>,
  });
  return { status: res.statusCode, json: res.json() };
}

test('the queue lists images whose captions are all machine-made, paged by image id', async () => {
  const h = await ingestHarness();
  try {
    const ids = await seed(h.lake.deps.catalog);
    const all = await queue(h);
    assert.deepEqual(
      all.items.map((i) => i.imageId),
      [ids.two, ids.one].sort(),
    );
    assert.equal(all.next, null);
    const two = all.items.find((i) => i.imageId === ids.two);
    assert.deepEqual(two?.captions.map((c) => [c.text, c.origin, c.modelVersion]).sort(), [
      ['a brown dog resting', 'machine', 'teacher-v1'],
      ['a dog on a sofa', 'machine', 'teacher-v1'],
    ]);

    const first = await queue(h, '?limit=1');
    assert.equal(first.items.length, 1);
    assert.ok(first.next !== null, 'a next cursor after a full page');
    const second = await queue(h, `?limit=1&after=${first.next}`);
    assert.deepEqual(
      [...first.items, ...second.items].map((i) => i.imageId),
      all.items.map((i) => i.imageId),
    );

    // A bounded scan stops early and still points on.
    const partial = await reviewQueue(h.lake.deps.catalog, { limit: 10, maxScan: 1 });
    assert.ok(partial.next !== null, 'a next cursor after a bounded scan');

    const bad = await h.app.inject({ method: 'GET', url: '/v1/review/queue?limit=0', headers: AUTH });
    assert.equal(bad.statusCode, 400);
    assert.equal((await h.app.inject({ method: 'GET', url: '/v1/review/queue' })).statusCode, 401);
  } finally {
    await h.close();
  }
});

test('accept makes the machine caption human and keeps its model version; the image leaves the queue', async () => {
  const h = await ingestHarness();
  try {
    const ids = await seed(h.lake.deps.catalog);
    const res = await review(h, ids.one, { action: 'accept' });
    assert.equal(res.status, 200, JSON.stringify(res.json));
    const out = res.json as ReviewJson;
    assert.equal(out.caption?.id, captionId(ids.one, 'two red discs on grass'));
    assert.equal(out.caption?.origin, 'human');
    assert.equal(out.caption?.modelVersion, 'teacher-v1');
    const [stored, ...more] = await h.lake.deps.catalog.captions.byImage(ids.one);
    assert.equal(more.length, 0);
    assert.equal(stored?.origin, 'human');
    assert.equal(stored?.modelVersion, 'teacher-v1');
    const image = await h.lake.deps.catalog.images.get(ids.one);
    assert.match(image?.attributes.reviewedBy as string, /^api-key:[0-9a-f]{12}$/);
    assert.equal(typeof image?.attributes.reviewedAt, 'string');
    assert.ok(!(await queue(h)).items.some((i) => i.imageId === ids.one), 'accepted image left the queue');

    // Two pending captions: which one must be said.
    const ambiguous = await review(h, ids.two, { action: 'accept' });
    assert.equal(ambiguous.status, 400);
    assert.equal((ambiguous.json as ErrorJson).error.context?.field, 'captionId');
  } finally {
    await h.close();
  }
});

test('correct stores a new human caption and records the replaced one as rejected', async () => {
  const h = await ingestHarness();
  try {
    const ids = await seed(h.lake.deps.catalog);
    const wrong = captionId(ids.two, 'a dog on a sofa');
    const res = await review(h, ids.two, {
      action: 'correct',
      captionId: wrong,
      text: 'a brown dog asleep on a green sofa',
    });
    assert.equal(res.status, 200, JSON.stringify(res.json));
    const out = res.json as ReviewJson;
    assert.equal(out.caption?.origin, 'human');
    assert.equal(out.caption?.text, 'a brown dog asleep on a green sofa');
    assert.deepEqual(out.rejectedCaptionIds, [wrong]);
    const captions = await h.lake.deps.catalog.captions.byImage(ids.two);
    assert.equal(captions.length, 3);
    assert.deepEqual((await h.lake.deps.catalog.images.get(ids.two))?.attributes.reviewRejected, [wrong]);
    assert.ok(!(await queue(h)).items.some((i) => i.imageId === ids.two), 'corrected image left the queue');

    const noText = await review(h, ids.one, { action: 'correct' });
    assert.equal(noText.status, 400);
    assert.equal((noText.json as ErrorJson).error.context?.field, 'text');
  } finally {
    await h.close();
  }
});

test('reject records the caption ids on the image (captions are never deleted); rejecting all empties the queue entry', async () => {
  const h = await ingestHarness();
  try {
    const ids = await seed(h.lake.deps.catalog);
    const sofa = captionId(ids.two, 'a dog on a sofa');
    const one = await review(h, ids.two, { action: 'reject', captionId: sofa });
    assert.equal(one.status, 200);
    const pending = (await queue(h)).items.find((i) => i.imageId === ids.two);
    assert.deepEqual(
      pending?.captions.map((c) => c.text),
      ['a brown dog resting'],
    );

    const rest = await review(h, ids.two, { action: 'reject' });
    assert.equal(rest.status, 200);
    assert.deepEqual(
      (rest.json as ReviewJson).rejectedCaptionIds,
      [sofa, captionId(ids.two, 'a brown dog resting')].sort(),
    );
    assert.ok(
      !(await queue(h)).items.some((i) => i.imageId === ids.two),
      'fully rejected image left the queue',
    );
    assert.equal((await h.lake.deps.catalog.captions.byImage(ids.two)).length, 2);

    // Only machine captions can be rejected.
    const human = await review(h, ids.mixed, {
      action: 'reject',
      captionId: captionId(ids.mixed, 'a grey cat on a mat'),
    });
    assert.equal(human.status, 400);
  } finally {
    await h.close();
  }
});

test('unknown images and captions are 404, malformed ids and bodies 400', async () => {
  const h = await ingestHarness();
  try {
    const ids = await seed(h.lake.deps.catalog);
    const missing = await review(h, idOf('nowhere'), { action: 'accept' });
    assert.equal(missing.status, 404);
    assert.equal((missing.json as ErrorJson).error.code, 'OBJECT_NOT_FOUND');
    assert.equal((missing.json as ErrorJson).error.context?.imageId, idOf('nowhere'));

    const noCaption = await review(h, ids.one, {
      action: 'accept',
      captionId: captionId(ids.one, 'never proposed'),
    });
    assert.equal(noCaption.status, 404);

    assert.equal((await review(h, 'not-an-id', { action: 'accept' })).status, 400);
    assert.equal((await review(h, ids.one, { action: 'approve' })).status, 400);
    assert.equal((await review(h, ids.one, { action: 'accept', text: 'x' })).status, 400);
    assert.equal(
      (await h.app.inject({ method: 'POST', url: `/v1/review/${ids.one}`, payload: { action: 'accept' } }))
        .statusCode,
      401,
    );
  } finally {
    await h.close();
  }
});
