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
      }),
    invalidWith(/images\[1\]\.id: duplicate image id 1/),
  );
  assert.throws(
    () =>
      parseCocoCaptions({
        images: [{ id: 1, file_name: 'a' }],
        annotations: [{ id: 1, image_id: 2, caption: 'x' }],
      }),
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
    () => parseKarpathySplit({ dataset: 'd', images: [img, { ...img, filename: 'b.jpg' }] }),
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
