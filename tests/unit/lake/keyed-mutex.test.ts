import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { KeyedMutex } from '../../../runtime/catalog/keyed-mutex.ts';

describe('keyed mutex', () => {
  it('runs holders of one key one at a time, in order, and other keys alongside', async () => {
    const mutex = new KeyedMutex();
    const log: string[] = [];
    const job = (key: string, name: string, ms: number) =>
      mutex.run(key, async () => {
        log.push(`${name}+`);
        await sleep(ms);
        log.push(`${name}-`);
        return name;
      });
    const results = await Promise.all([job('a', 'a1', 20), job('a', 'a2', 1), job('b', 'b1', 5)]);
    assert.deepEqual(results, ['a1', 'a2', 'b1']);
    assert.deepEqual(log, ['a1+', 'b1+', 'b1-', 'a1-', 'a2+', 'a2-']);
  });

  it('releases the key when a holder throws', async () => {
    const mutex = new KeyedMutex();
    await assert.rejects(
      mutex.run('k', () => Promise.reject(new Error('boom'))),
      /boom/,
    );
    assert.equal(await mutex.run('k', () => Promise.resolve(42)), 42);
  });
});
