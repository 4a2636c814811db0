import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import {
  deriveSceneSeed,
  generateScene,
  generateScenes,
  sampleScene,
  type SyntheticScene,
} from '../../../processors/synthetic/index.ts';

async function collect(iterable: AsyncIterable<SyntheticScene>): Promise<SyntheticScene[]> {
  const out: SyntheticScene[] = [];
  for await (const scene of iterable) out.push(scene);
  return out;
}

void test('the same seed gives byte-identical images and identical captions', async () => {
  for (const seed of [0, 1, 42, 0xffffffff]) {
    const a = await generateScene(seed);
    const b = await generateScene(seed);
    assert.deepEqual(a.image, b.image);
    assert.deepEqual(a.captions, b.captions);
    assert.deepEqual(a.objects, b.objects);
  }
  const jpegA = await generateScene(9, { format: 'jpeg' });
  const jpegB = await generateScene(9, { format: 'jpeg' });
  assert.deepEqual(jpegA.image, jpegB.image);
});

void test('a run is the sequence of scenes of its derived seeds, reproducible run after run', async () => {
  const run1 = await collect(generateScenes({ seed: 123, count: 4 }));
  const run2 = await collect(generateScenes({ seed: 123, count: 4 }));
  assert.equal(run1.length, 4);
  assert.deepEqual(run1, run2);
  for (const [i, scene] of run1.entries()) {
    assert.equal(scene.seed, deriveSceneSeed(123, i));
    assert.deepEqual(scene, await generateScene(deriveSceneSeed(123, i)));
  }
  assert.equal(new Set(run1.map((s) => s.id)).size, 4);
});

void test('different seeds give different scenes', async () => {
  const a = await generateScene(1);
  const b = await generateScene(2);
  assert.notDeepEqual(a.image, b.image);
});

void test('images decode to the requested size and format (default 128x128 PNG)', async () => {
  const png = await generateScene(5);
  assert.equal(png.format, 'png');
  assert.deepEqual([png.width, png.height], [128, 128]);
  const meta = await sharp(png.image).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ['png', 128, 128]);

  const jpeg = await generateScene(5, { format: 'jpeg', size: { width: 160, height: 96 } });
  const jmeta = await sharp(jpeg.image).metadata();
  assert.deepEqual([jmeta.format, jmeta.width, jmeta.height], ['jpeg', 160, 96]);
  assert.deepEqual(jpeg.captions, png.captions, 'captions do not depend on size or format');
});

void test('sampleScene describes exactly what generateScene draws', async () => {
  const {
    image: _image,
    format: _format,
    width: _width,
    height: _height,
    ...rendered
  } = await generateScene(77);
  assert.deepEqual(rendered, sampleScene(77));
});

void test('objects sit inside the image without overlapping, in distinct positions per group', () => {
  for (let i = 0; i < 300; i++) {
    const scene = sampleScene(deriveSceneSeed(8, i));
    assert.ok(scene.objects.length >= 1 && scene.objects.length <= 4);
    assert.equal(new Set(scene.groups.map((g) => g.position)).size, scene.groups.length);
    assert.equal(
      scene.objects.length,
      scene.groups.reduce((n, g) => n + g.count, 0),
    );
    for (const [k, o] of scene.objects.entries()) {
      assert.ok(o.x - o.radius >= 0 && o.x + o.radius <= 1 && o.y - o.radius >= 0 && o.y + o.radius <= 1);
      for (const p of scene.objects.slice(k + 1)) {
        assert.ok(Math.hypot(o.x - p.x, o.y - p.y) >= o.radius + p.radius, `overlap in ${scene.id}`);
      }
    }
  }
});

void test('a scene contains the shape, colour and background it says it does (pixel check)', async () => {
  // One large red circle on a plain background is found by scanning seeds, then the pixel at
  // the circle centre must be the painted red.
  for (let seed = 0; seed < 2000; seed++) {
    const d = sampleScene(seed);
    const o = d.objects[0];
    if (d.background.kind !== 'plain' || d.objects.length !== 1 || o?.colour !== 'red' || o.size !== 'large')
      continue;
    const scene = await generateScene(seed);
    const { data, info } = await sharp(scene.image).raw().toBuffer({ resolveWithObject: true });
    const at = (Math.round(o.y * 128) * 128 + Math.round(o.x * 128)) * info.channels;
    assert.deepEqual([data[at], data[at + 1], data[at + 2]], [214, 40, 40]);
    const corner = [data[0], data[1], data[2]].map((v) => (v ?? 0).toString(16).padStart(2, '0')).join('');
    assert.equal(`#${corner}`, d.background.colours[0]);
    return;
  }
  assert.fail('no single large red object on a plain background in 2000 seeds');
});
