import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tokenizeCaption } from '../../../processors/metrics/index.ts';
import {
  deriveSceneSeed,
  generateScenes,
  sampleScene,
  type SceneOptions,
} from '../../../processors/synthetic/index.ts';

const SEEDS = Array.from({ length: 500 }, (_, i) => deriveSceneSeed(2718, i));

function words(captions: readonly string[]): Set<string> {
  return new Set(captions.flatMap(tokenizeCaption));
}

void test('a held-out shape is never in any object list nor any caption', () => {
  const options: SceneOptions = { holdOut: { shape: 'star' } };
  for (const seed of SEEDS) {
    const s = sampleScene(seed, options);
    assert.ok(s.objects.every((o) => o.shape !== 'star'));
    const w = words(s.captions);
    assert.ok(!w.has('star') && !w.has('stars'), JSON.stringify(s.captions));
  }
});

void test('a held-out colour is never in any object list nor any caption', () => {
  for (const seed of SEEDS) {
    const s = sampleScene(seed, { holdOut: { colour: 'orange' } });
    assert.ok(s.objects.every((o) => o.colour !== 'orange'));
    assert.ok(!words(s.captions).has('orange'), JSON.stringify(s.captions));
  }
});

void test('holding out a shape and a colour excludes each of them on its own', () => {
  for (const seed of SEEDS) {
    const s = sampleScene(seed, { holdOut: { shape: 'hexagon', colour: 'blue' } });
    assert.ok(s.objects.every((o) => o.shape !== 'hexagon' && o.colour !== 'blue'));
  }
});

void test('the hold-out applies to rendered runs too', async () => {
  for await (const s of generateScenes({ seed: 4, count: 20, size: 32, holdOut: { shape: 'triangle' } })) {
    assert.ok(s.objects.every((o) => o.shape !== 'triangle'));
    assert.ok(!words(s.captions).has('triangle') && !words(s.captions).has('triangles'));
  }
});

void test('onlyConcept generates only scenes containing the concept, and it is captioned', () => {
  for (const seed of SEEDS) {
    const s = sampleScene(seed, { onlyConcept: { shape: 'star' } });
    assert.ok(s.objects.some((o) => o.shape === 'star'));
    for (const c of s.captions) assert.match(c, /\bstars?\b/);

    const both = sampleScene(seed, { onlyConcept: { shape: 'star', colour: 'purple' } });
    assert.ok(both.objects.some((o) => o.shape === 'star' && o.colour === 'purple'));
    for (const c of both.captions) assert.match(c, /\bpurple stars?\b/);
  }
});

void test('onlyConcept of one kind combines with a hold-out of another', () => {
  for (const seed of SEEDS.slice(0, 100)) {
    const s = sampleScene(seed, { onlyConcept: { colour: 'red' }, holdOut: { shape: 'circle' } });
    assert.ok(s.objects.some((o) => o.colour === 'red'));
    assert.ok(s.objects.every((o) => o.shape !== 'circle'));
  }
});
