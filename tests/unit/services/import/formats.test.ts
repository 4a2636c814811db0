import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PipelineError } from '../../../../schemas/errors.ts';
import {
  decodeAnnotations,
  parseCocoCaptions,
  parseKarpathySplit,
} from '../../../../services/import/formats.ts';

const invalidWith = (pattern: RegExp) => (err: unknown) =>
  err instanceof PipelineError && err.code === 'IMPORT_ANNOTATIONS_INVALID' && pattern.test(err.message);

test('COCO: captions are grouped per image in file order; images without captions are kept; extra keys are ignored', () => {
  const ds = parseCocoCaptions({
    info: { year: 2014 },
    licenses: [],
    images: [
      { id: 9, file_name: 'train2014/a.jpg', width: 640, height: 480 },
      { id: 3, file_name: 'b.jpg' },
    ],
    annotations: [
      { id: 1, image_id: 9, caption: 'first' },
      { id: 2, image_id: 3, caption: 'only' },
      { id: 5, image_id: 9, caption: 'second' },
    ],
  });
  assert.equal(ds.count, 2);
  assert.deepEqual(
    [...ds.items()],
    [
      {
        externalId: '9',
        relativePath: 'train2014/a.jpg',
        captions: ['first', 'second'],
        attributes: { datasetFormat: 'coco', datasetImageId: '9', datasetPath: 'train2014/a.jpg' },
      },
      {
        externalId: '3',
        relativePath: 'b.jpg',
        captions: ['only'],
        attributes: { datasetFormat: 'coco', datasetImageId: '3', datasetPath: 'b.jpg' },
      },
    ],
  );
  assert.deepEqual(
    [...parseCocoCaptions({ images: [{ id: 1, file_name: 'x.png' }], annotations: [] }).items()][0]?.captions,
    [],
  );
});

test('COCO: validation errors name the JSON path of the problem', () => {
  assert.throws(
    () =>
      parseCocoCaptions(
        {
          images: [
            { id: 1, file_name: 'a.png' },
            { id: 2, file_name: 7 },
          ],
          annotations: [],
        },
        'caps.json',
      ),
    invalidWith(/^caps\.json: images\[1\]\.file_name: .*expected string/),
  );
  assert.throws(() => parseCocoCaptions({ images: [] }), invalidWith(/annotations: .*expected array/));
  assert.throws(
    () =>
      parseCocoCaptions({
        images: [
          { id: 1, file_name: 'a' },
          { id: 1, file_name: 'b' },
        ],
        annotations: [],
      }, 'annotations', { strict: true }),
    invalidWith(/images\[1\]\.id: duplicate image id 1/),
  );
  assert.throws(
    () =>
      parseCocoCaptions({
        images: [{ id: 1, file_name: 'a' }],
        annotations: [{ id: 1, image_id: 2, caption: 'x' }],
      }, 'annotations', { strict: true }),
    invalidWith(/annotations\[0\]\.image_id: no image has id 2/),
  );
  assert.throws(() => parseCocoCaptions([]), invalidWith(/\(root\): /));
});

test('Karpathy: the image path joins filepath and filename, the split is kept as datasetSplit, cocoid as cocoId', () => {
  const ds = parseKarpathySplit({
    dataset: 'coco',
    images: [
      {
        filepath: 'val2014',
        filename: 'COCO_val2014_000000391895.jpg',
        imgid: 0,
        split: 'test',
        cocoid: 391895,
        sentids: [0],
        sentences: [
          { raw: 'A man with a red helmet.', tokens: ['a', 'man'] },
          { raw: 'Second.', tokens: ['second'] },
        ],
      },
      {
        filename: '1000268201_693b08cb0e.jpg',
        imgid: 1,
        split: 'restval',
        sentences: [{ raw: 'A child.', tokens: ['a', 'child'] }],
      },
    ],
  });
  assert.equal(ds.name, 'coco');
  const [a, b] = [...ds.items()];
  assert.equal(a?.relativePath, 'val2014/COCO_val2014_000000391895.jpg');
  assert.deepEqual(a?.captions, ['A man with a red helmet.', 'Second.']);
  assert.equal(a?.split, 'test');
  assert.deepEqual(a?.attributes, {
    datasetFormat: 'karpathy',
    dataset: 'coco',
    datasetImageId: '0',
    datasetPath: 'val2014/COCO_val2014_000000391895.jpg',
    datasetSplit: 'test',
    cocoId: '391895',
  });
  assert.equal(b?.relativePath, '1000268201_693b08cb0e.jpg');
  assert.equal(b?.attributes.cocoId, undefined);
});

