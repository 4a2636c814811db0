import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kafkaClusterId } from '../../../deploy/services/kafka.ts';

test('Kafka cluster ids are 16 bytes of base64url that never start with "-" (read as an option by StorageTool)', () => {
  // One in 64 random ids starts with '-': 5000 draws make missing the guard all but impossible.
  for (let i = 0; i < 5000; i++) {
    const id = kafkaClusterId();
    assert.match(id, /^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
    assert.equal(Buffer.from(id, 'base64url').length, 16);
  }
});
