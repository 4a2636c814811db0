import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Metrics } from '../../../runtime/metrics.ts';

test('step durations land in the right buckets with exact sum and count', async () => {
  const m = new Metrics();
  const labels = { topology: 't', step: 's', schema_id: '3', outcome: 'ok' };
  for (const v of [0.0004, 0.002, 0.002, 0.3, 40]) m.observe(labels, v);
  m.observe({ topology: 't', step: 'other' }, 0.02);
  const text = await m.text();
  const line = (le: string) => new RegExp(`captionflow_step_duration_seconds_bucket\\{le="${le}",topology="t",step="s",schema_id="3",model_version="",outcome="ok"\\} (\\d+)`).exec(text)?.[1];
  assert.equal(line('0.0005'), '1');
  assert.equal(line('0.001'), '1');
  assert.equal(line('0.005'), '3');
  assert.equal(line('0.5'), '4');
  assert.equal(line('30'), '4');
  assert.equal(line('\\+Inf'), '5');
  assert.match(text, /captionflow_step_duration_seconds_sum\{topology="t",step="s",schema_id="3",model_version="",outcome="ok"\} 40\.3044/);
  assert.match(text, /captionflow_step_duration_seconds_count\{topology="t",step="s",schema_id="3",model_version="",outcome="ok"\} 5/);
  assert.match(text, /captionflow_step_duration_seconds_count\{topology="t",step="other",schema_id="",model_version="",outcome=""\} 1/);
});

test('record counts are exact after any number of scrapes', async () => {
  const m = new Metrics();
  m.count({ topology: 't', step: 's', outcome: 'ok' }, 2);
  assert.equal(await m.recordCount({ topology: 't', outcome: 'ok' }), 2);
  m.count({ topology: 't', step: 's', outcome: 'ok' });
  await m.text();
  m.count({ topology: 't', step: 's', outcome: 'ok' });
  assert.equal(await m.recordCount({ topology: 't', step: 's' }), 4);
  assert.match(await m.text(), /captionflow_step_records_total\{topology="t",step="s",schema_id="",model_version="",outcome="ok"\} 4/);
});

test('a duration series shows at zero from its observer on, and a reset zeroes it without orphaning the observer', async () => {
  const m = new Metrics();
  const observe = m.observer({ topology: 't', step: 's' });
  const count = async () => /captionflow_step_duration_seconds_count\{topology="t",step="s",schema_id="",model_version="",outcome=""\} (\d+)/.exec(await m.text())?.[1];
  assert.equal(await count(), '0');
  observe(0.002);
  m.observe({ topology: 't', step: 's' }, 0.002);
  assert.equal(await count(), '2');
  m.registry.resetMetrics();
  assert.equal(await count(), '0');
  observe(0.002);
  assert.equal(await count(), '1');
});

test('step durations are in the registry JSON with TYPE histogram and escaped label values', async () => {
  const m = new Metrics();
  m.observe({ topology: 't', step: 'say "hi"\n' }, 0.002);
  const text = await m.text();
  assert.match(text, /# TYPE captionflow_step_duration_seconds histogram/);
  assert.match(text, /captionflow_step_duration_seconds_count\{topology="t",step="say \\"hi\\"\\n",schema_id="",model_version="",outcome=""\} 1/);
  const json = await m.registry.getMetricsAsJSON();
  const durations = json.find((x) => x.name === 'captionflow_step_duration_seconds');
  const sum = durations?.values.find((v) => (v as { metricName?: string }).metricName === 'captionflow_step_duration_seconds_sum');
  assert.equal(sum?.value, 0.002);
});

test('a duration that is not a finite number is refused', () => {
  const m = new Metrics();
  assert.throws(() => m.observe({ topology: 't', step: 's' }, Number.NaN), TypeError);
});
