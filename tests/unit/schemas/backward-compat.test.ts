/**
 * A schema edit must not break consumers: every .avsc of the working tree is checked against
 * its committed version at the base revision — `git merge-base HEAD origin/main` when there
 * is an origin/main, else HEAD (override with CF_SCHEMA_BASE_REF) — under the contract rule
 * (BACKWARD, and no removal of a default-less field). The failure names the field.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compareWithCommitted } from '../../../schemas/schema-history.ts';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

test('schema edits are compatible with the committed schemas', async (t) => {
  const report = compareWithCommitted({ repoRoot });
  if (report.base === undefined) {
    t.skip('not a git checkout with a commit: nothing to compare against');
    return;
  }
  const base = report.base.slice(0, 12);
  for (const result of report.results) {
    await t.test(result.file, (st) => {
      if (result.status === 'new') {
        st.skip(`new file: not in ${base}, nothing to be compatible with`);
        return;
      }
      assert.deepEqual(
        result.issues.map((i) => i.message),
        [],
        `${result.file} breaks consumers of the version at ${base}`,
      );
    });
  }
});

test('the history check names the field when a committed schema loses a default-less field', (t) => {
  const repo = mkdtempSync(join(tmpdir(), 'cf-schema-history-'));
  t.after(() => rmSync(repo, { recursive: true, force: true }));
  const git = (...args: string[]): string =>
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], {
      cwd: repo,
      encoding: 'utf8',
    });
  const dir = join(repo, 'avro');
  mkdirSync(dir);
  const ref = { type: 'record', name: 'Ref', namespace: 't', fields: [{ name: 'key', type: 'string' }] };
  const v1 = {
    type: 'record',
    name: 'Evt',
    namespace: 't',
    fields: [
      { name: 'id', type: 'string' },
      { name: 'size', type: 'long' },
      { name: 'ref', type: 't.Ref' },
    ],
  };
  writeFileSync(join(dir, 'ref.avsc'), JSON.stringify(ref));
  writeFileSync(join(dir, 'evt.avsc'), JSON.stringify(v1));
  git('init', '-q', '-b', 'main');
  git('add', '.');
  git('commit', '-q', '-m', 'v1');

  // Unchanged: checked, no issues.
  let report = compareWithCommitted({ repoRoot: repo, schemaDir: dir, baseRef: '' });
  assert.deepEqual(
    report.results.map((r) => [r.file, r.status === 'checked' ? r.issues.length : r.status]),
    [
      ['evt.avsc', 0],
      ['ref.avsc', 0],
    ],
  );

  // v2 drops `size` (no default) and changes the referenced Ref.key to int; adds a new file.
  writeFileSync(join(dir, 'evt.avsc'), JSON.stringify({ ...v1, fields: [v1.fields[0], v1.fields[2]] }));
  writeFileSync(join(dir, 'ref.avsc'), JSON.stringify({ ...ref, fields: [{ name: 'key', type: 'int' }] }));
  writeFileSync(
    join(dir, 'other.avsc'),
    JSON.stringify({ type: 'enum', name: 'O', namespace: 't', symbols: ['x'] }),
  );
  report = compareWithCommitted({ repoRoot: repo, schemaDir: dir, baseRef: '' });
  const byFile = new Map(report.results.map((r) => [r.file, r]));
  assert.equal(byFile.get('other.avsc')?.status, 'new');
  const evt = byFile.get('evt.avsc');
  assert.ok(evt?.status === 'checked');
  assert.deepEqual(
    evt.issues.map((i) => [i.kind, i.path]),
    [
      ['type-changed', 'Evt.ref.key'],
      ['field-removed-without-default', 'Evt.size'],
    ],
  );
});
