import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { describePipeline, pipelineMermaid, topicsOfPipeline } from '../../../runtime/engine/pipeline.ts';
import { walkNodes } from '../../../runtime/engine/topology.ts';
import { pipeline } from '../../../app/pipeline.ts';
import { allTopics } from '../../../schemas/topics.ts';

/**
 * The README shows the whole pipeline as the Mermaid graph `captionflow describe --mermaid`
 * prints; this test keeps the two equal. `UPDATE_SNAPSHOTS=1` rewrites the README's copy (never
 * in CI).
 */
const readme = new URL('../../../README.md', import.meta.url);
const BEGIN = '<!-- pipeline:begin -->';
const END = '<!-- pipeline:end -->';

test('the README embeds the pipeline graph as describe --mermaid prints it', () => {
  const text = readFileSync(readme, 'utf8');
  const start = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  assert.ok(start >= 0 && end > start, `README.md has the ${BEGIN} … ${END} markers`);
  const block = `${BEGIN}\n\`\`\`mermaid\n${pipelineMermaid(pipeline)}\n\`\`\`\n${END}`;
  const current = text.slice(start, end + END.length);
  if (current !== block && process.env.UPDATE_SNAPSHOTS === '1' && process.env.CI !== 'true') {
    writeFileSync(readme, text.slice(0, start) + block + text.slice(end + END.length));
    return;
  }
  assert.equal(current, block, 'README pipeline graph is stale: run with UPDATE_SNAPSHOTS=1');
});

test('the pipeline lists every topic of the contract, and every topology, effect and state store appears in both views', () => {
  const topics = topicsOfPipeline(pipeline);
  for (const t of allTopics) assert.ok(topics.has(t.name), `topic ${t.name} is in the pipeline`);
  const text = describePipeline(pipeline);
  const graph = pipelineMermaid(pipeline);
  for (const { topology } of pipeline.topologies) {
    assert.ok(text.includes(`Topology: ${topology.name}`), `${topology.name} in the text`);
    assert.ok(graph.includes(`topology: ${topology.name}`), `${topology.name} in the graph`);
    for (const { node } of walkNodes(topology.nodes)) {
      if (node.kind === 'effect') assert.ok(text.includes(`Effect: ${node.name} (writes ${node.target}`), `effect ${node.name} with its target in the text`);
    }
    for (const s of topology.stores) assert.ok(text.includes(`State store: ${s.name}`) && graph.includes(`state: ${s.name}`), `store ${s.name} in both views`);
  }
  for (const d of pipeline.doors) assert.ok(text.includes(`${d.name} (${d.kind}: ${d.at})`), `door ${d.name}`);
  for (const j of pipeline.jobs) assert.ok(text.includes(`${j.name} (${j.trigger})`) && graph.includes(`job: ${j.name}`), `job ${j.name}`);
});
