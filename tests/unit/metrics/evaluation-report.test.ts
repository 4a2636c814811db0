import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildEvaluationReport, ciderD, evaluateCaptions, tokenizeEvaluationSet, type EvaluatedCaption } from '../../../processors/metrics/index.ts';
import { sceneConcepts, sceneImageConcepts } from '../../../processors/synthetic/index.ts';

const concepts = { ofCaption: sceneConcepts, ofReferences: sceneImageConcepts };

const items: EvaluatedCaption[] = [
  { imageId: 'a', references: ['two red circles on the left', 'two large red circles', 'an image with two large red circles on a plain background'], hypothesis: 'two red circles on the left' },
  { imageId: 'b', references: ['a blue square at the top', 'one small blue square', 'an image with one small blue square on a striped background'], hypothesis: 'a green square at the top' },
  { imageId: 'c', references: ['a red star and a blue circle', 'a blue circle next to a red star', 'a large red star on the left and a small blue circle on the right'], hypothesis: 'a red star' },
  { imageId: 'd', references: ['three yellow hexagons in the center', 'three small yellow hexagons'], hypothesis: 'three yellow hexagons in the center' },
  { imageId: 'e', references: ['a black diamond at the bottom', 'one large black diamond'], hypothesis: 'a black triangle at the bottom' },
];

test('the overall scores are exactly evaluateCaptions on the same captions, per image CIDEr-D is ciderD\'s', () => {
  const report = buildEvaluationReport(items, { concepts });
  const gts = Object.fromEntries(items.map((i) => [i.imageId, i.references]));
  const res = Object.fromEntries(items.map((i) => [i.imageId, i.hypothesis]));
  assert.deepEqual(report.overall, evaluateCaptions(gts, res));
  const per = ciderD(tokenizeEvaluationSet(gts, res).samples).perImage;
  assert.deepEqual(Object.values(report.perImageCiderD), per);
  assert.equal(report.n, 5);
});

test('by concept: the images whose references name a value, and how often the caption named it', () => {
  const report = buildEvaluationReport(items, { concepts });
  assert.deepEqual(Object.keys(report.byConcept), ['colour', 'count', 'position', 'shape']);
  assert.equal(report.byConcept.colour!.red!.n, 2);
  assert.equal(report.byConcept.colour!.red!.named, 1);
  assert.equal(report.byConcept.colour!.blue!.named, 0, 'b said green, c left the blue circle out');
  assert.equal(report.byConcept.count!['2']!.n, 2, 'a (two circles) and c (a star and a circle)');
  assert.equal(report.byConcept.count!['2']!.named, 0.5, 'c counted one object');
  assert.equal(report.byConcept.shape!.diamond!.named, 0);
  const cider = report.perImageCiderD;
  assert.equal(report.byConcept.colour!.red!.ciderD, (cider.a! + cider.c!) / 2);
  assert.deepEqual(report.confusion.colour!.blue, { green: 1 });
  assert.deepEqual(report.confusion.shape!.diamond, { triangle: 1 });
  assert.deepEqual(report.confusion.colour!.red, { red: 1 }, 'image a; c has two colours, so it is not in the one-value confusion');
});

test('by length, samples and the worst captions', () => {
  const report = buildEvaluationReport(items, { concepts, listSize: 3 });
  assert.equal(Object.values(report.byLength).reduce((a, s) => a + s.n, 0), 5);
  assert.equal(report.samples.length, 3);
  assert.equal(report.worst.length, 3);
  const ciders = report.worst.map((w) => w.ciderD);
  assert.deepEqual(ciders, [...ciders].sort((a, b) => a - b));
  assert.ok(Math.max(...ciders) <= Math.min(...Object.values(report.perImageCiderD).filter((c) => !ciders.includes(c))));
  assert.ok(report.worst.every((w) => w.references.length > 0 && typeof w.hypothesis === 'string'));
});

test('scene concepts: colours, shapes, the object count and positions a caption names', () => {
  assert.deepEqual(sceneConcepts('an image with one large purple diamond and two small yellow circles on a gradient background'), {
    colour: ['purple', 'yellow'],
    shape: ['circle', 'diamond'],
    count: ['3'],
    position: [],
  });
  assert.deepEqual(sceneConcepts('three purple squares in the center').count, ['3']);
  assert.deepEqual(sceneConcepts('a plain background').count, []);
  assert.deepEqual(sceneImageConcepts(['two red circles', 'a red circle and a blue star on the left']).count, ['2']);
});