test('Karpathy: a ../ in filepath stays visible for the images-root check instead of being normalised away', () => {
  const [item] = [
    ...parseKarpathySplit({
      dataset: 'x',
      images: [{ filepath: '../..', filename: 'etc/passwd', imgid: 0, split: 'train', sentences: [] }],
    }).items(),
  ];
  assert.equal(item?.relativePath, '../../etc/passwd');
});

test('Karpathy: validation errors name the JSON path (bad split, missing raw, duplicate imgid, missing dataset)', () => {
  const img = { filename: 'a.jpg', imgid: 0, split: 'train', sentences: [{ raw: 'x', tokens: ['x'] }] };
  assert.throws(
    () => parseKarpathySplit({ dataset: 'd', images: [{ ...img, split: 'dev' }] }),
    invalidWith(/images\[0\]\.split: /),
  );
  assert.throws(
    () => parseKarpathySplit({ dataset: 'd', images: [{ ...img, sentences: [{ tokens: [] }] }] }),
    invalidWith(/images\[0\]\.sentences\[0\]\.raw: /),
  );
  assert.throws(
    () => parseKarpathySplit({ dataset: 'd', images: [img, { ...img, filename: 'b.jpg' }] }, 'annotations', { strict: true }),
    invalidWith(/images\[1\]\.imgid: duplicate imgid 0/),
  );
  assert.throws(() => parseKarpathySplit({ images: [img] }), invalidWith(/dataset: /));
});

test('decodeAnnotations: a BOM is accepted, non-JSON is refused with the file name', () => {
  assert.deepEqual(decodeAnnotations(Buffer.from('\ufeff{"a":1}')), { a: 1 });
  assert.throws(
    () => decodeAnnotations(Buffer.from('{"images": ['), 'f.json'),
    invalidWith(/^f\.json: not valid JSON/),
  );
});

test('broken annotations are skipped and reported by path, index and code; --strict refuses the file', () => {
  const coco = {
    images: [
      { id: 1, file_name: 'a.jpg' },
      { id: 2, file_name: 'b.jpg' },
      { id: 1, file_name: 'c.jpg' },
    ],
    annotations: [
      { id: 10, image_id: 1, caption: 'a red circle' },
      { id: 11, image_id: 7, caption: 'an orphan caption' },
      { id: 12, image_id: 2, caption: '   ' },
      { id: 13, image_id: 2, caption: 'a blue square' },
    ],
  };
  const ds = parseCocoCaptions(coco);
  assert.deepEqual(
    ds.problems.map((p) => [p.path, p.index, p.code]),
    [
      ['images[2].id', 2, 'IMPORT_DUPLICATE_IMAGE'],
      ['annotations[1].image_id', 1, 'IMPORT_UNKNOWN_IMAGE'],
      ['annotations[2].caption', 2, 'CAPTION_EMPTY'],
    ],
  );
  assert.deepEqual(
    [...ds.items()].map((i) => [i.relativePath, i.captions]),
    [
      ['a.jpg', ['a red circle']],
      ['b.jpg', ['a blue square']],
    ],
  );
  assert.equal(ds.count, 2);
  assert.throws(() => parseCocoCaptions(coco, 'c.json', { strict: true }), invalidWith(/images\[2\]\.id: duplicate.*annotations\[1\]\.image_id.*annotations\[2\]\.caption: the caption is empty/));

  const karpathy = {
    dataset: 'd',
    images: [
      { filename: 'a.jpg', imgid: 0, split: 'train', sentences: [{ raw: 'one' }, { raw: '' }] },
      { filename: 'b.jpg', imgid: 0, split: 'val', sentences: [{ raw: 'two' }] },
    ],
  };
  const k = parseKarpathySplit(karpathy);
  assert.deepEqual(
    k.problems.map((p) => [p.path, p.code]),
    [
      ['images[0].sentences[1].raw', 'CAPTION_EMPTY'],
      ['images[1].imgid', 'IMPORT_DUPLICATE_IMAGE'],
    ],
  );
  assert.deepEqual([...k.items()].map((i) => i.captions), [['one']]);
  assert.throws(() => parseKarpathySplit(karpathy, 'k.json', { strict: true }), invalidWith(/sentences\[1\]\.raw: the caption is empty/));
});

test('decodeAnnotations refuses bytes that are not UTF-8 instead of reading replacement characters', () => {
  const bytes = Buffer.concat([Buffer.from('{"images":[],"annotations":[{"id":1,"image_id":1,"caption":"caf'), Buffer.from([0xe9]), Buffer.from('"}]}')]);
  assert.throws(() => decodeAnnotations(bytes, 'latin1.json'), invalidWith(/latin1\.json: not valid UTF-8/));
});
