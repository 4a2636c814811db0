import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteCatalog } from '../../../runtime/catalog/sqlite-catalog.ts';
import { openFsObjectStore } from '../../../runtime/lake/fs-object-store.ts';
import { snapshotDataset } from '../../../runtime/lake/datasets.ts';
import { materializeManifest } from '../../../app/models/training-job.ts';
import { putContent, seedCuratedImage } from '../lake/lake-fixtures.ts';

test('the trainer manifest adds each train item’s augmentation variants as train items with its captions, when asked', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cf-trainer-manifest-'));
  const store = await openFsObjectStore({ root: join(dir, 'lake') });
  const catalog = await openSqliteCatalog({ path: join(dir, 'catalog.sqlite') });
  t.after(async () => {
    await catalog.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  const lake = { store, catalog };
  const train = await seedCuratedImage(lake, { split: 'train', captions: [{ text: 'a red square' }, { text: 'red box' }] });
  const test = await seedCuratedImage(lake, { split: 'test', captions: [{ text: 'a blue circle' }] });
  const variantBytes = [Buffer.from('variant-0'), Buffer.from('variant-1')];
  const refs = [];
  for (const [i, bytes] of variantBytes.entries()) {
    const ref = await putContent(store, 'silver', bytes, 'webp');
    refs.push({ key: ref.key, sha256: ref.sha256, seed: String(i) });
  }
  await catalog.images.upsert({ id: train.id, attributes: { augmentations: refs } });
  const { manifest } = await snapshotDataset(lake, { name: 'm' });

  type Item = { id: string; split: string; image: string; captions: string[] };
  const read = (file: string): Item[] => (JSON.parse(readFileSync(file, 'utf8')) as { items: Item[] }).items;

  const withVariants = await materializeManifest(store, manifest, join(dir, 'work'), { augmented: true });
  assert.deepEqual([withVariants.items, withVariants.augmented], [4, 2]);
  const items = read(withVariants.file);
  const variants = items.filter((i) => i.id.startsWith(`${train.id}~aug`));
  const original = items.find((i) => i.id === train.id)!;
  assert.deepEqual([...original.captions].sort(), ['a red square', 'red box']);
  assert.deepEqual(variants.map((v) => [v.id, v.split, v.captions]), [
    [`${train.id}~aug0`, 'train', original.captions],
    [`${train.id}~aug1`, 'train', original.captions],
  ]);
  assert.deepEqual(variants.map((v) => readFileSync(v.image)), variantBytes, 'the variant bytes, copied to local files');
  assert.equal(items.filter((i) => i.id.startsWith(`${test.id}`)).length, 1);
  assert.equal(new Set(items.map((i) => i.id)).size, items.length, 'ids stay unique for the trainer');

  const without = await materializeManifest(store, manifest, join(dir, 'work'), { augmented: false });
  assert.deepEqual([without.items, without.augmented], [2, 0]);
  assert.deepEqual(read(without.file).map((i) => i.id).sort(), [train.id, test.id].sort());
});
