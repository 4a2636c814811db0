import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The trainer's own Python suite (tokenizer, data, training, export parity), run under the project's runner. */
test('trainer pytest suite passes', { timeout: 15 * 60_000 }, () => {
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  const venv = spawnSync('bash', ['trainer/setup-venv.sh'], { cwd: root, encoding: 'utf8' });
  assert.equal(venv.status, 0, `setup-venv.sh failed: ${venv.stderr.slice(-2000)}`);
  const python = venv.stdout.trim().split('\n').pop()!;
  const run = spawnSync(python, ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', 'trainer'], { cwd: root, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  assert.equal(run.status, 0, `pytest failed:\n${run.stdout.slice(-4000)}\n${run.stderr.slice(-2000)}`);
  assert.match(run.stdout, /\d+ passed/);
});
