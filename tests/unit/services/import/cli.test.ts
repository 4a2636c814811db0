import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { CommanderError } from 'commander';
import { importCommand } from '../../../../services/import/cli.ts';
import { makeDatasets, type DatasetFixture } from '../../../fixtures/datasets/make-datasets.ts';
import { importHarness, type ImportHarness } from './import-harness.ts';

let dir: string;
let fx: DatasetFixture;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cf-import-cli-'));
  fx = await makeDatasets(join(dir, 'data'), { count: 3 });
});
after(() => rmSync(dir, { recursive: true, force: true }));

class Capture extends Writable {
  text = '';
  isTTY = false;
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

async function run(
  h: ImportHarness,
  args: string[],
  tty = false,
): Promise<{ code: number | undefined; stdout: string; stderr: string; closed: boolean }> {
  const stdout = new Capture();
  const stderr = new Capture();
  stderr.isTTY = tty;
  let code: number | undefined;
  let closed = false;
  const cmd = importCommand(
    () => Promise.resolve({ deps: h.deps, close: () => Promise.resolve(void (closed = true)) }),
    {
      stdout,
      stderr,
      isTTY: tty,
      progressIntervalMs: 60_000,
      setExitCode: (c) => void (code = c),
      handleSignals: false,
    },
  );
  cmd.exitOverride().configureOutput({ writeErr: (s) => stderr.write(s), writeOut: (s) => stdout.write(s) });
  await cmd.parseAsync(args, { from: 'user' });
  return { code, stdout: stdout.text, stderr: stderr.text, closed };
}

test('import with bad entries: text summary lists the failures, JSON progress on a non-TTY, exit code 1, deps closed', async () => {
  const h = await importHarness();
  try {
    const r = await run(h, [
      'coco',
      '--annotations',
      fx.cocoAnnotations,
      '--images',
      fx.imagesDir,
      '--concurrency',
      '2',
    ]);
    assert.equal(r.code, 1);
    assert.ok(r.closed);
    assert.match(r.stdout, /total 7, imported 3, already in the lake 0, skipped 0 \(state file\), failed 4/);
    assert.match(r.stdout, /missing\.png {2}FILE_NOT_FOUND/);
    assert.match(r.stdout, /\.\.\/escape\.png {2}PATH_OUTSIDE_ROOT/);
    const last = JSON.parse(r.stderr.trim().split('\n').at(-1)!) as Record<string, unknown>;
    assert.equal(last.msg, 'import progress');
    assert.equal(last.done, 7);
    assert.equal(last.total, 7);
    assert.equal((await h.events()).length, 3);
  } finally {
    await h.close();
  }
});

test('a clean import exits 0; --json prints the summary as JSON; --state makes the re-run skip everything', async () => {
  const h = await importHarness();
  const state = join(dir, 'cli.state.jsonl');
  try {
    const args = [
      'karpathy',
      '--annotations',
      fx.karpathyAnnotations,
      '--images',
      fx.imagesDir,
      '--limit',
      '3',
      '--state',
      state,
      '--batch-id',
      'cli-batch',
      '--json',
    ];
    const first = await run(h, args);
    assert.equal(first.code, 0);
    const summary = JSON.parse(first.stdout) as { imported: number; batchId: string; failed: unknown[] };
    assert.deepEqual(
      { imported: summary.imported, batchId: summary.batchId, failed: summary.failed.length },
      { imported: 3, batchId: 'cli-batch', failed: 0 },
    );
    const second = await run(h, args, true);
    assert.equal(second.code, 0);
    assert.deepEqual((JSON.parse(second.stdout) as { skipped: number; imported: number }).skipped, 3);
    assert.match(second.stderr, /import \|/, 'a progress bar is drawn on a terminal');
    assert.equal((await h.events()).length, 3);
  } finally {
    await h.close();
  }
});

test('bad arguments are refused by commander before any dependency is opened', async () => {
  let opened = false;
  const cmd = importCommand(
    () => {
      opened = true;
      return Promise.reject(new Error('should not open'));
    },
    { handleSignals: false },
  );
  cmd.exitOverride().configureOutput({ writeErr: () => undefined });
  await assert.rejects(
    cmd.parseAsync(['yolo', '--annotations', 'a', '--images', 'b'], { from: 'user' }),
    (e: unknown) => e instanceof CommanderError && /yolo/.test(e.message),
  );
  await assert.rejects(
    cmd.parseAsync(['coco', '--annotations', 'a'], { from: 'user' }),
    (e: unknown) => e instanceof CommanderError && /--images/.test(e.message),
  );
  await assert.rejects(
    cmd.parseAsync(['coco', '--annotations', 'a', '--images', 'b', '--concurrency', '0'], { from: 'user' }),
    (e: unknown) => e instanceof CommanderError && /integer >= 1/.test(e.message),
  );
  assert.equal(opened, false);
});
