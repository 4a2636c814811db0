import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  generateScenes,
  sceneFileName,
  toCocoCaptions,
  type SyntheticScene,
} from '../../../processors/synthetic/index.ts';

void test('one COCO image per scene and one annotation per reference caption, with sequential ids', async () => {
  const scenes: SyntheticScene[] = [];
  for await (const s of generateScenes({ seed: 10, count: 3, size: 64 })) scenes.push(s);
  const coco = toCocoCaptions(scenes);

  assert.deepEqual(
    coco.images,
    scenes.map((s, i) => ({ id: i + 1, file_name: `${s.id}.png`, width: 64, height: 64 })),
  );
  assert.equal(coco.annotations.length, 15);
  assert.deepEqual(
    coco.annotations.map((a) => a.id),
    Array.from({ length: 15 }, (_, i) => i + 1),
  );
  for (const [i, s] of scenes.entries()) {
    const captions = coco.annotations.filter((a) => a.image_id === i + 1).map((a) => a.caption);
    assert.deepEqual(captions, s.captions);
  }
  assert.deepEqual(JSON.parse(JSON.stringify(coco)), coco, 'plain JSON data');
});

void test('ids can start elsewhere, and JPEG scenes get a .jpg file name', () => {
  const scene = {
    id: 'syn-0000002a',
    format: 'jpeg' as const,
    width: 32,
    height: 32,
    captions: ['a red circle'],
  };
  assert.equal(sceneFileName(scene), 'syn-0000002a.jpg');
  const coco = toCocoCaptions([scene], { firstImageId: 100, firstAnnotationId: 500 });
  assert.deepEqual(coco, {
    images: [{ id: 100, file_name: 'syn-0000002a.jpg', width: 32, height: 32 }],
    annotations: [{ id: 500, image_id: 100, caption: 'a red circle' }],
  });
});
