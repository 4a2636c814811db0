import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCodes, PipelineError } from '../../../../schemas/errors.ts';
import { ImportStateFile, readImportState } from '../../../../services/import/state-file.ts';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'cf-import-state-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const header = { batchId: 'b1', format: 'coco', annotationsSha256: 'ab'.repeat(32) };
const entry = (id: string) => ({ id, eventId: `e-${id}`, imageId: `i-${id}`, at: 1 });

test('a new state file gets a header; recorded ids are known after reopening', async () => {
  const path = join(dir, 'new.jsonl');
  const s = await ImportStateFile.open(path, header);
  await Promise.all([s.record(entry('1')), s.record(entry('2')), s.record(entry('3'))]);
  await s.close();
  const reopened = await ImportStateFile.open(path, header);
  assert.ok(reopened.has('1') && reopened.has('3') && !reopened.has('4'));
  assert.equal(reopened.size, 3);
  await reopened.close();
  const contents = await readImportState(path);
  assert.equal(contents.header.batchId, 'b1');
  assert.deepEqual(contents.entries.map((e) => e.id).sort(), ['1', '2', '3']);
  assert.equal(contents.tornBytes, 0);
});

test('a torn last line (kill -9 mid-append) is ignored and cut off, so the next append starts on a clean line', async () => {
  const path = join(dir, 'torn.jsonl');
  const s = await ImportStateFile.open(path, header);
  await s.record(entry('1'));
  await s.close();
  appendFileSync(path, '{"id":"2","eventId":"e-');
  assert.equal((await readImportState(path)).tornBytes, '{"id":"2","eventId":"e-'.length);

  const resumed = await ImportStateFile.open(path, header);
  assert.ok(resumed.has('1'));
  assert.ok(!resumed.has('2'), 'the torn entry does not count as done');
  await resumed.record(entry('2'));
  await resumed.close();
  const contents = await readImportState(path);
  assert.deepEqual(
    contents.entries.map((e) => e.id),
    ['1', '2'],
  );
  assert.equal(contents.badLines, 0);
  assert.equal(contents.tornBytes, 0);
});

test('a state file of another batch, or a file that is not a state file, is refused and left untouched', async () => {
  const path = join(dir, 'batch.jsonl');
  await (await ImportStateFile.open(path, header)).close();
  await assert.rejects(
    ImportStateFile.open(path, { ...header, batchId: 'b2' }),
    (e: unknown) =>
      e instanceof PipelineError && e.code === ErrorCodes.CONFIG_INVALID && /batch b1/.test(e.message),
  );

  const precious = join(dir, 'notes.txt');
  writeFileSync(precious, 'my notes\nno trailing newline');
  await assert.rejects(
    ImportStateFile.open(precious, header),
    (e: unknown) => e instanceof PipelineError && e.code === ErrorCodes.CONFIG_INVALID,
  );
  assert.equal(readFileSync(precious, 'utf8'), 'my notes\nno trailing newline');
});
