import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { importDataset } from '../../../../services/import/importer.ts';
import { readImportState } from '../../../../services/import/state-file.ts';
import { makeDatasets, type DatasetFixture } from '../../../fixtures/datasets/make-datasets.ts';
import { openDurableDeps } from './kill-harness.ts';

const GOOD = 5;
const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));
let dir: string;
let fx: DatasetFixture;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cf-import-kill-'));
  fx = await makeDatasets(join(dir, 'data'), { count: GOOD, bad: false });
});
after(() => rmSync(dir, { recursive: true, force: true }));

test(
  'an import killed with SIGKILL between "event written" and "state recorded" is finished by a re-run: every image exactly once by event id',
  { timeout: 60_000 },
  async () => {
    const work = join(dir, 'work');
    const stateFile = join(dir, 'kill.state.jsonl');
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        fileURLToPath(new URL('./import-child.ts', import.meta.url)),
        fx.cocoAnnotations,
        fx.imagesDir,
        work,
        stateFile,
        '2',
      ],
      {
        cwd: repoRoot,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.once('exit', (_code, signal) => resolve(signal)),
    );
    const outcome = await new Promise<string>((resolve) => {
      let out = '';
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.includes('HANG') || out.includes('DONE')) resolve(out);
      });
      void exited.then(() => resolve(out));
    });
    assert.match(outcome, /HANG/, `the child reached the hang point (stderr: ${stderr})`);
    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');

    const killed = await readImportState(stateFile);
    assert.ok(killed.entries.length < GOOD, 'the killed run did not finish');

    const durable = await openDurableDeps(work);
    try {
      const before = await durable.events();
      assert.ok(before.length > killed.entries.length, 'an event reached the log without its state line');
      const rerun = await importDataset({
        format: 'coco',
        annotations: fx.cocoAnnotations,
        imagesDir: fx.imagesDir,
        deps: durable.deps,
        stateFile,
      });
      assert.equal(rerun.skipped, killed.entries.length);
      // Images stored before the kill but not yet recorded come back as already in the lake.
      assert.equal(rerun.skipped + rerun.imported + rerun.alreadyInLake, GOOD);
      assert.equal(rerun.failed.length, 0);

      const events = await durable.events();
      const ids = new Set(events.map((e) => e.eventId));
      assert.equal(ids.size, GOOD, 'one event id per image');
      assert.deepEqual(new Set(events.map((e) => e.externalId)), new Set(fx.images.map((i) => i.cocoId)));
      for (const e of events) assert.ok(await durable.deps.objects.exists(e.object.key));
      const state = await readImportState(stateFile);
      assert.deepEqual(
        state.entries.map((e) => e.id).sort(),
        fx.images.map((i) => i.cocoId).sort(),
        'every id once in the state file',
      );
      assert.deepEqual(new Set(state.entries.map((e) => e.eventId)), ids);
    } finally {
      await durable.close();
    }
  },
);
