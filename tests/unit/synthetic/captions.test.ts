import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deriveSceneSeed, sampleScene } from '../../../processors/synthetic/index.ts';

const NUMBER_WORDS = ['zero', 'one', 'two', 'three', 'four'];

const scenes = Array.from({ length: 400 }, (_, i) => sampleScene(deriveSceneSeed(31, i)));

void test('every scene has five distinct lower-case captions without punctuation', () => {
  for (const s of scenes) {
    assert.equal(s.captions.length, 5);
    assert.equal(new Set(s.captions).size, 5, JSON.stringify(s.captions));
    for (const c of s.captions) assert.match(c, /^[a-z]+( [a-z]+)*$/);
  }
});

void test("every caption names every object's colour and shape", () => {
  for (const s of scenes) {
    for (const o of s.objects) {
      for (const c of s.captions) {
        assert.match(c, new RegExp(`\\b${o.colour} ${o.shape}s?\\b`), `${c} lacks ${o.colour} ${o.shape}`);
      }
    }
  }
});

void test('captions count objects of a group with number words and use the right article', () => {
  for (const s of scenes) {
    for (const g of s.groups) {
      const phrase =
        g.count === 1
          ? `${/^[aeiou]/.test(g.colour) ? 'an' : 'a'} ${g.colour} ${g.shape}`
          : `${NUMBER_WORDS[g.count]} ${g.colour} ${g.shape}s`;
      assert.ok(s.captions[0]?.includes(phrase), `${s.captions[0]} lacks "${phrase}"`);
    }
  }
});

void test('the example phrasings of the brief come out for the matching scene', () => {
  const s = scenes.find(
    (x) =>
      x.groups.length === 2 &&
      x.groups[0]?.count === 2 &&
      x.groups[1]?.count === 1 &&
      x.background.kind === 'stripes',
  );
  assert.ok(s !== undefined);
  const [a, b] = s.groups;
  assert.ok(a !== undefined && b !== undefined);
  const art = (w: string): string => (/^[aeiou]/.test(w) ? 'an' : 'a');
  assert.deepEqual(s.captions, [
    `two ${a.colour} ${a.shape}s and ${art(b.colour)} ${b.colour} ${b.shape}`,
    `${art(b.colour)} ${b.colour} ${b.shape} next to two ${a.colour} ${a.shape}s`,
    `an image with two ${a.size} ${a.colour} ${a.shape}s and one ${b.size} ${b.colour} ${b.shape} on a striped background`,
    `two ${a.size} ${a.colour} ${a.shape}s ${positionPhrase(a.position)} and ${art(b.size)} ${b.size} ${b.colour} ${b.shape} ${positionPhrase(b.position)}`,
    `a striped background with two ${a.size} ${a.colour} ${a.shape}s and ${art(b.size)} ${b.size} ${b.colour} ${b.shape}`,
  ]);
});

function positionPhrase(p: string): string {
  return p === 'left' || p === 'right' ? `on the ${p}` : p === 'center' ? 'in the center' : `at the ${p}`;
}
