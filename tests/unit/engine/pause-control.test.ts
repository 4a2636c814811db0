/** Pause control alone: reasons add up; the consumer is paused on the first and resumed after the last. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../../runtime/logger.ts';
import { Metrics } from '../../../runtime/metrics.ts';
import { PauseControl } from '../../../runtime/engine/pause-control.ts';

function consumer(): { calls: string[]; pause: () => void; resume: () => void } {
  const calls: string[] = [];
  return { calls, pause: () => void calls.push('pause'), resume: () => void calls.push('resume') };
}

async function pausedGauge(metrics: Metrics): Promise<number | undefined> {
  const line = (await metrics.text()).split('\n').find((l) => l.startsWith('captionflow_topology_paused{'));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

test('reasons add up: the consumer pauses on the first, resumes only when the last is withdrawn', async () => {
  const metrics = new Metrics();
  const pause = new PauseControl('t', silentLogger, metrics);
  const c = consumer();
  pause.attach(c);
  assert.deepEqual(pause.pausedFor, []);
  pause.pause('operator');
  pause.pause('sink-unavailable');
  pause.pause('operator'); // idempotent per reason
  assert.deepEqual(c.calls, ['pause']);
  assert.deepEqual([...pause.pausedFor].sort(), ['operator', 'sink-unavailable']);
  assert.equal(await pausedGauge(metrics), 1);

  pause.resume('operator');
  assert.deepEqual(c.calls, ['pause'], 'another reason still holds');
  assert.deepEqual(pause.pausedFor, ['sink-unavailable']);
  pause.resume('never-given');
  assert.deepEqual(c.calls, ['pause'], 'withdrawing a reason never given does nothing');
  pause.resume('sink-unavailable');
  assert.deepEqual(c.calls, ['pause', 'resume']);
  assert.deepEqual(pause.pausedFor, []);
  assert.equal(await pausedGauge(metrics), 0);
  pause.resume('sink-unavailable');
  assert.deepEqual(c.calls, ['pause', 'resume'], 'resumed once');

  pause.pause('dependency-unavailable');
  assert.deepEqual(c.calls, ['pause', 'resume', 'pause'], 'a new first reason pauses again');
});

test('a consumer attached after a pause starts paused; one attached while fetching is left alone', () => {
  const pause = new PauseControl('t', silentLogger, new Metrics());
  pause.pause('operator');
  const late = consumer();
  pause.attach(late);
  assert.deepEqual(late.calls, ['pause']);
  pause.resume('operator');
  assert.deepEqual(late.calls, ['pause', 'resume']);

  const fresh = consumer();
  new PauseControl('u', silentLogger, new Metrics()).attach(fresh);
  assert.deepEqual(fresh.calls, []);
});
