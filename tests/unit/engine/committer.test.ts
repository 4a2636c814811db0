/** The committer alone: what offset a batch commits, and the lag it reports. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Metrics } from '../../../runtime/metrics.ts';
import { Committer } from '../../../runtime/engine/committer.ts';
import { batchOf, control } from './fixtures/engine-parts.ts';

/** The consumer-lag gauge of topology `t`, as /metrics shows it. */
async function lagOf(metrics: Metrics, t: string): Promise<number | undefined> {
  const line = (await metrics.text())
    .split('\n')
    .find((l) => l.startsWith('captionflow_consumer_lag_records{') && l.includes(`topology="${t}"`));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

test('a batch commits the offset after its last record and sets the lag from its high watermark', async () => {
  const metrics = new Metrics();
  const committer = new Committer('orders', metrics);
  const ctl = control();
  // Offsets 5, 6, 7 of a partition whose end was 10 at fetch time: next is 8, lag 2.
  await committer.commit(batchOf(['a', 'b', 'c'], { from: 5, highWatermark: 10, partition: 1 }), ctl);
  assert.deepEqual(ctl.commits, ['8']);
  assert.equal(await lagOf(metrics, 'orders'), 2);
  // Lag is summed over partitions.
  await committer.commit(batchOf(['d'], { from: 0, highWatermark: 4, partition: 0 }), ctl);
  assert.deepEqual(ctl.commits, ['8', '1']);
  assert.equal(await lagOf(metrics, 'orders'), 5);
});

test('offsets past 2^53 are committed exactly', async () => {
  const ctl = control();
  const batch = batchOf(['a']);
  const big = {
    ...batch,
    records: [{ ...batch.records[0]!, offset: '9007199254740993' }],
    highWatermark: '9007199254740994',
  };
  await new Committer('big', new Metrics()).commit(big, ctl);
  assert.deepEqual(ctl.commits, ['9007199254740994']);
});

test('an empty batch commits nothing and leaves the lag alone', async () => {
  const metrics = new Metrics();
  const ctl = control();
  await new Committer('quiet', metrics).commit(
    { topic: 'in', partition: 0, records: [], highWatermark: '7' },
    ctl,
  );
  assert.deepEqual(ctl.commits, []);
  assert.equal(await lagOf(metrics, 'quiet'), undefined);
});
