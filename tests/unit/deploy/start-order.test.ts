import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startAfterNeeds, withNeeds } from '../../../deploy/services/start-order.ts';

/**
 * `up` starts servers side by side, but Trino's start writes to the S3 server: on a cold start
 * (CI, nothing running) it must wait until S3 is healthy, and `up trino` must bring S3 up too.
 */
const NEEDS: Record<string, readonly string[]> = { kafka: [], s3: [], mongo: [], trino: ['s3', 'mongo'] };
const needsOf = (n: string): readonly string[] => NEEDS[n] ?? [];

test('asking for a server brings what it needs, needs first, each once', () => {
  assert.deepEqual(withNeeds(['trino'], needsOf), ['s3', 'mongo', 'trino']);
  assert.deepEqual(withNeeds(['kafka', 's3', 'trino'], needsOf), ['kafka', 's3', 'mongo', 'trino']);
  assert.throws(
    () => withNeeds(['a'], (n: string): string[] => (n === 'a' ? ['b'] : ['a'])),
    /cycle: a → b → a/,
  );
});

test('a server starts only after the servers it needs have finished starting; the others start at once', async () => {
  const events: string[] = [];
  const gates = new Map<string, () => void>();
  const started = startAfterNeeds(['kafka', 's3', 'mongo', 'trino'], needsOf, async (n) => {
    events.push(`begin ${n}`);
    await new Promise<void>((resolve) => gates.set(n, resolve));
    events.push(`end ${n}`);
  });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(events, ['begin kafka', 'begin s3', 'begin mongo'], 'trino waits');
  gates.get('s3')?.();
  await new Promise((r) => setImmediate(r));
  assert.ok(!events.includes('begin trino'), 'trino still waits for mongo');
  gates.get('mongo')?.();
  await new Promise((r) => setImmediate(r));
  assert.ok(events.includes('begin trino'));
  gates.get('trino')?.();
  gates.get('kafka')?.();
  await started;
  assert.ok(events.indexOf('end s3') < events.indexOf('begin trino'));
});

test('a need that fails keeps its dependents from starting and is the error reported; a need already running is not waited for', async () => {
  const begun: string[] = [];
  await assert.rejects(
    startAfterNeeds(
      ['kafka', 's3', 'trino'],
      (n) => (n === 'trino' ? ['s3'] : []),
      async (n) => {
        begun.push(n);
        if (n === 's3') throw new Error('s3 exited while starting');
        await Promise.resolve();
      },
    ),
    /s3 exited while starting/,
  );
  assert.deepEqual(begun.sort(), ['kafka', 's3']);

  const alone: string[] = [];
  await startAfterNeeds(['trino'], needsOf, async (n) => {
    alone.push(n);
    await Promise.resolve();
  });
  assert.deepEqual(alone, ['trino']);
});
