import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Topics, allTopics, topicByName } from '../../../schemas/topics.ts';
import type { TopicValue } from '../../../schemas/topics.ts';
import type { ImageIngested } from '../../../schemas/generated/types.ts';
import { sampleImageIngested } from './samples.ts';

test('the topic registry holds exactly the captionflow topics with TopicNameStrategy subjects', () => {
  assert.deepEqual(
    allTopics.map((t) => t.name),
    [
      'image.ingested',
      'capture.received',
      'image.normalized',
      'image.curated',
      'caption.generated',
      'model.registered',
      'model.promoted',
      'job.run',
      'dead-letter',
    ],
  );
  for (const t of allTopics) assert.equal(t.subject, `${t.name}-value`);
  assert.equal(topicByName('image.ingested'), Topics.imageIngested);
  assert.equal(topicByName('nope'), undefined);
});

test('each topic key field exists in its value schema and every topic documents key and headers', () => {
  for (const t of allTopics) {
    assert.ok(t.description.length > 20, t.name);
    assert.ok(t.key.description.length > 10, t.name);
    assert.ok(t.headers.length > 0, t.name);
    if (t.key.field !== null) {
      const fields = (t.schema as { fields: { name: string }[] }).fields.map((f) => f.name);
      assert.ok(fields.includes(t.key.field), `${t.name}: key field ${t.key.field}`);
    }
  }
});

test('a topic value type is the generated record type and the sample value is valid for the schema', () => {
  const value: TopicValue<typeof Topics.imageIngested> = sampleImageIngested();
  const typed: ImageIngested = value;
  assert.equal(Topics.imageIngested.recordName, 'io.captionflow.v1.ImageIngested');
  assert.equal(Topics.imageIngested.type.isValid(typed), true);
});
